"""The compiled kernels and the string-view keys they read.

A key compared wrongly would silently merge or split cases and activities, so every path
(views of short strings, the hash fallback for long ones, nulls, several chunks) is held to
plain Python, Polars or pm4py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mining import EventLog, _encoded

REPO = Path(__file__).resolve().parents[2]

# Short and long (over 12 bytes), ASCII and multi-byte (12 bytes exactly: "éééééé"),
# empty, sharing prefixes and lengths.
LABELS = [
    "a",
    "b",
    "Activity 07",
    "Activity 070",
    "Activity 0700",
    "Activity 07000",
    "",
    "éééééé",
    "éééééééé",
    "审批",
    "Prüfung",
    "x" * 12,
    "x" * 13,
]


def first_appearance(values: list[str | None]) -> tuple[list[int], list[str]]:
    labels: dict[str, int] = {}
    codes = [labels.setdefault("" if v is None else v, len(labels)) for v in values]
    return codes, list(labels)


def test_a_view_is_the_string_for_up_to_12_bytes() -> None:
    """Equal strings have equal views however Polars built them (the Arrow format pads
    inline strings with zeros), and different ones differ."""
    words = ["Activity 07", "éééééé", "a", "", "C00000123"]
    base = pl.Series(words * 3, dtype=pl.String)
    built = {
        "list": base,
        "slice": base.slice(2, 10),
        "gather": base.gather([4, 0, 3, 2, 1]),
        "concat": pl.concat([base.slice(0, 4), base.slice(7, 5)], rechunk=True),
        "categorical": base.cast(pl.Categorical).cast(pl.String),
        "str ops": (base + "zz").str.slice(0, None).str.strip_suffix("zz"),
        "filled": pl.Series([None, *words]).fill_null("a"),
        "replaced": base.str.replace_all("7", "7"),
    }
    for how, series in built.items():
        keys = _encoded._string_keys(series)
        assert keys is not None, how
        values = series.to_list()
        for i in range(len(values)):
            for j in range(len(values)):
                same = bool((keys[i] == keys[j]).all())
                assert same == (values[i] == values[j]), (how, values[i], values[j])


def test_no_views_for_nulls_or_other_types() -> None:
    assert _encoded._string_keys(pl.Series(["a", None])) is None
    assert _encoded._string_keys(pl.Series([], dtype=pl.String)).shape == (0, 2)


def test_several_chunks_are_joined() -> None:
    series = pl.concat([pl.Series(["a", "b"]), pl.Series(["b", "c", "a"])], rechunk=False)
    assert series.n_chunks() == 2
    keys = _encoded._string_keys(series)
    assert keys is not None and keys.shape == (5, 2)
    codes, labels = _encoded._codes(series)
    assert (codes.tolist(), list(labels)) == first_appearance(series.to_list())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(LABELS), st.none()), max_size=60), st.integers(0, 3))
def test_codes_number_labels_in_order_of_first_appearance(
    values: list[str | None], chunks: int
) -> None:
    """In one piece and as two halves (the second renumbered into the first's codes)."""
    parts = [values[i::chunks] for i in range(chunks)] if chunks > 1 else [values]
    ordered = [v for part in parts for v in part]
    series = pl.concat([pl.Series(p, dtype=pl.String) for p in parts], rechunk=False)
    for split in (_encoded._SPLIT, 2):
        with pytest.MonkeyPatch.context() as m:
            m.setattr(_encoded, "_SPLIT", split)
            codes, labels = _encoded._codes(series)
        assert (codes.tolist(), list(labels)) == first_appearance(ordered)


def test_codes_past_the_first_table() -> None:
    """More distinct labels than the first table holds: it starts again, larger."""
    values = [f"L{i % 5000}" for i in range(20_000)] + ["long label number " + "9" * 20]
    codes, labels = _encoded._codes(pl.Series(values))
    assert (codes.tolist(), list(labels)) == first_appearance(values)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(LABELS), min_size=1, max_size=60),
    st.lists(st.integers(0, 59), max_size=30),
)
def test_count_at_rows_agrees_with_a_counter(values: list[str], picks: list[int]) -> None:
    rows = np.array([p % len(values) for p in picks], dtype=np.int64)
    series = pl.Series(values, dtype=pl.String)
    keys = _encoded._string_keys(series)
    assert keys is not None
    counted = _encoded._count_keys(keys, rows)
    with pytest.MonkeyPatch.context() as m:  # as two halves, merged
        m.setattr(_encoded, "_SPLIT", 2)
        halves = _encoded._count_keys(keys, rows)
    if counted is None or halves is None:
        assert counted is None and halves is None
    else:
        assert [a.tolist() for a in counted] == [a.tolist() for a in halves]
    want = Counter(values[r] for r in rows)
    if counted is None:  # a long label among the rows: the caller hashes instead
        assert any(len(values[r].encode()) > 12 for r in rows)
        return
    firsts, counts = counted
    assert {values[f]: int(c) for f, c in zip(firsts, counts, strict=True)} == want
    assert [values[f] for f in firsts] == list(dict.fromkeys(values[r] for r in rows))


