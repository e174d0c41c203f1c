"""The engine's shortcuts decide whether a frame can be used as it is; a wrong "yes" would
silently mix cases, so each check is held to its plain, slow equivalent."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mining._encoded import _all_distinct, _grouped_and_ordered, _heads

# Values crowd a few low-bit slots (the table has at least 2**12), so slot collisions,
# true duplicates and both at once all occur.
crowded = st.lists(
    st.tuples(st.integers(0, 40), st.sampled_from([0, 1, 4095, 4096, 1 << 20])),
    max_size=300,
).map(lambda pairs: np.array([(hi << 22) | lo for hi, lo in pairs], dtype=np.int64))


@settings(max_examples=300, deadline=None)
@given(crowded)
def test_all_distinct_agrees_with_a_sort(values: np.ndarray) -> None:
    expected = len(np.unique(values)) == len(values)
    assert _all_distinct(values.view(np.uint64)) == expected


def test_all_distinct_at_scale_finds_one_repeat() -> None:
    values = np.random.default_rng(3).integers(-(2**62), 2**62, 300_000, dtype=np.int64)
    assert _all_distinct(values.view(np.uint64))
    values[250_000] = values[17]
    assert not _all_distinct(values.view(np.uint64))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 3)), min_size=1, max_size=40))
def test_grouped_and_ordered_agrees_with_its_definition(rows: list[tuple[int, int]]) -> None:
    case = np.array([c for c, _ in rows], dtype=np.uint64)
    end = np.array([e for _, e in rows], dtype=np.int64)
    seq = np.arange(len(rows), dtype=np.int64)
    head_rows = np.flatnonzero(_heads(case))
    runs = [int(case[i]) for i in head_rows]
    contiguous = len(set(runs)) == len(runs)
    ordered = all(end[i] >= end[i - 1] for i in range(1, len(rows)) if case[i] == case[i - 1])
    assert _grouped_and_ordered(case, head_rows, end, seq, True) == (contiguous and ordered)
