"""Decoding OTLP protobuf into Arrow tables, with hand-built messages."""

from __future__ import annotations

from datetime import datetime

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from baton.contract import EVENT_COLUMNS, Attr, EventName
from collector import InvalidPayload, decode_logs, decode_traces

TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
PRODUCER = bytes.fromhex("b7ad6b7169203331")
CONSUMER = bytes.fromhex("00f067aa0ba902b7")


def _traces_body() -> bytes:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(
        key="service.name", value=AnyValue(string_value="claims-bot")
    )
    resource_spans.resource.attributes.add(key="host.name", value=AnyValue(string_value="vm1"))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "baton.orchestrator"
    send = scope_spans.spans.add(
        trace_id=TRACE,
        span_id=PRODUCER,
        name="send verify",
        kind=Span.SPAN_KIND_PRODUCER,
        start_time_unix_nano=1_772_442_000_123_456_789,
        end_time_unix_nano=1_772_442_001_000_000_000,
    )
    send.attributes.extend(
        [
            KeyValue(key="baton.attempt", value=AnyValue(int_value=2)),
            KeyValue(key="flag", value=AnyValue(bool_value=True)),
            KeyValue(key="ratio", value=AnyValue(double_value=0.5)),
            KeyValue(
                key="tags",
                value=AnyValue(
                    array_value=ArrayValue(
                        values=[AnyValue(string_value="a"), AnyValue(int_value=1)]
                    )
                ),
            ),
        ]
    )
    process = scope_spans.spans.add(
        trace_id=TRACE,
        span_id=CONSUMER,
        parent_span_id=PRODUCER,
        name="process verify",
        kind=Span.SPAN_KIND_CONSUMER,
        start_time_unix_nano=1_772_442_002_000_000_000,
        end_time_unix_nano=1_772_442_003_000_000_000,
        status=Status(code=Status.STATUS_CODE_ERROR, message="portal down"),
    )
    process.links.add(trace_id=TRACE, span_id=PRODUCER)
    return request.SerializeToString()


def test_decode_traces_maps_every_column() -> None:
    send, process = decode_traces(_traces_body()).to_pylist()

    assert send["trace_id"] == TRACE.hex()
    assert send["parent_span_id"] is None
    assert (send["kind"], process["kind"]) == ("PRODUCER", "CONSUMER")
    assert send["start_ts"] == datetime(2026, 3, 2, 9, 0, 0, 123456)
    assert send["status_code"] == "UNSET"
    assert send["status_message"] is None
    assert (process["status_code"], process["status_message"]) == ("ERROR", "portal down")
    assert send["service_name"] == "claims-bot"
    assert send["scope_name"] == "baton.orchestrator"
    assert dict(send["attributes"]) == {
        "baton.attempt": "2",
        "flag": "true",
        "ratio": "0.5",
        "tags": '["a", 1]',
    }
    assert process["parent_span_id"] == PRODUCER.hex()
    assert process["links"] == [{"trace_id": TRACE.hex(), "span_id": PRODUCER.hex()}]


def test_resource_attributes_stay_out_of_span_attributes() -> None:
    (send, _) = decode_traces(_traces_body()).to_pylist()
    assert "host.name" not in dict(send["attributes"])


def test_empty_request_gives_empty_tables_with_full_schema() -> None:
    assert decode_traces(b"").num_rows == 0
    events, log_records = decode_logs(b"")
    assert events.column_names == [name for name, _ in EVENT_COLUMNS]
    assert log_records.num_rows == 0


@pytest.mark.parametrize("decode", [decode_traces, decode_logs])
def test_garbage_raises_invalid_payload(decode) -> None:
    with pytest.raises(InvalidPayload, match="not a valid"):
        decode(b"\xff\xff\xff\xff not protobuf")


def test_decode_logs_splits_work_items_from_other_records(otlp, case_records) -> None:
    events, log_records = decode_logs(otlp.logs_body(case_records))

    assert events.num_rows == 7
    assert log_records.num_rows == 1
    heartbeat = log_records.to_pylist()[0]
    assert heartbeat["event_name"] == EventName.HEARTBEAT
    assert heartbeat["body"] == "alive"
    assert heartbeat["service_name"] == "baton-orchestrator"
    assert heartbeat["trace_id"] is None
    assert dict(heartbeat["attributes"]) == {Attr.BOT_ID: "bot-7"}


def test_work_item_fills_contract_columns(otlp) -> None:
    record = otlp.work_item(
        "e9", 42, "failed", minutes=1, **{Attr.DUE_TS: 1_772_445_600_000_000, "extra.key": 7}
    )
    (event,) = decode_logs(otlp.logs_body([record]))[0].to_pylist()

    assert event["event_id"] == "e9"
    assert (event["seq"], event["attempt"], event["priority"]) == (42, 1, 2)
    assert (event["activity"], event["queue"], event["lifecycle"]) == ("verify", "verify", "failed")
    assert event["ts"] == datetime(2026, 3, 2, 9, 1)
    assert event["due_ts"] == datetime(2026, 3, 2, 10, 0)
    assert event["trace_id"] == bytes(range(16)).hex()
    assert event["span_id"] == bytes(range(8)).hex()
    assert dict(event["attributes"]) == {Attr.ITEM_ID: "item-case_a", "extra.key": "7"}


def test_event_id_alone_marks_a_work_item(otlp) -> None:
    record = otlp.log_record({Attr.EVENT_ID: "x1", Attr.SEQ: "5"})
    events, log_records = decode_logs(otlp.logs_body([record]))
    assert (events.num_rows, log_records.num_rows) == (1, 0)
    assert events.column("seq").to_pylist() == [5]


