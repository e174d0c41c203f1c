"""Every figure pm4py also computes equals pm4py's pandas path, on real and sample logs.

How each file reaches the two sides (see "pm4py parity" in ``docs/mining.md``):

* Baton opens the file itself: ``EventLog.open(path)`` (its readers map XES lifecycle
  ``start``/``complete`` to ``started``/``completed``, and the instance view pairs them
  into activity instances first in, first out, as pm4py does).
* pm4py reads the same file with its own reader (``pm4py.read_xes``, pandas for CSV,
  ``pm4py.read_ocel2_json`` + ``pm4py.ocel_flattening``). A log with lifecycle transitions
  other than ``complete`` is turned into pm4py's interval form by pm4py's own
  ``interval_lifecycle.to_interval`` (``start_timestamp`` = start, ``time:timestamp`` =
  completion). The frame then goes through ``pm4py.format_dataframe``, as pm4py requires for
  variants.
* The clinic sample logs carry Baton's own lifecycles (enqueued, retried, escalated, ...),
  which pm4py cannot pair; pm4py gets ``EventLog.to_pm4py()`` there, the activity instances.

Durations are compared within 1 ms; counts exactly. The public logs are read once per module.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

os.environ.setdefault("PM4PY_SHOW_PROGRESS_BAR", "False")
pm4py = pytest.importorskip("pm4py")

from mining import EventLog  # noqa: E402
from mining.readers import ColumnMapping  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DATASETS = REPO.parent / "shared" / "datasets"
SAMPLES = REPO / "sample_logs"
TOLERANCE_S = 1e-3
# pm4py warns about optional accelerators and its own deprecations; neither is under test.
pytestmark = pytest.mark.filterwarnings(
    "ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning"
)

CASE, ACT, TS, START = "case:concept:name", "concept:name", "time:timestamp", "start_timestamp"

#: name -> (folder, file, how pm4py reads it)
LOGS: dict[str, tuple[Path, str, str]] = {
    "running-example": (DATASETS, "running-example.xes", "xes"),
    "receipt": (DATASETS, "08_receipt.xes.gz", "xes"),
    "helpdesk": (DATASETS, "helpdesk.xes.gz", "xes"),
    "bpic2012": (DATASETS, "bpic2012.xes.gz", "xes"),
    "reviewing": (DATASETS, "reviewing.xes", "xes"),
    "sepsis": (DATASETS, "sepsis.csv", "sepsis"),
    "patients": (DATASETS, "patients.csv", "patients"),
    **{
        f"ocel-{kind.lower().replace(' ', '-')}": (
            DATASETS,
            "ocel20_example.jsonocel",
            f"ocel:{kind}",
        )
        for kind in ("Purchase Order", "Purchase Requisition", "Invoice", "Payment")
    },
    "clinic": (SAMPLES, "clinic.parquet", "baton"),
    "clinic-payer-outage": (SAMPLES, "clinic-payer-outage.parquet", "baton"),
}
#: Logs whose retries make Baton's rework (items) differ from pm4py's (repeated instances).
WITH_RETRIES = {"clinic", "clinic-payer-outage"}


# --- reading both sides ---------------------------------------------------------------------


def _interval_frame(log: Any) -> pd.DataFrame:
    """pm4py's own interval form: ``start`` paired with ``complete`` per activity, FIFO."""
    from pm4py.objects.log.util import interval_lifecycle

    return pm4py.convert_to_dataframe(interval_lifecycle.to_interval(log))


def _pm4py_frame(folder: Path, file: str, how: str, baton: EventLog) -> pd.DataFrame:
    path = str(folder / file)
    if how == "xes":
        # The log object, not a frame: pm4py's XES import is the slow part, and the interval
        # conversion works on log objects.
        df = _interval_frame(pm4py.read_xes(path, return_legacy_log_object=True))
    elif how == "sepsis":
        raw = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
        df = pm4py.format_dataframe(
            raw,
            case_id="Case ID",
            activity_key="Activity",
            timestamp_key="Complete Timestamp",
            timest_format="%Y/%m/%d %H:%M:%S.%f",
        )
    elif how == "patients":
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
        raw["lifecycle:transition"] = raw["registration_type"]
        df = pm4py.format_dataframe(
            raw, case_id="patient", activity_key="handling", timestamp_key="time"
        )
        df = _interval_frame(pm4py.convert_to_event_log(df))
    elif how.startswith("ocel:"):
        ocel = pm4py.read_ocel2_json(path)
        df = pm4py.ocel_flattening(ocel, how.split(":", 1)[1])
    else:  # Baton's own lifecycles: the activity instances, as pm4py's interval form
        df = baton.to_pm4py()
    return _formatted(df)


