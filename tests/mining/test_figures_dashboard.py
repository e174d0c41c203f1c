"""Figures the dashboard asks for besides the analyses: the sidebar's filter choices
(``dimension_values``) and the open items behind a queue's counts (``open_items``), with
known answers on a small hand-built log.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import duckdb
import polars as pl
import pytest

from mining import FIGURES, compute
from mining.registry import FIGURE_PARAMS
from mining.schema import create_events_table

T0 = datetime(2026, 3, 2, 9, 0)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ev(case: str, activity: str, lifecycle: str, minute: float, **extra: Any) -> dict[str, Any]:
    row = {
        "case_id": case,
        "activity": activity,
        "lifecycle": lifecycle,
        "ts": at(minute),
        "attempt": 1,
        "queue": "q",
        "workflow": "referral",
        "payer": "Acme",
        "site": "north",
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


#: c1: picked up at once, done. c2: waiting on q since minute 10, due at minute 40.
#: c3: failed, retried (attempt 2) at minute 20, still waiting, due at minute 200.
#: c4: on another queue since minute 50, no due time; payer Zenith, site south, workflow
#: claim, and one event with an empty payer. c5: escalated to the workbench at minute 30.
LOG = [
    ev("c1", "check", "enqueued", 0, due_ts=at(60)),
    ev("c1", "check", "started", 1),
    ev("c1", "check", "completed", 2),
    ev("c2", "check", "enqueued", 10, due_ts=at(40)),
    ev("c3", "check", "enqueued", 5, due_ts=at(200)),
    ev("c3", "check", "started", 6),
    ev("c3", "check", "failed", 7),
    ev("c3", "check", "retried", 20, attempt=2, due_ts=at(200)),
    ev("c4", "submit", "enqueued", 50, queue="q2", workflow="claim", payer="Zenith", site="south"),
    ev("c4", "submit", "started", 55, queue="q2", workflow="claim", payer="", site="south"),
    ev(
        "c4",
        "submit",
        "retried",
        56,
        queue="q2",
        attempt=2,
        workflow="claim",
        payer="Zenith",
        site="south",
    ),
    ev("c5", "check", "enqueued", 25),
    ev("c5", "check", "started", 26),
    ev("c5", "check", "failed", 27),
    ev("c5", "check", "escalated", 30, queue="workbench"),
]


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    return load(LOG)


def test_both_figures_are_registered() -> None:
    assert "dimension_values" in FIGURES and "open_items" in FIGURES
    assert FIGURE_PARAMS["open_items"] == {"at", "cases"}


def test_dimension_values_lists_each_value_once_with_its_events(con) -> None:
    rows = compute("dimension_values", con).rows()
    assert rows == [
        ("workflow", "claim", 3),
        ("workflow", "referral", 12),
        ("payer", "Acme", 12),
        ("payer", "Zenith", 2),
        ("site", "north", 12),
        ("site", "south", 3),
    ]


def test_dimension_values_follow_the_filters_and_name_no_case(con) -> None:
    frame = compute("dimension_values", con, {"workflow": "claim"})
    assert "case_id" not in frame.columns
    assert frame.rows() == [("workflow", "claim", 3), ("payer", "Zenith", 2), ("site", "south", 3)]


def test_dimension_values_of_an_empty_log() -> None:
    empty = duckdb.connect(":memory:")
    create_events_table(empty)
    frame = compute("dimension_values", empty)
    assert frame.columns == ["dimension", "value", "events"] and frame.height == 0


def test_open_items_as_of_minute_60(con) -> None:
    frame = compute("open_items", con, {"at": "2026-03-02T10:00"})
    assert frame.columns == ["queue", "case_id", "activity", "attempt", "enqueued_ts", "due_ts",
                             "age_s", "past_due", "due_in_s"]  # fmt: skip
    assert frame.select("queue", "case_id", "attempt", "age_s", "past_due", "due_in_s").rows() == [
        ("q", "c2", 1, 3000.0, True, -1200.0),
        ("q", "c3", 2, 2400.0, False, 8400.0),
        ("workbench", "c5", 1, 1800.0, False, None),
        ("q2", "c4", 2, 240.0, False, None),
    ]
    assert frame["enqueued_ts"].to_list()[:2] == [at(10), at(20)]


def test_open_items_earlier_and_agreeing_with_queue_summary(con) -> None:
    # At minute 8: c2 not yet enqueued, c3's first attempt picked up, c1 done; nothing else.
    assert compute("open_items", con, {"at": "2026-03-02T09:08"}).height == 0
    # At minute 12 only c2 waits.
    early = compute("open_items", con, {"at": "2026-03-02T09:12"})
    assert early.select("case_id", "age_s").rows() == [("c2", 120.0)]
    items = compute("open_items", con, {"at": "2026-03-02T10:00"})
    summary = compute("queue_summary", con, {"at": "2026-03-02T10:00"})
    per_queue = items.group_by("queue").agg(
        pl.len().alias("open_items"), pl.col("age_s").max().alias("oldest_age_s"),
        pl.col("past_due").sum().alias("past_due"))  # fmt: skip
    joined = summary.join(per_queue, on="queue", suffix="_items")
    assert joined.height == summary.height == 3
    for column in ("open_items", "oldest_age_s", "past_due"):
        assert joined[column].to_list() == joined[f"{column}_items"].to_list()


def test_open_items_without_case_ids_and_with_filters(con) -> None:
    frame = compute("open_items", con, {"at": "2026-03-02T10:00", "cases": "false"})
    assert "case_id" not in frame.columns
    assert frame["age_s"].to_list() == [3000.0, 2400.0, 1800.0, 240.0]
    claims = compute("open_items", con, {"at": "2026-03-02T10:00", "workflow": "claim"})
    assert claims.select("case_id", "queue").rows() == [("c4", "q2")]


def test_open_items_default_at_is_the_newest_event(con) -> None:
    frame = compute("open_items", con)
    # Newest event: minute 56 (c4's retry), so c4 has waited 0 s.
    assert frame.filter(pl.col("case_id") == "c4")["age_s"].to_list() == [0.0]
    assert frame.height == 4
