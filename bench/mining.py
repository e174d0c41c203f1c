"""Mining: the figures pm4py also computes, Baton against pm4py's pandas and Polars paths.

For each size (default 1M and 5M events) a log is generated with NumPy: 30 activities from a
process-like Markov chain (a main path taken 90 % of the time, so variants repeat), cases of
5-30 events, completion times increasing within a case (whole minutes, so some tie), each
instance's ``start_timestamp`` before its completion and after the previous one; rows grouped
by case in completion order, as ``pm4py.read_xes`` produces them. At 1M a shuffled copy is
timed too (pm4py then needs ``format_dataframe`` first for the figures that read row order;
that call is timed with them).

Each side runs in its own subprocess on the same generated data, so peak memory is that
process's ``ru_maxrss`` (resident set, including the generated frame; the RSS right after
generation is printed as the baseline):

- ``pm4py pandas``: pm4py 2.7 on a pandas frame (the reference);
- ``pm4py polars``: the same functions on a Polars ``LazyFrame`` (pm4py's faster path; it
  truncates durations to whole seconds);
- ``baton``: ``EventLog.open(frame).<figure>()`` on the Polars frame, open included;
- ``baton store``: the same figures from a DuckDB file holding the events (one ``started`` and
  one ``completed`` row per instance), ``EventLog.open(path)`` included; timed separately, at
  ``--store-sizes`` only and with at most two runs (it is the SQL path, minutes per round).

Each figure is called once untimed (imports, caches), then timed ``--runs`` times; medians
are printed. Baton's ``service_times`` has mean, median, min, max and total, so pm4py's side
is the five ``get_service_time`` calls that give the same; pm4py's single mean-only call is
printed under the table. Baton's results are checked against pm4py's pandas path (counts
equal, durations within 1 ms) and the ratio to pm4py's faster path is printed per figure.

    .venv/bin/python bench/mining.py [--sizes 1000000,5000000] [--runs 5,3] [--no-shuffled]
        [--store-sizes 1000000]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# This file is called mining.py: keep its folder off the path so ``mining`` is the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))
FIGURES = (
    "dfg",
    "performance_dfg",
    "variants",
    "case_durations",
    "start_activities",
    "end_activities",
    "rework",
    "service_times",
)
STORE_RUNS = 2  # the store's SQL path is slow to repeat; its median is of at most two runs
SIDES = ("pm4py pandas", "pm4py polars", "baton", "baton store")
SERVICE_AGGREGATES = ("mean", "median", "min", "max", "sum")
CASE, ACT, TS, START = "case:concept:name", "concept:name", "time:timestamp", "start_timestamp"
ACTIVITIES = 30
TOLERANCE_S = 1e-3
EPOCH_2026_US = 1_767_225_600_000_000


# --- the generated log ---------------------------------------------------------------


def generate(events: int, *, seed: int = 7) -> dict[str, np.ndarray]:
    """Columns of a log of ``events`` instances, grouped by case, in completion order."""
    rng = np.random.default_rng(seed)
    main = (np.arange(ACTIVITIES) + 1) % ACTIVITIES
    successors = np.stack(
        [main, rng.integers(0, ACTIVITIES, ACTIVITIES), rng.integers(0, ACTIVITIES, ACTIVITIES)],
        axis=1,
    )
    cumulative = np.array([0.9, 0.97, 1.0])
    lengths = rng.integers(5, 31, size=events // 5 + 1)
    ends = np.cumsum(lengths)
    cases = int(np.searchsorted(ends, events)) + 1
    lengths = lengths[:cases]
    lengths[-1] -= int(ends[cases - 1]) - events
    longest = int(lengths.max())
    steps = np.empty((cases, longest), dtype=np.int16)
    state = rng.integers(0, 3, cases)
    for j in range(longest):
        steps[:, j] = state
        choice = np.searchsorted(cumulative, rng.random(cases), side="right")
        state = successors[state, np.minimum(choice, 2)]
    present = np.arange(longest) < lengths[:, None]
    act = steps[present]
    case = np.repeat(np.arange(cases), lengths)
    # Gaps between completions in whole minutes (some zero: ties), from a case start in 2026.
    gaps = np.round(rng.exponential(45.0, events)).astype(np.int64) * 60_000_000
    heads = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    gaps[heads] = 0
    case_start = EPOCH_2026_US + rng.integers(0, 365 * 86_400_000_000, cases)
    offsets = np.cumsum(gaps)
    offsets -= np.repeat(offsets[heads], lengths)
    end = case_start[case] + offsets
    # Service takes part of the gap since the previous completion (of a whole draw for a
    # case's first instance), so an instance starts after its predecessor completed.
    room = gaps.copy()
    room[heads] = np.round(rng.exponential(45.0, cases)).astype(np.int64) * 60_000_000
    start = end - (rng.uniform(0.05, 0.6, events) * room).astype(np.int64)
    return {"case": case, "act": act, "start": start, "end": end}


def _labels(cols: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    cases = int(cols["case"].max()) + 1
    case_names = np.array([f"C{i:08d}" for i in range(cases)], dtype=object)
    act_names = np.array([f"Activity {i:02d}" for i in range(ACTIVITIES)], dtype=object)
    return case_names[cols["case"]], act_names[cols["act"]]


def pandas_frame(cols: dict[str, np.ndarray]) -> Any:
    import pandas as pd

    case, act = _labels(cols)
    return pd.DataFrame(
        {
            CASE: case,
            ACT: act,
            TS: pd.to_datetime(cols["end"], unit="us", utc=True),
            START: pd.to_datetime(cols["start"], unit="us", utc=True),
        }
    )


def polars_frame(cols: dict[str, np.ndarray]) -> Any:
    import polars as pl

    case, act = _labels(cols)
    utc = pl.Datetime("us", "UTC")
    return pl.DataFrame(
        {
            CASE: pl.Series(case, dtype=pl.String),
            ACT: pl.Series(act, dtype=pl.String),
            TS: pl.Series(cols["end"]).cast(utc),
            START: pl.Series(cols["start"]).cast(utc),
        }
    )


def shuffled(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    order = np.random.default_rng(11).permutation(len(cols["act"]))
    return {k: v[order] for k, v in cols.items()}


def write_store(cols: dict[str, np.ndarray], path: Path) -> None:
    """A DuckDB file whose ``events`` hold each instance as ``started`` + ``completed``."""
    import duckdb
    import pyarrow as pa

    from mining.schema import events_ddl

    case, act = _labels(cols)
    n = len(case)
    table = pa.table(
        {
            "seq": pa.array(np.arange(2 * n, dtype=np.int64)),
            "case_id": pa.array(np.repeat(case, 2), pa.string()),
            "activity": pa.array(np.repeat(act, 2), pa.string()),
            "lifecycle": pa.array(np.tile(np.array(["started", "completed"], object), n)),
            "ts": pa.array(np.stack([cols["start"], cols["end"]], 1).ravel(), pa.timestamp("us")),
        }
    )
    con = duckdb.connect(str(path))
    con.execute(events_ddl())
    con.register("src", table)
    con.execute(
        "INSERT INTO events (seq, case_id, activity, lifecycle, ts) "
        "SELECT seq, case_id, activity, lifecycle, ts FROM src"
    )
    con.close()


# --- one side, in its own process ----------------------------------------------------


def _quiet_pm4py() -> Any:
    os.environ.setdefault("PM4PY_SHOW_PROGRESS_BAR", "False")
    import warnings

    warnings.simplefilter("ignore")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        import pm4py
    return pm4py


def pm4py_calls(frame: Any, *, needs_format: bool) -> dict[str, Callable[[], Any]]:
    """pm4py's call per figure; ``needs_format``: format the frame first where order matters."""
    pm4py = _quiet_pm4py()

    def formatted() -> Any:
        if not needs_format:
            return frame
        return pm4py.format_dataframe(frame, case_id=CASE, activity_key=ACT, timestamp_key=TS)

    return {
        "dfg": lambda: pm4py.discover_dfg(frame)[0],
        "performance_dfg": lambda: pm4py.discover_performance_dfg(frame)[0],
        "variants": lambda: pm4py.get_variants(formatted()),
        "case_durations": lambda: pm4py.get_all_case_durations(formatted()),
        "start_activities": lambda: pm4py.get_start_activities(formatted()),
        "end_activities": lambda: pm4py.get_end_activities(formatted()),
        "rework": lambda: pm4py.get_rework_cases_per_activity(frame),
        # Baton's service_times has mean, median, min, max and total: pm4py needs a call each.
        "service_times": lambda: {
            agg: pm4py.get_service_time(frame, start_timestamp_key=START, aggregation_measure=agg)
            for agg in SERVICE_AGGREGATES
        },
        "service_mean_only": lambda: pm4py.get_service_time(
            frame, start_timestamp_key=START, aggregation_measure="mean"
        ),
    }


