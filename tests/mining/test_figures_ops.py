"""Queue, retry, rework, SLA, bottleneck, throughput, handover, dotted-chart, spectrum, bot
and case-timeline figures: known answers on small hand-built logs, and the clinic sample log.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from collector.transfer import import_file
from mining import FIGURES, InvalidFilter, compute
from mining.figures import retry_hotspots
from mining.figures_ops import (
    bot_stats,
    bottlenecks,
    dotted_chart,
    handover,
    performance_spectrum,
    resource_work,
    throughput,
)
from mining.figures_queue import case_timeline, queue_wait, rework, sla, sla_over_time
from mining.filters import Filters
from mining.schema import create_events_table

CLINIC = Path(__file__).resolve().parents[2] / "sample_logs" / "clinic.parquet"
T0 = datetime(2026, 3, 2, 9, 0)

#: The figures this file covers, each with the parameters a test run passes.
OPS_FIGURES = (
    "queue_wait",
    "retry_hotspots",
    "rework",
    "bottlenecks",
    "sla",
    "sla_over_time",
    "throughput",
    "handover",
    "dotted_chart",
    "performance_spectrum",
    "bot_stats",
    "case_timeline",
)


def at(minutes: float, day: int = 0) -> datetime:
    return T0 + timedelta(days=day, minutes=minutes)


def ev(case: str, activity: str, lifecycle: str, minute: float, **extra: Any) -> dict[str, Any]:
    row = {
        "case_id": case,
        "activity": activity,
        "lifecycle": lifecycle,
        "ts": at(minute, extra.pop("day", 0)),
        "attempt": 1,
        "queue": "q",
        "workflow": "w",
    }
    row.update(extra)
    return row


def load(rows: list[dict[str, Any]]) -> duckdb.DuckDBPyConnection:
    """An in-memory events table holding ``rows``, ``seq`` in list order."""
    con = duckdb.connect(":memory:")
    create_events_table(con)
    frame = pl.DataFrame([{**r, "seq": i + 1, "event_id": f"e{i + 1}"} for i, r in enumerate(rows)])
    con.register("new_rows", frame.to_arrow())
    con.execute("INSERT INTO events BY NAME SELECT * FROM new_rows")
    con.unregister("new_rows")
    return con


#: c1: "check" fails twice (Timeout), is retried once, escalated and resolved by a person,
#: then "next" runs. c2: "check" done, then a NEW item of "check" (rework) done late.
#: c3: "check" enqueued two days later, still waiting.
SCENARIO = [
    ev("c1", "check", "enqueued", 0, due_ts=at(60), payer="P"),
    ev("c1", "check", "started", 5, resource="b1", resource_kind="bot", payer="P", span_id="s1"),
    ev("c1", "check", "failed", 6, resource="b1", resource_kind="bot", payer="P",
       error_type="Timeout", exception_type="application", span_id="s1"),
    ev("c1", "check", "retried", 6, attempt=2, payer="P", resource_kind="system"),
    ev("c1", "check", "started", 8, attempt=2, resource="b1", resource_kind="bot", payer="P",
       span_id="s2"),
    ev("c1", "check", "failed", 9, attempt=2, resource="b1", resource_kind="bot", payer="P",
       error_type="Timeout", exception_type="application", span_id="s2"),
    ev("c1", "check", "escalated", 9, attempt=2, queue="workbench", payer="P",
       resource_kind="system"),
    ev("c1", "check", "resumed", 19, attempt=2, queue="workbench", resource="ann",
       resource_kind="human", payer="P", outcome="resolved", span_id="s3"),
    ev("c1", "next", "enqueued", 19, queue="q2", payer="P"),
    ev("c1", "next", "started", 19, queue="q2", resource="b2", resource_kind="bot", payer="P"),
    ev("c1", "next", "completed", 20, queue="q2", resource="b2", resource_kind="bot",
       payer="P", outcome="ok"),
    ev("c2", "check", "enqueued", 0, due_ts=at(30), payer="Q"),
    ev("c2", "check", "started", 1, resource="b2", resource_kind="bot", payer="Q"),
    ev("c2", "check", "completed", 2, resource="b2", resource_kind="bot", payer="Q"),
    ev("c2", "check", "enqueued", 10, due_ts=at(30), payer="Q"),
    ev("c2", "check", "started", 40, resource="b1", resource_kind="bot", payer="Q"),
    ev("c2", "check", "completed", 41, resource="b1", resource_kind="bot", payer="Q"),
    ev("c3", "check", "enqueued", 50, day=2, due_ts=at(55, 2), payer="Q"),
]  # fmt: skip


@pytest.fixture
def scenario() -> Iterator[duckdb.DuckDBPyConnection]:
    con = load(SCENARIO)
    yield con
    con.close()


@pytest.fixture(scope="module")
def clinic() -> Iterator[duckdb.DuckDBPyConnection]:
    """The clinic sample log, imported the way ``baton import`` does it."""
    con = duckdb.connect(":memory:")
    import_file(con, CLINIC)
    yield con
    con.close()


def rows(frame: pl.DataFrame, *columns: str) -> list[tuple[Any, ...]]:
    return frame.select(columns).rows()


# -- queue wait ---------------------------------------------------------------------------


def test_queue_wait_counts_first_arrivals_retries_and_escalations(scenario) -> None:
    frame = queue_wait(scenario)
    assert rows(frame, "queue", "items", "waits", "waiting", "total_wait_s", "max_wait_s") == [
        ("q", 4, 4, 1, 2280.0, 1800.0),
        ("workbench", 0, 1, 0, 600.0, 600.0),
        ("q2", 1, 1, 0, 0.0, 0.0),
    ]
    assert frame.row(0, named=True)["mean_wait_s"] == 570.0
    assert frame.row(0, named=True)["median_wait_s"] == 210.0


# -- retries ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        # attempts, successes, failures, retries, escalations, retry_rate, per success, lost
        ("activity,error_type", [("check", "Timeout", 4, 2, 2, 1, 1, 0.25, 2.0, 180.0)]),
        (
            "resource",
            [("b1", 3, 1, 2, 1, 1, 1 / 3, 3.0, 180.0), ("b2", 2, 2, 0, 0, 0, 0.0, 1.0, 0.0)],
        ),
        (
            "payer,error_type",
            [("P", "Timeout", 3, 1, 2, 1, 1, 1 / 3, 3.0, 180.0)],
        ),
        (
            "activity",
            [("check", 4, 2, 2, 1, 1, 0.25, 2.0, 180.0), ("next", 1, 1, 0, 0, 0, 0.0, 1.0, 0.0)],
        ),
    ],
)  # fmt: skip
def test_retry_hotspots_attributes_retries_to_the_failed_attempt(scenario, by, expected) -> None:
    frame = retry_hotspots(scenario, by=by)
    measures = ("attempts", "successes", "failures", "retries", "escalations", "retry_rate",
                "attempts_per_success", "time_lost_s")  # fmt: skip
    assert rows(frame, *by.split(","), *measures) == expected


def test_retry_time_lost_is_failed_service_plus_requeue_wait(scenario) -> None:
    row = retry_hotspots(scenario).row(0, named=True)
    assert (row["retry_service_s"], row["retry_wait_s"]) == (60.0, 120.0)


def test_retry_hotspots_keeps_the_dashboard_columns(clinic) -> None:
    frame = retry_hotspots(clinic)
    for column in ("activity", "error_type", "failures", "retries", "escalations"):
        assert column in frame.columns
    assert "(none)" not in frame["error_type"].to_list()
    # Every retried or escalated item in the log is attributed to one failed attempt.
    counts = clinic.execute(
        "SELECT count(*) FILTER (WHERE lifecycle = 'retried'),"
        " count(*) FILTER (WHERE lifecycle = 'escalated') FROM events"
    ).fetchall()[0]
    abandoned = clinic.execute(
        "SELECT count(*) FROM events WHERE lifecycle = 'abandoned'"
    ).fetchall()[0][0]
    assert frame["retries"].sum() == counts[0] - abandoned
    assert frame["escalations"].sum() == counts[1]


@pytest.mark.parametrize("by", ["", "bot", "activity,activity"])
def test_retry_hotspots_rejects_bad_dimensions(scenario, by) -> None:
    with pytest.raises(InvalidFilter, match="by:"):
        retry_hotspots(scenario, by=by)


# -- rework -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param(SCENARIO, [("check", 2, 1, 3, 1), ("next", 1, 0, 1, 0)], id="orchestrator"),
        pytest.param(
            [ev("a", "x", "enqueued", 0), ev("a", "x", "failed", 1),
             ev("a", "x", "retried", 1, attempt=2), ev("a", "x", "completed", 2, attempt=2)],
            [("x", 1, 0, 1, 0)],
            id="retries-are-not-rework",
        ),
        pytest.param(
            [ev("a", "x", "completed", 0, attempt=None, queue=None),
             ev("a", "y", "completed", 1, attempt=None, queue=None),
             ev("a", "x", "completed", 2, attempt=None, queue=None)],
            [("x", 1, 1, 2, 1), ("y", 1, 0, 1, 0)],
            id="single-timestamp-log",
        ),
        pytest.param(
            [ev("a", "x", "started", 0, attempt=None, queue=None),
             ev("a", "x", "completed", 1, attempt=None, queue=None),
             ev("a", "x", "started", 2, attempt=None, queue=None),
             ev("a", "x", "completed", 3, attempt=None, queue=None)],
            [("x", 1, 1, 2, 1)],
            id="start-complete-log",
        ),
    ],
)  # fmt: skip
def test_rework_counts_new_items_not_retries(events, expected) -> None:
    con = load(events)
    frame = rework(con)
    cols = ("activity", "cases", "cases_with_rework", "executions", "extra_executions")
    assert rows(frame, *cols) == expected


def test_rework_on_the_clinic_is_the_pending_status_checks(clinic) -> None:
    frame = rework(clinic).filter(pl.col("extra_executions") > 0)
    assert frame["activity"].to_list() == ["check_pa_status"]
    # A status check runs once per item and every run completes: extra runs are the
    # completed checks beyond the first in each case.
    completed, cases = clinic.execute(
        "SELECT count(*), count(DISTINCT case_id) FROM events"
        " WHERE activity = 'check_pa_status' AND lifecycle = 'completed'"
    ).fetchall()[0]
    assert frame["extra_executions"].item() == completed - cases
    pending = clinic.execute(
        "SELECT count(*) FROM events WHERE activity = 'check_pa_status'"
        " AND lifecycle = 'completed' AND outcome = 'pending'"
    ).fetchall()[0][0]
    assert frame["extra_executions"].item() <= pending  # each one followed a pending answer


# -- SLA ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (None, [("w", "check", 4, 2, 1, 1, 2 / 3, 660.0)]),
        (at(60, 2), [("w", "check", 4, 2, 2, 0, 0.5, 660.0)]),
        (at(45), [("w", "check", 3, 2, 1, 0, 2 / 3, 660.0)]),
    ],
)
def test_sla_met_breached_open_as_of(scenario, when, expected) -> None:
    frame = sla(scenario, at=when)
    cols = ("workflow", "activity", "items", "met", "breached", "open", "compliance_rate",
            "max_late_s")  # fmt: skip
    assert rows(frame, *cols) == expected


def test_sla_by_workflow_and_over_time(scenario) -> None:
    assert rows(sla(scenario, by="workflow"), "workflow", "items", "met") == [("w", 4, 2)]
    frame = sla_over_time(scenario, every="1d")
    assert rows(frame, "period", "items", "met", "breached", "open") == [
        (datetime(2026, 3, 2), 3, 2, 1, 0),
        (datetime(2026, 3, 4), 1, 0, 0, 1),
    ]
    with pytest.raises(InvalidFilter, match="by:"):
        sla(scenario, by="queue")


# -- bottlenecks --------------------------------------------------------------------------


def test_bottlenecks_rank_steps_and_handoffs_by_waiting_share(scenario) -> None:
    frame = bottlenecks(scenario)
    cycle = 20 * 60 + 41 * 60  # c1 and c2; c3 has one event
    top = frame.head(3)
    assert rows(top, "rank", "kind", "name", "wait_s") == [
        (1, "step", "check", 2880.0),
        (2, "handoff", "check -> check", 2400.0),
        (3, "handoff", "check -> next", 600.0),
    ]
    assert top["wait_share"].to_list() == pytest.approx([2880 / cycle, 2400 / cycle, 600 / cycle])
    step = frame.filter(pl.col("name") == "check").row(0, named=True)
    assert step["service_s"] == 240.0
    assert step["time_share"] == pytest.approx((2880 + 240) / cycle)


def test_bottleneck_handoffs_match_the_dfg_waits(clinic) -> None:
    handoffs = bottlenecks(clinic).filter(pl.col("kind") == "handoff")
    dfg = compute("dfg", clinic)
    mean_col = "mean_wait_s" if "mean_wait_s" in dfg.columns else None
    joined = handoffs.join(dfg, on=["source", "target"])
    assert joined.height == dfg.height
    assert (joined["occurrences"] == joined["frequency"]).all()
    if mean_col:
        assert joined["mean_wait_s"].to_list() == pytest.approx(
            joined["mean_wait_s_right"].to_list()
        )


# -- throughput ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("every", "expected"),
    [
        ("1d", [(datetime(2026, 3, 2), 2, 2), (datetime(2026, 3, 3), 0, 0),
                (datetime(2026, 3, 4), 1, 0)]),
        ("1w", [(datetime(2026, 3, 2), 3, 2)]),
    ],
)  # fmt: skip
def test_throughput_per_period_with_empty_periods(scenario, every, expected) -> None:
    assert rows(throughput(scenario, every=every), "period", "cases_started",
                "cases_completed") == expected  # fmt: skip


def test_throughput_hourly_on_the_clinic_adds_up(clinic) -> None:
    frame = throughput(clinic, every="1h")
    cases = clinic.execute("SELECT count(DISTINCT case_id) FROM events").fetchall()[0][0]
    assert frame["cases_started"].sum() == cases
    steps = frame["period"].diff().drop_nulls().unique().to_list()
    assert steps == [timedelta(hours=1)]


@pytest.mark.parametrize("every", ["2d", "day", ""])
def test_throughput_rejects_unknown_periods(scenario, every) -> None:
    with pytest.raises(InvalidFilter, match="every"):
        throughput(scenario, every=every)


# -- handover of work ---------------------------------------------------------------------


def test_handover_counts_successions_between_bots_and_people(scenario) -> None:
    frame = handover(scenario)
    assert rows(frame, "source", "target", "source_kind", "target_kind", "handovers") == [
        ("ann", "b2", "human", "bot", 1),
        ("b1", "ann", "bot", "human", 1),
        ("b1", "b1", "bot", "bot", 1),
        ("b2", "b1", "bot", "bot", 1),
    ]
    assert frame["share"].to_list() == [0.25] * 4


def _pm4py(name: str, *args: Any, **kwargs: Any) -> Any:
    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink):
        warnings.simplefilter("ignore")
        with contextlib.redirect_stderr(sink):
            import pm4py

            return getattr(pm4py, name)(*args, **kwargs)


@pytest.mark.parametrize("source", ["scenario", "clinic"])
def test_handover_matches_pm4py(source, request) -> None:
    con = request.getfixturevalue(source)
    work = resource_work(con).to_pandas()
    frame = work.rename(
        columns={
            "case_id": "case:concept:name",
            "activity": "concept:name",
            "resource": "org:resource",
            "ts": "time:timestamp",
        }
    )
    network = _pm4py("discover_handover_of_work_network", frame)
    ours = {(r["source"], r["target"]): r["share"] for r in handover(con).to_dicts()}
    assert ours.keys() == network.connections.keys()
    for pair, value in network.connections.items():
        assert ours[pair] == pytest.approx(value)


# -- dotted chart and performance spectrum ------------------------------------------------


def test_dotted_chart_numbers_cases_by_start_and_limits_rows(clinic) -> None:
    full = dotted_chart(clinic)
    events = clinic.execute("SELECT count(*) FROM events").fetchall()[0][0]
    assert full.height == events
    first = full.group_by("case_index").agg(pl.col("ts").min()).sort("case_index")
    assert first["ts"].is_sorted()
    assert full["case_index"].is_sorted()
    limited = dotted_chart(clinic, limit="25")
    assert limited.equals(full.head(25))
    with pytest.raises(InvalidFilter, match="limit"):
        dotted_chart(clinic, limit="many")


def test_performance_spectrum_segments(scenario) -> None:
    frame = performance_spectrum(scenario)
    assert rows(frame, "case_id", "source", "target", "wait_s") == [
        ("c2", "check", "check", 2280.0),
        ("c1", "check", "check", 120.0),
        ("c1", "check", "next", 600.0),
    ]
    assert rows(performance_spectrum(scenario, segments=2), "case_id") == [("c2",), ("c1",)]
    only = performance_spectrum(scenario, activities="check,next")
    assert rows(only, "source", "target", "source_end_ts", "target_start_ts") == [
        ("check", "next", at(9), at(19))
    ]
    with pytest.raises(InvalidFilter, match="activities"):
        performance_spectrum(scenario, activities="check")


# -- bots ---------------------------------------------------------------------------------


@pytest.fixture
def fleet() -> Iterator[duckdb.DuckDBPyConnection]:
    con = load(
        [
            ev("x", "a", "started", 0, resource="b1", resource_kind="bot"),
            ev("x", "a", "completed", 30, resource="b1", resource_kind="bot"),
            ev("z", "a", "started", 0, resource="b2", resource_kind="bot"),
            ev("z", "a", "completed", 10, resource="b2", resource_kind="bot"),
            ev("y", "a", "started", 50, resource="b1", resource_kind="bot"),
        ]
    )
    con.execute(
        "CREATE TABLE log_records (ts TIMESTAMP, event_name VARCHAR,"
        " attributes MAP(VARCHAR, VARCHAR))"
    )
    con.execute(
        "INSERT INTO log_records VALUES (?, 'baton.heartbeat', MAP {'baton.resource': 'b2'})",
        [at(55)],
    )
    con.execute(
        "CREATE TABLE spans (start_ts TIMESTAMP, attributes STRUCT(key VARCHAR, value VARCHAR)[])"
    )
    con.execute(
        "INSERT INTO spans VALUES (?, [{'key': 'baton.bot.id', 'value': 'b2'},"
        " {'key': 'baton.bot.version', 'value': '1.4.0'}])",
        [at(5)],
    )
    yield con
    con.close()


@pytest.mark.parametrize(
    ("offline_after", "expected"),
    [
        ("15m", [("b1", 2, 1, 1.0, "busy", None), ("b2", 1, 1, 1.0, "idle", "1.4.0")]),
        ("4m", [("b1", 2, 1, 1.0, "offline", None), ("b2", 1, 1, 1.0, "offline", "1.4.0")]),
        ("1h", [("b1", 2, 1, 1.0, "busy", None), ("b2", 1, 1, 1.0, "idle", "1.4.0")]),
    ],
)
def test_bot_stats_status_version_and_utilization(fleet, offline_after, expected) -> None:
    frame = bot_stats(fleet, at=at(60), offline_after=offline_after)
    cols = ("bot", "attempts", "successes", "success_rate", "status", "version")
    assert rows(frame, *cols) == expected
    assert frame["utilization"].to_list() == pytest.approx([40 / 60, 10 / 60])
    assert frame["last_seen"].to_list() == [at(50), at(55)]


def test_bot_stats_as_of_an_earlier_moment_and_a_window(fleet) -> None:
    frame = bot_stats(fleet, Filters(since=at(20)), at=at(25), offline_after="1h")
    # Only events from 20 min on: b1's first attempt started before, so it is not seen.
    assert rows(frame, "bot", "attempts", "status") == []
    frame = bot_stats(fleet, at=at(25), offline_after="1h")
    assert rows(frame, "bot", "attempts", "successes", "status") == [
        ("b1", 1, 0, "busy"),
        ("b2", 1, 1, "idle"),
    ]
    assert frame["utilization"].to_list() == pytest.approx([1.0, 10 / 25])


@pytest.mark.parametrize("raw", ["soon", "5 minutes", "-1m"])
def test_bot_stats_rejects_bad_durations(fleet, raw) -> None:
    with pytest.raises(InvalidFilter, match="offline_after"):
        bot_stats(fleet, offline_after=raw)


# -- case timeline ------------------------------------------------------------------------


def test_case_timeline_rows_per_attempt(scenario) -> None:
    frame = case_timeline(scenario, case_id="c1")
    cols = ("activity", "attempt", "queue", "arrival", "wait_s", "service_s", "result",
            "resource", "error_type", "span_id")  # fmt: skip
    assert rows(frame, *cols) == [
        ("check", 1, "q", "enqueued", 300.0, 60.0, "failed", "b1", "Timeout", "s1"),
        ("check", 2, "q", "retried", 120.0, 60.0, "failed", "b1", "Timeout", "s2"),
        ("check", 2, "workbench", "escalated", 600.0, 0.0, "resumed", "ann", None, "s3"),
        ("next", 1, "q2", "enqueued", 0.0, 60.0, "completed", "b2", None, None),
    ]
    assert rows(frame, "wait_start", "service_end")[0] == (at(0), at(6))


def test_case_timeline_needs_a_case(scenario) -> None:
    with pytest.raises(InvalidFilter, match="case_id"):
        case_timeline(scenario)
    with pytest.raises(InvalidFilter, match="case_id"):
        compute("case_timeline", scenario, {"workflow": "w"})
    assert case_timeline(scenario, case_id="nobody").is_empty()


def test_case_timeline_of_an_escalated_clinic_case(clinic) -> None:
    case = clinic.execute(
        "SELECT case_id FROM events WHERE lifecycle = 'escalated' ORDER BY ts, seq LIMIT 1"
    ).fetchall()[0][0]
    frame = case_timeline(clinic, case_id=case)
    events = clinic.execute(
        "SELECT count(*) FILTER (WHERE lifecycle IN ('started', 'resumed')) FROM events"
        " WHERE case_id = ?",
        [case],
    ).fetchall()[0][0]
    assert frame.height == events
    assert "resumed" in frame["result"].to_list()
    starts = frame["service_start"].to_list()
    assert starts == sorted(starts)


# -- all of them: registered, parameters as strings, filters never add events -------------

PARAMS: dict[str, dict[str, str]] = {
    "sla": {"at": "2026-03-04T12:00:00Z", "by": "workflow"},
    "sla_over_time": {"every": "1d"},
    "throughput": {"every": "1h"},
    "dotted_chart": {"limit": "100000"},
    "performance_spectrum": {"segments": "100000"},
    "bot_stats": {"offline_after": "10m"},
    "retry_hotspots": {"by": "activity,payer"},
}

#: Per figure: an expression that counts what the figure covers (events, items, cases...).
MEASURES: dict[str, pl.Expr] = {
    "queue_wait": pl.col("items").sum() + pl.col("waits").sum(),
    "retry_hotspots": pl.col("failures").sum() + pl.col("retries").sum(),
    "rework": pl.col("executions").sum(),
    "bottlenecks": pl.col("occurrences").sum(),
    "sla": pl.col("items").sum(),
    "sla_over_time": pl.col("items").sum(),
    "throughput": pl.col("cases_started").sum() + pl.col("cases_completed").sum(),
    "handover": pl.col("handovers").sum(),
    "dotted_chart": pl.len(),
    "performance_spectrum": pl.len(),
    "bot_stats": pl.col("attempts").sum(),
    "case_timeline": pl.len(),
}


def _case(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute(
        "SELECT case_id FROM events WHERE workflow = 'prior_auth' ORDER BY ts, seq LIMIT 1"
    ).fetchall()[0][0]


@pytest.mark.parametrize("name", OPS_FIGURES)
def test_registered_with_string_parameters(clinic, name) -> None:
    assert name in FIGURES
    params = {**PARAMS.get(name, {})}
    if name == "case_timeline":
        params["case_id"] = _case(clinic)
    frame = compute(name, clinic, params)
    assert frame.height > 0
    assert "patient" not in " ".join(frame.columns)


@pytest.mark.parametrize(
    "filters",
    [
        {"workflow": "prior_auth"},
        {"payer": "Medicare"},
        {"since": "2026-03-03T08:00:00", "until": "2026-03-03T20:00:00"},
        {"workflow": "referral", "site": "north"},
    ],
    ids=["workflow", "payer", "time", "workflow-site"],
)
@pytest.mark.parametrize("name", OPS_FIGURES)
def test_filters_never_add_events(clinic, name, filters) -> None:
    params = {**PARAMS.get(name, {})}
    if name == "case_timeline":
        params["case_id"] = _case(clinic)
    whole = compute(name, clinic, params).select(MEASURES[name]).item()
    part = compute(name, clinic, {**params, **filters}).select(MEASURES[name]).item()
    assert (part or 0) <= (whole or 0)


def test_figures_read_only_the_filtered_events(scenario) -> None:
    """A payer filter on the scenario keeps exactly that payer's cases in every figure."""
    assert rows(queue_wait(scenario, Filters(payer="Q")), "queue", "items") == [("q", 3)]
    assert rows(rework(scenario, Filters(payer="P")), "activity", "extra_executions") == [
        ("check", 0),
        ("next", 0),
    ]
    assert handover(scenario, Filters(payer="Q"))["handovers"].to_list() == [1]