# --- per-group statistics ------------------------------------------------------------

groups = st.lists(
    st.tuples(
        st.sampled_from([0, 1, 2, 7, 40, 1 << 20, (1 << 40) + 3]),
        st.one_of(st.integers(-(10**12), 10**12), st.sampled_from([0, 60_000_000, -1, 1])),
    ),
    min_size=1,
    max_size=200,
)


@settings(max_examples=300, deadline=None)
@given(groups, st.booleans(), st.sampled_from([_encoded._SPLIT, 2, 7]))
def test_group_stats_agree_with_polars(
    pairs: list[tuple[int, int]], two_columns: bool, split: int
) -> None:
    """Count, total, min, max exact; median, p95 (linear) and stdev to float rounding; keys
    spread wider than the rows (coded first), repeated values, and the passes run as two
    halves (``split``: from how many rows) included."""
    keys = np.array([k for k, _ in pairs], dtype=np.int64)
    values = np.array([v for _, v in pairs], dtype=np.int64)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(_encoded, "_SPLIT", split)
        if two_columns:  # later - earlier, never materialised by the kernel
            earlier = np.arange(len(values), dtype=np.int64) * 7
            got_keys, got = _encoded._group_stats(keys, values + earlier, earlier=earlier)
        else:
            got_keys, got = _encoded._group_stats(keys, values)
    v = pl.col("v")
    want = (
        pl.DataFrame({"k": keys, "v": values})
        .group_by("k")
        .agg(
            pl.len().alias("count"),
            v.sum().alias("total"),
            v.min().alias("min"),
            v.max().alias("max"),
            v.median().alias("median"),
            v.quantile(0.95, "linear").alias("p95"),
            v.std().alias("stdev"),
        )
        .sort("k")
    )
    assert got_keys.tolist() == want["k"].to_list()
    assert got["count"].tolist() == want["count"].to_list()
    for ours, theirs in [
        ("total_s", "total"),
        ("min_s", "min"),
        ("max_s", "max"),
        ("median_s", "median"),
        ("p95_s", "p95"),
    ]:
        expected = want[theirs].cast(pl.Float64).to_numpy() / 1e6
        np.testing.assert_allclose(np.asarray(got[ours]), expected, rtol=1e-12, atol=1e-9)
    stdev = got["stdev_s"]
    assert isinstance(stdev, pl.Series)
    assert stdev.is_null().to_list() == want["stdev"].is_null().to_list()
    np.testing.assert_allclose(
        stdev.fill_null(0).to_numpy(),
        want["stdev"].fill_null(0).to_numpy() / 1e6,
        rtol=1e-9,
        atol=1e-9,
    )


def test_group_stats_on_a_crowded_group() -> None:
    """Most values in one histogram bucket (one huge outlier): selected from whole."""
    values = np.r_[np.zeros(50_000, np.int64), np.arange(1000), 10**15]
    keys = np.zeros(len(values), dtype=np.int64)
    _, got = _encoded._group_stats(keys, values)
    assert float(got["median_s"][0]) == float(np.median(values)) / 1e6
    assert float(got["p95_s"][0]) == float(np.quantile(values, 0.95)) / 1e6


# --- whole logs: the view path against the hash path and pm4py -----------------------

BASE = datetime(2026, 3, 2, 8)


def log_frame(rows: list[tuple[str | None, str | None, int, int]]) -> pl.DataFrame:
    """pm4py's columns from ``(case, activity, completion minute, seq)`` rows, in row order."""
    return pl.DataFrame(
        {
            "case:concept:name": [r[0] for r in rows],
            "concept:name": [r[1] for r in rows],
            "time:timestamp": [BASE + timedelta(minutes=r[2]) for r in rows],
            "seq": [r[3] for r in rows],
        },
        schema={
            "case:concept:name": pl.String,
            "concept:name": pl.String,
            "time:timestamp": pl.Datetime("us"),
            "seq": pl.Int64,
        },
    )


FIGURES = ("start_activities", "end_activities", "variants", "case_durations", "dfg")


def figures(frame: pl.DataFrame) -> dict[str, list]:
    log = EventLog.open(frame)
    out = {name: getattr(log, name)().rows() for name in FIGURES}
    out["service_times"] = EventLog.open(frame).service_times().rows()
    out["case_durations"] = sorted(out["case_durations"], key=repr)
    return out


def hashed(monkeypatch: pytest.MonkeyPatch, frame: pl.DataFrame) -> dict[str, list]:
    """The same figures with every key a 64-bit hash (the fallback path)."""
    with monkeypatch.context() as m:
        m.setattr(_encoded, "_string_keys", lambda values: None)
        return figures(frame)


CASES = ["c1", "c2", "case number 3 of many", "ü-4", "C" * 12]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(CASES),
            st.sampled_from(LABELS),
            st.integers(0, 4),
            st.integers(0, 9),
        ),
        min_size=1,
        max_size=30,
    ),
    st.booleans(),
)
def test_views_and_hashes_give_the_same_figures(rows: list, group: bool) -> None:
    """Long and short ids and labels mixed, cases seen again later (not grouped), ties in
    completion with ``seq`` not ascending: both paths agree."""
    if group:
        rows = sorted(rows, key=lambda r: (r[0], r[2]))
    frame = log_frame(rows)
    with pytest.MonkeyPatch.context() as m:
        assert figures(frame) == hashed(m, frame)