def baton_calls(source: Any) -> dict[str, Callable[[], Any]]:
    from mining import EventLog

    def call(figure: str) -> Callable[[], Any]:
        if figure == "rework":
            return lambda: EventLog.open(source).figure("rework")
        return lambda: getattr(EventLog.open(source), figure)()

    return {figure: call(figure) for figure in FIGURES}


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(side: str, events: int, runs: int, shuffle: bool, out: Path) -> None:
    cols = generate(events)
    if shuffle:
        cols = shuffled(cols)
    store: tempfile.TemporaryDirectory[str] | None = None
    if side == "pm4py pandas":
        frame = pandas_frame(cols)
        calls = pm4py_calls(frame, needs_format=shuffle)
    elif side == "pm4py polars":
        frame = polars_frame(cols).lazy()
        calls = pm4py_calls(frame, needs_format=shuffle)
    elif side == "baton":
        frame = polars_frame(cols)
        calls = baton_calls(frame)
    else:
        store = tempfile.TemporaryDirectory()
        path = Path(store.name) / "events.duckdb"
        write_store(cols, path)
        calls = baton_calls(path)
    del cols
    baseline = _rss_mib()
    times: dict[str, list[float]] = {}
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for figure, call in calls.items():
        try:
            call()  # warm-up, untimed: first-call imports and caches, on every side alike
            for _ in range(runs):
                began = time.perf_counter()
                result = call()
                times.setdefault(figure, []).append(time.perf_counter() - began)
            results[figure] = normalize(side, figure, result)
        except Exception as exc:  # a pm4py path that does not support a figure
            errors[figure] = f"{type(exc).__name__}: {exc}"[:120]
    report = {
        "times": {k: statistics.median(v) for k, v in times.items()},
        "baseline_mib": baseline,
        "peak_mib": _rss_mib(),
        "errors": errors,
    }
    if store is not None:
        store.cleanup()
    with out.open("wb") as f:
        pickle.dump({"report": report, "results": results}, f)