def _formatted(df: pd.DataFrame) -> pd.DataFrame:
    if START not in df.columns:
        df[START] = df[TS]
    keep = [CASE, ACT, TS, START]
    df = df[keep].copy()
    for column in (TS, START):
        df[column] = pd.to_datetime(df[column], utc=True)
    return pm4py.format_dataframe(df, case_id=CASE, activity_key=ACT, timestamp_key=TS)


def _baton_log(folder: Path, file: str, how: str) -> EventLog:
    path = folder / file
    if how == "sepsis":
        columns = ColumnMapping(case="Case ID", activity="Activity", timestamp="Complete Timestamp")
        return EventLog.open(path, separator=";", columns=columns)
    if how == "patients":
        columns = ColumnMapping(
            case="patient", activity="handling", timestamp="time", lifecycle="registration_type"
        )
        return EventLog.open(path, columns=columns)
    if how.startswith("ocel:"):
        return EventLog.open(path, object_type=how.split(":", 1)[1])
    return EventLog.open(path)


class Pair:
    """One log read by both sides; each side's figures computed on first use."""

    def __init__(self, name: str) -> None:
        folder, file, how = LOGS[name]
        self.name = name
        self.baton = _baton_log(folder, file, how)
        self.df = _pm4py_frame(folder, file, how, self.baton)
        self._instances: pd.DataFrame | None = None

    @property
    def instances(self) -> pd.DataFrame:
        """Baton's activity instances handed to pm4py (``EventLog.to_pm4py()``)."""
        if self._instances is None:
            self._instances = _formatted(self.baton.to_pm4py())
        return self._instances


@pytest.fixture(scope="module")
def pairs() -> dict[str, Pair]:
    return {}


def _pair(pairs: dict[str, Pair], name: str) -> Pair:
    folder, file, _ = LOGS[name]
    if not (folder / file).exists():
        pytest.skip(f"{file} is not in {folder.name}/ (the public logs live beside the repo)")
    if name not in pairs:
        pairs[name] = Pair(name)
    return pairs[name]


# --- comparing -----------------------------------------------------------------------------


def _close(a: Any, b: Any) -> bool:
    a_missing = a is None or (isinstance(a, float) and math.isnan(a))
    b_missing = b is None or (isinstance(b, float) and math.isnan(b))
    if a_missing or b_missing:
        return a_missing and b_missing
    return abs(float(a) - float(b)) <= TOLERANCE_S


def _assert_close_maps(ours: dict[Any, Any], theirs: dict[Any, Any], what: str) -> None:
    assert set(ours) == set(theirs), f"{what}: keys differ: {set(ours) ^ set(theirs)}"
    bad = {k: (ours[k], theirs[k]) for k in ours if not _close(ours[k], theirs[k])}
    assert not bad, f"{what}: {len(bad)} differ (ours, pm4py), e.g. {list(bad.items())[:5]}"


def _has_pairs(df: pd.DataFrame) -> bool:
    """pm4py's performance DFG raises TypeError on a log without a directly-follows pair."""
    return bool(df[CASE].duplicated().any())


def _raw_waits(df: pd.DataFrame) -> dict[tuple[str, str], list[float]]:
    if not _has_pairs(df):
        return {}
    from pm4py.algo.discovery.dfg.adapters.pandas.df_statistics import get_dfg_graph

    return get_dfg_graph(
        df.copy(),
        measure="performance",
        perf_aggregation_key="raw_values",
        activity_key=ACT,
        timestamp_key=TS,
        case_id_glue=CASE,
        # No start key, as pm4py.discover_performance_dfg calls it: given one explicitly,
        # pm4py clips each wait at zero; without, a negative wait (an instance that started
        # before its predecessor completed) is kept.
    )


NAMES = list(LOGS)


@pytest.mark.parametrize("name", NAMES)
def test_dfg(pairs: dict[str, Pair], name: str) -> None:
    p = _pair(pairs, name)
    theirs, _, _ = pm4py.discover_dfg(p.df.copy())
    ours = {(s, t): n for s, t, n in p.baton.dfg().select("source", "target", "frequency").rows()}
    assert ours == dict(theirs)


@pytest.mark.parametrize("name", NAMES)
def test_performance_dfg_every_aggregate(pairs: dict[str, Pair], name: str) -> None:
    p = _pair(pairs, name)
    theirs = pm4py.discover_performance_dfg(p.df.copy())[0] if _has_pairs(p.df) else {}
    frame = p.baton.performance_dfg()
    names = {"mean": "mean_s", "median": "median_s", "max": "max_s", "min": "min_s"}
    names |= {"sum": "total_s", "stdev": "stdev_s"}
    for agg, column in names.items():
        ours = {(s, t): v for s, t, v in frame.select("source", "target", column).rows()}
        _assert_close_maps(ours, {k: v[agg] for k, v in theirs.items()}, f"{name} {agg}")
    counts = {(s, t): n for s, t, n in frame.select("source", "target", "frequency").rows()}
    assert counts == {k: len(v) for k, v in _raw_waits(p.df).items()}