def test_a_case_seen_again_later_is_one_case(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = log_frame([("c1", "a", 0, 0), ("c2", "b", 1, 1), ("c1", "c", 2, 2)])
    got = figures(frame)
    assert got["variants"][0][:3] == ("a,c", ["a", "c"], 1)
    assert sorted(got["start_activities"]) == [("a", 1), ("b", 1)]
    assert sorted(got["end_activities"]) == [("b", 1), ("c", 1)]
    assert got == hashed(monkeypatch, frame)


def test_ties_in_completion_follow_seq_not_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows in order of completion, but on a tie ``seq`` says the later row came first."""
    frame = log_frame([("c1", "a", 0, 0), ("c1", "b", 5, 9), ("c1", "c", 5, 3)])
    got = figures(frame)
    assert got["variants"][0][1] == ["a", "c", "b"]
    assert got["end_activities"] == [("b", 1)]
    assert got == hashed(monkeypatch, frame)


def test_nulls_in_ids_and_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = log_frame([("c1", None, 0, 0), ("c1", "a", 1, 1), (None, "b", 2, 2)])
    assert figures(frame) == hashed(monkeypatch, frame)


def test_long_and_short_labels_against_pm4py() -> None:
    pm4py = pytest.importorskip("pm4py")
    rows = [
        (case, LABELS[(i * 7 + j) % len(LABELS)], 10 * i + j, 0)
        for i, case in enumerate(CASES * 3)
        for j in range(1 + i % 4)
    ]
    frame = log_frame(rows).drop("seq")
    log = EventLog.open(frame)
    pandas = pm4py.format_dataframe(
        frame.to_pandas(),
        case_id="case:concept:name",
        activity_key="concept:name",
        timestamp_key="time:timestamp",
    )
    assert dict(log.start_activities().rows()) == dict(pm4py.get_start_activities(pandas))
    assert dict(log.end_activities().rows()) == dict(pm4py.get_end_activities(pandas))
    variants = {tuple(a): n for _, a, n, _ in log.variants().rows()}
    assert variants == {tuple(k): v for k, v in pm4py.get_variants(pandas).items()}


# --- compilation -----------------------------------------------------------------------


def test_kernels_work_without_any_writable_cache(tmp_path: Path) -> None:
    """A read-only install (no ``__pycache__`` to write, no user cache): the kernels are
    compiled in the process instead of failing, and the engine gives its usual answer."""
    script = textwrap.dedent(
        """
        import numba.core.caching as caching

        def refuse(self):
            raise OSError("read-only")

        caching._CacheLocator.ensure_cache_path = refuse
        import polars as pl
        from mining import EventLog, _kernels

        assert _kernels.scan_cases._cache.__class__.__name__ == "NullCache"
        frame = pl.DataFrame({"case:concept:name": ["c1", "c1", "c2"],
                              "concept:name": ["a", "b", "a"],
                              "time:timestamp": [1, 2, 3]}).with_columns(
            pl.col("time:timestamp").cast(pl.Datetime("us")))
        print(EventLog.open(frame).start_activities().rows())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "NUMBA_CACHE_DIR": str(tmp_path / "none")}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[('a', 2)]"


def test_numba_is_not_imported_with_the_package() -> None:
    """``baton --help`` and the collector import ``mining`` without mining anything."""
    script = "import sys, mining, mining.eventlog, baton.cli; print('numba' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_counts_past_the_split_agree_with_a_counter() -> None:
    """Many rows are counted as two halves on two threads, then merged in first-seen order."""
    short = [label for label in LABELS if len(label.encode()) <= 12]
    values = [short[(i * i) % len(short)] for i in range(3 * _encoded._SPLIT)]
    keys = _encoded._string_keys(pl.Series(values))
    assert keys is not None
    rows = np.arange(0, len(values), 2, dtype=np.int64)
    counted = _encoded._count_keys(keys, rows)
    assert counted is not None
    firsts, counts = counted
    want = Counter(values[r] for r in rows)
    assert [values[f] for f in firsts] == list(dict.fromkeys(values[r] for r in rows))
    assert {values[f]: int(c) for f, c in zip(firsts, counts, strict=True)} == want


def test_a_forked_child_has_its_own_second_thread() -> None:
    """A child forked after the engine ran inherits its thread pool without the thread."""
    n = 2 * _encoded._SPLIT + 10
    frame = log_frame([(f"c{i // 5:06d}", LABELS[i % 3], i, i) for i in range(n)])
    expected = EventLog.open(frame).start_activities().rows()
    pid = os.fork()
    if pid == 0:  # the child: exit code only, never back into pytest
        try:
            os._exit(0 if EventLog.open(frame).start_activities().rows() == expected else 1)
        except BaseException:
            os._exit(2)
    for _ in range(600):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.1)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError("the forked child hung waiting for its parent's thread")