def normalize(side: str, figure: str, result: Any) -> Any:
    """Results as plain dicts/lists in pm4py's shapes, for the equality check."""
    if side.startswith("pm4py"):
        if figure == "variants":
            return {tuple(k): v for k, v in result.items()}
        if figure == "case_durations":
            return sorted(float(x) for x in result)
        if figure == "performance_dfg":
            return {
                k: [v[a] for a in ("mean", "median", "max", "min", "sum", "stdev")]
                for k, v in result.items()
            }
        if figure == "service_times":
            return {a: [result[m][a] for m in SERVICE_AGGREGATES] for a in result["mean"]}
        return {k: v for k, v in dict(result).items()}
    frame = result
    if figure == "dfg":
        return {(s, t): n for s, t, n in frame.select("source", "target", "frequency").rows()}
    if figure == "performance_dfg":
        cols = ["mean_s", "median_s", "max_s", "min_s", "total_s", "stdev_s"]
        return {(r[0], r[1]): list(r[2:]) for r in frame.select("source", "target", *cols).rows()}
    if figure == "variants":
        return {tuple(a): n for a, n in frame.select("activities", "cases").rows()}
    if figure == "case_durations":
        return sorted(frame.get_column("duration_s").drop_nulls().to_list())
    if figure == "rework":
        return {a: n for a, n in frame.select("activity", "cases_with_rework").rows() if n}
    if figure == "service_times":
        cols = ["mean_s", "median_s", "min_s", "max_s", "total_s"]
        return {r[0]: list(r[1:]) for r in frame.select("activity", *cols).rows()}
    return dict(frame.rows())


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float | np.floating) or isinstance(b, float | np.floating) or a is None:
        a_nan = a is None or math.isnan(float(a))
        b_nan = b is None or math.isnan(float(b))
        return a_nan == b_nan and (a_nan or abs(float(a) - float(b)) <= TOLERANCE_S)
    return bool(a == b)