def test_ts_falls_back_to_observed_time(otlp) -> None:
    record = otlp.log_record({Attr.EVENT_ID: "x1"}, time_ns=0)
    record.observed_time_unix_nano = 1_772_442_000_000_000_000
    events, _ = decode_logs(otlp.logs_body([record]))
    assert events.column("ts").to_pylist() == [datetime(2026, 3, 2, 9, 0)]


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ({Attr.CASE_ID: "c"}, "has no baton.event_id"),
        ({Attr.EVENT_ID: "x1", Attr.SEQ: "seven"}, "baton.seq must be an integer"),
        ({Attr.EVENT_ID: "x1", Attr.DUE_TS: 1.5}, "baton.due_ts must be an integer"),
    ],
)
def test_work_item_breaking_the_contract_is_refused(otlp, attrs, message) -> None:
    record = otlp.log_record(attrs, event_name=EventName.WORK_ITEM)
    with pytest.raises(InvalidPayload, match=message):
        decode_logs(otlp.logs_body([record]))


def test_fast_attribute_reading_matches_the_message_path() -> None:
    """Every AnyValue kind reads the same through _fastproto as through KeyValue objects."""
    from collector._fastproto import any_values
    from collector._values import stringify

    values = [
        AnyValue(string_value="GET"),
        AnyValue(string_value="é" * 100),  # two-byte length: the slow path
        AnyValue(string_value=""),
        AnyValue(int_value=200),
        AnyValue(int_value=-1),
        AnyValue(int_value=2**63 - 1),
        AnyValue(bool_value=True),
        AnyValue(bool_value=False),
        AnyValue(double_value=0.1),
        AnyValue(double_value=-3.0),
        AnyValue(bytes_value=b"\x00\x01"),
        AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1)])),
        AnyValue(),
    ]
    fast = any_values([v.SerializeToString() for v in values]).to_pylist()
    assert fast == [stringify(v) for v in values]


def test_duplicate_attribute_keys_keep_the_last_value(otlp) -> None:
    request = ExportTraceServiceRequest()
    span = (
        request.resource_spans.add()
        .scope_spans.add()
        .spans.add(trace_id=TRACE, span_id=PRODUCER, start_time_unix_nano=1, end_time_unix_nano=2)
    )
    span.attributes.add(key="k", value=AnyValue(string_value="first"))
    span.attributes.add(key="k", value=AnyValue(string_value="last"))
    (row,) = decode_traces(request.SerializeToString()).to_pylist()
    assert dict(row["attributes"]) == {"k": "last"}  # DuckDB's MAP refuses duplicates

    record = otlp.log_record({"k": 1})
    record.attributes.add(key="k", value=AnyValue(int_value=2))
    _, log_records = decode_logs(otlp.logs_body([record]))
    assert dict(log_records.column("attributes").to_pylist()[0]) == {"k": "2"}


def test_json_request_decodes_like_protobuf() -> None:
    from google.protobuf import json_format

    from collector import Signal, decode

    body = _traces_body()
    document = json_format.MessageToDict(ExportTraceServiceRequest.FromString(body))
    for span in document["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        for key in ("traceId", "spanId", "parentSpanId"):
            if key in span:
                span[key] = __import__("base64").b64decode(span[key]).hex().upper()
        for link in span.get("links", []):
            link["traceId"] = __import__("base64").b64decode(link["traceId"]).hex()
            link["spanId"] = __import__("base64").b64decode(link["spanId"]).hex()
        span["someFutureField"] = {"ignored": True}
    as_json = __import__("json").dumps(document).encode()

    from_json = decode(Signal.TRACES, as_json, is_json=True).rows["spans"]
    assert from_json.to_pylist() == decode_traces(body).to_pylist()


def test_metrics_decode_one_row_per_point() -> None:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )

    from collector import Signal, decode

    request = ExportMetricsServiceRequest()
    resource = request.resource_metrics.add()
    resource.resource.attributes.add(key="service.name", value=AnyValue(string_value="bots"))
    metrics = resource.scope_metrics.add().metrics
    gauge = metrics.add(name="queue.depth", unit="{item}")
    point = gauge.gauge.data_points.add(time_unix_nano=1_772_442_000_000_000_000, as_int=4)
    point.attributes.add(key="queue", value=AnyValue(string_value="verify"))
    summary = metrics.add(name="latency")
    summary.summary.data_points.add(time_unix_nano=1_772_442_000_000_000_000, count=3, sum=1.5)
    nameless = metrics.add()
    nameless.gauge.data_points.add(as_double=1.0)

    decoded = decode(Signal.METRICS, request.SerializeToString())
    rows = decoded.rows["metrics"].to_pylist()
    assert [(r["name"], r["kind"], r["value"], r["count"]) for r in rows] == [
        ("queue.depth", "gauge", 4.0, None),
        ("latency", "summary", 1.5, 3),
    ]
    assert rows[0]["ts"] == datetime(2026, 3, 2, 9, 0)
    assert dict(rows[0]["attributes"]) == {"queue": "verify"}
    assert (rows[0]["unit"], rows[0]["service_name"]) == ("{item}", "bots")
    assert decoded.rejected == 1 and "has no name" in decoded.message


def test_partial_decode_counts_and_quotes_rejects(otlp) -> None:
    from collector import Signal, decode

    records = [
        otlp.log_record({Attr.CASE_ID: str(n)}, event_name=EventName.WORK_ITEM) for n in range(5)
    ]
    decoded = decode(Signal.LOGS, otlp.logs_body([otlp.work_item("e1", 1, "started"), *records]))
    assert decoded.rows["events"].num_rows == 1
    assert decoded.rejected == 5
    assert decoded.message.startswith("rejected 5: a baton.work_item log record has no")
