"""The engine's shortcuts decide whether a frame can be used as it is; a wrong "yes" would
silently mix cases, so each check is held to its plain, slow equivalent."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mining import _encoded, _kernels
from mining._encoded import _SPLIT, _hash_keys, _scan, _string_keys

# Case ids whose views rise, fall or do neither, short and long (a long one's view is not
# the string: the kernel must give up on it), sharing prefixes and lengths.
IDS = ["c1", "c2", "c10", "c9", "case-0001", "case-0002", "case-00010", "zz", "", "ü", "C" * 13]


def keys_of(ids: list[str]) -> tuple[np.ndarray | None, np.ndarray]:
    series = pl.Series(ids, dtype=pl.String)
    return _string_keys(series), _hash_keys(series)


def definition(ids: list[str], end: list[int], seq: list[int]) -> bool:
    """Grouped (no id starts two runs) and in ``(end, seq)`` order within each run."""
    runs = [ids[i] for i in range(len(ids)) if i == 0 or ids[i] != ids[i - 1]]
    ordered = all(
        (end[i], seq[i]) >= (end[i - 1], seq[i - 1])
        for i in range(1, len(ids))
        if ids[i] == ids[i - 1]
    )
    return len(set(runs)) == len(runs) and ordered


def heads_of(ids: list[str]) -> list[int]:
    return [i for i in range(len(ids)) if i == 0 or ids[i] != ids[i - 1]] + [len(ids)]


rows = st.lists(st.tuples(st.sampled_from(IDS), st.integers(0, 3), st.integers(0, 3)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(rows, st.booleans(), st.sampled_from([_SPLIT, 2, 5]))
def test_scan_cases_agrees_with_its_definition(rows: list, sorted_runs: bool, split: int) -> None:
    """In one piece and as two halves (``split``: from how many rows) joined."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(_encoded, "_SPLIT", split)
        check(rows, sorted_runs)


def check(rows: list, sorted_runs: bool) -> None:
    if sorted_runs:  # grouped and ordered more often than chance would make them
        rows = sorted(rows)
    ids = [r[0] for r in rows]
    end = np.array([r[1] for r in rows], dtype=np.int64)
    seq = np.array([r[2] for r in rows], dtype=np.int64)
    expected = definition(ids, end.tolist(), seq.tolist())
    views, hashes = keys_of(ids)
    assert views is not None
    status, bounds = _scan(views, end, seq, True)
    if any(len(i.encode()) > 12 for i in ids):
        assert status in (_kernels.LONG, _kernels.NO)  # may stop at a disorder first
    else:
        assert status == (_kernels.OK if expected else _kernels.NO)
        if expected:
            assert bounds.tolist() == heads_of(ids)
    status, bounds = _scan(hashes, end, seq, True)
    assert status == (_kernels.OK if expected else _kernels.NO)
    if expected:
        assert bounds.tolist() == heads_of(ids)


def test_seq_is_read_on_ties_only_when_asked() -> None:
    """The caller says ``seq`` ascends (a frame's row numbers): ties are then in order."""
    views, _ = keys_of(["a", "a", "b"])
    end = np.array([5, 5, 1], dtype=np.int64)
    seq = np.array([1, 0, 2], dtype=np.int64)
    assert _scan(views, end, seq, True)[0] == _kernels.NO
    assert _scan(views, end, seq, False)[0] == _kernels.OK


def scan(ids: list[str], end: list[int] | None = None) -> int:
    views, hashes = keys_of(ids)
    assert views is not None
    ends = np.zeros(len(ids), dtype=np.int64) if end is None else np.array(end, dtype=np.int64)
    status, bounds = _scan(views, ends, ends, False)
    assert status == _scan(hashes, ends, ends, False)[0]
    if status == _kernels.OK:
        assert bounds.tolist() == heads_of(ids)
    return int(status)


def test_rising_falling_and_unordered_heads_at_scale() -> None:
    """Sorted ids are distinct by their order alone; others go through the table, which must
    still find a single case seen twice among 300k."""
    ids = [f"C{i:08d}" for i in range(300_000)]
    assert scan(ids) == _kernels.OK
    assert scan(ids[::-1]) == _kernels.OK
    assert scan([*ids, ids[0]]) == _kernels.NO  # rising, then back to the first case
    shuffled = [ids[i] for i in np.random.default_rng(3).permutation(len(ids))]
    assert scan(shuffled) == _kernels.OK
    assert scan([*shuffled[:250_000], shuffled[17], *shuffled[250_000:]]) == _kernels.NO


def test_numbered_ids_of_several_lengths_rise() -> None:
    """``case-9`` then ``case-10``: a view orders by length before the bytes after the fourth,
    so ids numbered without padding still rise (and need no table)."""
    assert scan([f"case-{i}" for i in range(2_000)]) == _kernels.OK
    assert scan([f"case-{i}" for i in [*range(2_000), 5]]) == _kernels.NO


def test_halves_joined_where_a_case_runs_across() -> None:
    """Past ``_SPLIT`` rows two halves are scanned on two threads: a case crossing the middle
    is one case, an end going back right at the middle is seen, the run keys' order is
    checked across the join, and a case of the first half seen again in the second is."""
    n = 2 * _SPLIT + 2
    half = n // 2
    ids = [f"C{i // 4:08d}" for i in range(n)]
    assert ids[half - 1] == ids[half] != ids[half - 2]  # a case runs across the middle
    assert scan(ids) == _kernels.OK
    end = list(range(n))
    end[half] = end[half - 1] - 1
    assert scan(ids, end) == _kernels.NO
    end[half] = end[half - 1]
    assert scan(ids, end) == _kernels.OK
    assert scan(ids[::-1]) == _kernels.OK  # falling
    cut = 4 * (half // 4 + 100)  # the second half's cases first: neither rising nor falling
    assert scan(ids[cut:] + ids[:cut]) == _kernels.OK
    assert scan([*ids[:-4], *ids[:4]]) == _kernels.NO  # the first case again at the end
    mixed = [f"C{(i // 4) * 7919 % 100003:08d}" for i in range(n)]  # neither: the table
    assert scan(mixed) == _kernels.OK
    assert scan([*mixed[:-1], mixed[0]]) == _kernels.NO