# --- the run -------------------------------------------------------------------------


def run_side(side: str, events: int, runs: int, shuffle: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.pickle"
        cmd = [sys.executable, __file__, "--worker", side, "--events", str(events)]
        cmd += ["--runs", str(runs), "--out", str(out)] + (["--shuffled-worker"] if shuffle else [])
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        # Workers report through the pickle; stdout would carry pm4py's banner.
        subprocess.run(cmd, check=True, cwd=REPO, env=env, stdout=subprocess.DEVNULL)
        with out.open("rb") as f:
            return pickle.load(f)


def bench(events: int, runs: int, shuffle: bool, store: bool) -> None:
    title = f"{events:,} events{' (shuffled rows)' if shuffle else ''}, median of {runs}"
    print(f"\n## {title}; load average {os.getloadavg()[0]:.2f}", flush=True)
    sides = SIDES if store else SIDES[:3]
    got = {
        side: run_side(
            side, events, min(runs, STORE_RUNS) if side == "baton store" else runs, shuffle
        )
        for side in sides
    }
    reference = got["pm4py pandas"]["results"]
    header = f"{'figure':18}" + "".join(f"{s:>14}" for s in sides) + f"{'x faster':>10}{'equal':>7}"
    print(header)
    for figure in FIGURES:
        row = f"{figure:18}"
        times = {}
        for side in sides:
            t = got[side]["report"]["times"].get(figure)
            times[side] = t
            row += f"{t * 1000:>12.0f}ms" if t is not None else f"{'n/a':>14}"
        pm4py_best = min(t for s, t in times.items() if s.startswith("pm4py") and t is not None)
        ratio = pm4py_best / times["baton"]
        equal = _same(got["baton"]["results"].get(figure), reference.get(figure))
        print(row + f"{ratio:>9.1f}x{('yes' if equal else 'NO'):>7}")
    mean_only = "  ".join(
        f"{s}: {got[s]['report']['times']['service_mean_only'] * 1000:.0f} ms"
        for s in sides
        if "service_mean_only" in got[s]["report"]["times"]
    )
    print(f"pm4py service time, mean only (one call): {mean_only}")
    print(f"{'peak RSS MiB':18}" + "".join(f"{got[s]['report']['peak_mib']:>14.0f}" for s in sides))
    print(
        f"{'after generation':18}"
        + "".join(f"{got[s]['report']['baseline_mib']:>14.0f}" for s in sides)
    )
    for side in sides:
        for figure, error in got[side]["report"]["errors"].items():
            print(f"  {side} {figure}: {error}")
    print(f"load average after: {os.getloadavg()[0]:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,5000000")
    parser.add_argument("--runs", default="5,3", help="runs per size, comma-separated")
    parser.add_argument("--no-shuffled", action="store_true")
    parser.add_argument(
        "--store-sizes", default="1000000", help="sizes also timed from a DuckDB store"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--events", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--shuffled-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.events, int(args.runs), args.shuffled_worker, args.out)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    runs = [int(r) for r in args.runs.split(",")]
    runs += [runs[-1]] * (len(sizes) - len(runs))
    print(
        f"# Mining benchmark, {os.cpu_count()} cores; {json.dumps({'sizes': sizes, 'runs': runs})}"
    )
    store_sizes = {int(s) for s in args.store_sizes.split(",") if s}
    for events, n in zip(sizes, runs, strict=True):
        bench(events, n, shuffle=False, store=events in store_sizes)
        if events == 1_000_000 and not args.no_shuffled:
            bench(events, n, shuffle=True, store=False)


if __name__ == "__main__":
    main()