@pytest.mark.parametrize("name", NAMES)
def test_variants(pairs: dict[str, Pair], name: str) -> None:
    p = _pair(pairs, name)
    theirs = {tuple(k): v for k, v in pm4py.get_variants(p.df.copy()).items()}
    ours = {tuple(a): n for a, n in p.baton.variants().select("activities", "cases").rows()}
    assert ours == theirs
    assert sum(ours.values()) == p.df[CASE].nunique()


@pytest.mark.parametrize("name", NAMES)
def test_case_durations(pairs: dict[str, Pair], name: str) -> None:
    from pm4py.statistics.traces.generic.pandas import case_statistics

    p = _pair(pairs, name)
    # What pm4py.get_all_case_durations computes, per case (it returns only the sorted values,
    # and raises KeyError on a formatted frame with a start column unless the key is given).
    described = case_statistics.get_cases_description(
        p.df.copy(),
        parameters={
            "case_id_glue": CASE,
            "timestamp_key": TS,
            "start_timestamp_key": TS,
        },
    )
    theirs = {case: d["caseDuration"] for case, d in described.items()}
    frame = p.baton.case_durations().filter(pl.col("duration_s").is_not_null())
    ours = dict(frame.select("case_id", "duration_s").rows())
    _assert_close_maps(ours, theirs, f"{name} case durations")


@pytest.mark.parametrize("name", NAMES)
def test_start_and_end_activities(pairs: dict[str, Pair], name: str) -> None:
    p = _pair(pairs, name)
    start = dict(p.baton.start_activities().rows())
    end = dict(p.baton.end_activities().rows())
    assert start == dict(pm4py.get_start_activities(p.df.copy()))
    assert end == dict(pm4py.get_end_activities(p.df.copy()))


@pytest.mark.parametrize("name", [n for n in NAMES if n not in WITH_RETRIES])
def test_rework(pairs: dict[str, Pair], name: str) -> None:
    p = _pair(pairs, name)
    theirs = dict(pm4py.get_rework_cases_per_activity(p.df.copy()))
    frame = p.baton.figure("rework").filter(pl.col("cases_with_rework") > 0)
    ours = dict(frame.select("activity", "cases_with_rework").rows())
    assert ours == theirs


@pytest.mark.parametrize("name", NAMES)
def test_service_times(pairs: dict[str, Pair], name: str) -> None:
    p = _pair(pairs, name)
    frame = p.baton.service_times()
    names = {"mean": "mean_s", "median": "median_s", "min": "min_s", "max": "max_s"}
    names |= {"sum": "total_s"}
    for agg, column in names.items():
        theirs = pm4py.get_service_time(
            p.df.copy(), aggregation_measure=agg, start_timestamp_key=START, timestamp_key=TS
        )
        ours = dict(frame.select("activity", column).rows())
        _assert_close_maps(ours, dict(theirs), f"{name} service {agg}")


@pytest.mark.parametrize("name", NAMES)
def test_waiting_times(pairs: dict[str, Pair], name: str) -> None:
    """pm4py has no per-activity waiting time; its performance DFG's raw waits by target."""
    p = _pair(pairs, name)
    by_target: dict[str, list[float]] = defaultdict(list)
    for (_, target), values in _raw_waits(p.df).items():
        by_target[target].extend(values)
    frame = p.baton.waiting_times()
    aggregates = {
        "mean_s": np.mean,
        "median_s": np.median,
        "min_s": np.min,
        "max_s": np.max,
        "total_s": np.sum,
    }
    for column, fn in aggregates.items():
        theirs = {a: float(fn(np.asarray(v, dtype=float))) for a, v in by_target.items()}
        ours = dict(frame.select("activity", column).rows())
        _assert_close_maps(ours, theirs, f"{name} waiting {column}")
    counts = dict(frame.select("activity", "count").rows())
    assert counts == {a: len(v) for a, v in by_target.items()}


@pytest.mark.parametrize("name", [n for n in NAMES if LOGS[n][2] != "baton"])
def test_instances_pair_like_pm4py(pairs: dict[str, Pair], name: str) -> None:
    """Baton's activity instances are pm4py's interval form, overlapping instances too.

    Both pair the k-th ``start`` of an activity in a case with its k-th ``complete`` (FIFO):
    where two instances of one activity overlap in one case (start, start, complete,
    complete; 5 of BPIC 2012's 164,506 instances), the first completion ends the first start.
    """
    p = _pair(pairs, name)
    columns = [CASE, ACT, TS, START]
    theirs = p.df[columns].sort_values(columns, kind="stable")
    ours = p.instances[columns].sort_values(columns, kind="stable")
    assert len(ours) == len(theirs)
    assert (ours.to_numpy() == theirs.to_numpy()).all()
