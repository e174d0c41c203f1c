"""Invariants of the event-log model, on logs Hypothesis makes up.

Variant counts sum to the cases; filters never add events, cases or instances; the DFG has one
edge per consecutive pair; row order does not matter once ``seq`` says how ties go; and a
frame with pm4py's column names gives what the same data gives from a DuckDB ``events``
table.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mining import EventLog
from mining.eventlog import ENGINE_FIGURES
from mining.schema import events_ddl

BASE = datetime(2026, 3, 2, 8)
FIGURES = ENGINE_FIGURES
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# A step: activity, minutes waited since the case's previous completion, minutes of service.
steps = st.tuples(st.sampled_from("abcd"), st.integers(0, 3), st.integers(0, 2))
cases = st.lists(
    st.tuples(st.integers(0, 5), st.lists(steps, min_size=1, max_size=6)),
    min_size=1,
    max_size=8,
)


def frame_of(log: list[tuple[int, list[tuple[str, int, int]]]]) -> pl.DataFrame:
    """pm4py's columns, one row per instance, grouped by case in completion order.

    Cases start a few minutes apart (so times tie across and within cases); an instance
    starts after its predecessor completed, so started/completed pairs are unambiguous.
    """
    rows = []
    for i, (offset, case_steps) in enumerate(log):
        done = BASE + timedelta(minutes=offset)
        for activity, wait, service in case_steps:
            start = done + timedelta(minutes=wait)
            done = start + timedelta(minutes=service)
            rows.append((f"case{i}", activity, start, done, "wf" + str(i % 2)))
    return pl.DataFrame(
        rows,
        schema={
            "case:concept:name": pl.String,
            "concept:name": pl.String,
            "start_timestamp": pl.Datetime("us"),
            "time:timestamp": pl.Datetime("us"),
            "workflow": pl.String,
        },
        orient="row",
    )


def figures(log: EventLog) -> dict[str, pl.DataFrame]:
    """Every engine figure plus rework, in an order that does not depend on row order."""
    out = {name: getattr(log, name)() for name in FIGURES}
    out["rework"] = log.figure("rework")
    out["case_durations"] = out["case_durations"].select(
        "case_id", "start_ts", "end_ts", "duration_s", "span_s"
    )
    return {name: frame.sort(frame.columns[:2]) for name, frame in out.items()}


def assert_same_figures(ours: dict[str, pl.DataFrame], theirs: dict[str, pl.DataFrame]) -> None:
    for name, frame in ours.items():
        other = theirs[name]
        assert frame.columns == other.columns, name
        assert frame.height == other.height, name
        for column in frame.columns:
            a, b = frame.get_column(column), other.get_column(column)
            if a.dtype.is_float():
                assert a.is_null().to_list() == b.is_null().to_list(), (name, column)
                assert ((a - b).abs().max() or 0.0) < 1e-6, (name, column)
            else:
                assert a.to_list() == b.to_list(), (name, column)


@SETTINGS
@given(cases)
def test_variant_counts_sum_to_cases(log: list) -> None:
    variants = EventLog.open(frame_of(log)).variants()
    assert variants["cases"].sum() == len(log)
    assert variants["share"].sum() == pytest.approx(1.0)


@SETTINGS
@given(cases)
def test_dfg_frequencies_sum_to_instances_minus_cases(log: list) -> None:
    frame = frame_of(log)
    dfg = EventLog.open(frame).dfg()
    assert dfg["frequency"].sum() == frame.height - len(log)
    assert EventLog.open(frame).performance_dfg()["frequency"].sum() == frame.height - len(log)


def _filters(frame: pl.DataFrame, pick: int) -> list[dict[str, object]]:
    """One of each filter kind, with values taken from the log (and some that match none)."""
    activities = sorted(set(frame["concept:name"]))
    activity = activities[pick % len(activities)]
    variants = EventLog.open(frame).variants()["variant"].to_list()
    times = sorted(frame["time:timestamp"].to_list())
    moment = times[pick % len(times)]
    return [
        {"variant": variants[pick % len(variants)]},
        {"variant": "x,y"},
        {"start_activity": activity},
        {"end_activity": activity},
        {"min_duration_s": 60.0 * (pick % 4)},
        {"max_duration_s": 60.0 * (pick % 4)},
        {"since": moment},
        {"until": moment},
        {"since": moment, "until": moment + timedelta(minutes=5)},
        {"workflow": "wf1"},
        {"workflow": "wf0", "start_activity": activity, "min_duration_s": 60.0},
    ]


@SETTINGS
@given(cases, st.integers(0, 50))
def test_filters_never_add_events_cases_or_instances(log: list, pick: int) -> None:
    frame = frame_of(log)
    whole = EventLog.open(frame)
    instances = whole.instances()
    events = whole.events()
    case_set = set(instances["case_id"])
    keys = ["case_id", "activity", "ts", "seq"]
    instance_rows = set(instances.select(keys).rows())
    event_rows = set(events.select(keys).rows())
    for values in _filters(frame, pick):
        narrowed = whole.filter(**values)
        kept = narrowed.instances()
        assert kept.height <= instances.height, values
        assert set(kept.select(keys).rows()) <= instance_rows, values
        assert set(kept["case_id"]) <= case_set, values
        kept_events = narrowed.events()
        assert kept_events.height <= events.height, values
        assert set(kept_events.select(keys).rows()) <= event_rows, values
        assert narrowed.variants()["cases"].sum() <= len(case_set), values
        durations = narrowed.case_durations()
        assert durations.height <= len(case_set), values
        assert set(durations["case_id"]) <= case_set, values
        assert narrowed.dfg()["frequency"].sum() <= whole.dfg()["frequency"].sum(), values


@SETTINGS
@given(cases, st.randoms(use_true_random=False))
def test_shuffled_rows_give_the_same_figures(log: list, random) -> None:
    """Row order is only a tie-breaker, and an explicit ``seq`` carries it through a shuffle."""
    frame = frame_of(log).with_row_index("seq").with_columns(pl.col("seq").cast(pl.Int64))
    order = list(range(frame.height))
    random.shuffle(order)
    shuffled = frame[order]
    assert_same_figures(figures(EventLog.open(shuffled)), figures(EventLog.open(frame)))


@SETTINGS
@given(cases)
def test_a_pm4py_frame_equals_the_same_events_in_duckdb(log: list) -> None:
    frame = frame_of(log)
    con = duckdb.connect()
    con.execute(events_ddl())
    events = (
        frame.with_row_index("i")
        .with_columns(pl.col("i").cast(pl.Int64))
        .select(
            pl.col("case:concept:name").alias("case_id"),
            pl.col("concept:name").alias("activity"),
            "workflow",
            pl.concat_list(pl.lit("started"), pl.lit("completed")).alias("lifecycle"),
            pl.concat_list("start_timestamp", "time:timestamp").alias("ts"),
            pl.concat_list(pl.col("i") * 2, pl.col("i") * 2 + 1).alias("seq"),
        )
        .explode("lifecycle", "ts", "seq")
    )
    con.register("src", events.to_arrow())
    con.execute(
        "INSERT INTO events (case_id, activity, workflow, lifecycle, ts, seq) "
        "SELECT case_id, activity, workflow, lifecycle, ts, seq FROM src"
    )
    con.unregister("src")
    assert_same_figures(figures(EventLog.open(con)), figures(EventLog.open(frame)))
