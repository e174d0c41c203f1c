"""Spans of other sources as events: which spans, which columns, which ids."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from collector import spans_to_events
from collector.otlp import SPAN_SCHEMA


def _span(span_id: str, **fields) -> dict:
    return {
        "trace_id": "ab" * 16,
        "span_id": span_id * 8,
        "name": "op",
        "start_ts": datetime(2026, 3, 2, 9, 0),
        "end_ts": datetime(2026, 3, 2, 9, 5),
        "status_code": "UNSET",
        "service_name": "svc",
        "attributes": [],
        **fields,
    }


def _table(*spans: dict) -> pa.Table:
    return pa.Table.from_pylist(list(spans), schema=SPAN_SCHEMA)


def test_baton_spans_are_not_mapped() -> None:
    spans = _table(
        _span("a1", attributes=[("baton.case_id", "c1")]),
        _span("b2", attributes=[("http.route", "/x")]),
    )
    events = spans_to_events(spans)
    assert set(events.column("span_id").to_pylist()) == {"b2" * 8}


def test_columns_of_a_mapped_span() -> None:
    span = _span(
        "c3",
        name="charge",
        status_code="ERROR",
        attributes=[
            ("order.id", "o-7"),
            ("error.type", "Declined"),
            ("messaging.destination.name", "q"),
        ],
    )
    started, ended = spans_to_events(_table(span), case_attribute="order.id").to_pylist()
    assert (started["lifecycle"], ended["lifecycle"]) == ("started", "failed")
    assert (started["ts"], ended["ts"]) == (span["start_ts"], span["end_ts"])
    assert started["case_id"] == ended["case_id"] == "o-7"
    assert started["event_id"] == f"{'ab' * 16}-{'c3' * 8}-started"
    assert (started["activity"], started["resource"], started["workflow"]) == (
        "charge",
        "svc",
        "svc",
    )
    assert (started["queue"], started["resource_kind"]) == ("q", "system")
    assert (started["error_type"], ended["error_type"]) == (None, "Declined")
    assert started["seq"] is None and started["attributes"] is None


def test_case_attribute_missing_falls_back_to_trace_id() -> None:
    events = spans_to_events(_table(_span("d4")), case_attribute="order.id")
    assert set(events.column("case_id").to_pylist()) == {"ab" * 16}


def test_empty_and_sliced_tables() -> None:
    assert spans_to_events(_table()).num_rows == 0
    spans = _table(_span("a1", attributes=[("baton.step", "x")]), _span("b2"), _span("c3"))
    sliced = spans.slice(1, 2)  # MapArray offsets no longer start at zero
    assert spans_to_events(sliced).num_rows == 4
