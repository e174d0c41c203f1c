"""OTLP/HTTP conformance: the real OpenTelemetry SDK exporters, and hand-built bad requests.

Good requests come from the SDK's own exporters (protobuf: ``opentelemetry-exporter-otlp-
proto-http``; JSON: ``opentelemetry-exporter-otlp-json-http``), with and without gzip, for
traces, logs and metrics. Bad requests are built by hand, one per status code the receiver
answers, and each must leave the store empty.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
import requests
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.common.http import Compression as JsonCompression
from opentelemetry.exporter.otlp.json.http._log_exporter import OTLPLogExporter as JsonLogs
from opentelemetry.exporter.otlp.json.http.metric_exporter import OTLPMetricExporter as JsonMetrics
from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter as JsonSpans
from opentelemetry.exporter.otlp.proto.http import Compression as ProtoCompression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as ProtoLogs
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as ProtoMetrics,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as ProtoSpans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, StatusCode

from baton.contract import Attr, EventName

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
EXPORTERS: dict[str, Any] = {
    PROTOBUF: (ProtoSpans, ProtoLogs, ProtoMetrics, ProtoCompression.Gzip, None),
    JSON: (JsonSpans, JsonLogs, JsonMetrics, JsonCompression.GZIP, None),
}


def _rows(collector, sql: str) -> list[tuple[Any, ...]]:
    cur = collector.store.cursor()
    try:
        return cur.execute(sql).fetchall()
    finally:
        cur.close()


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("encoding", [PROTOBUF, JSON], ids=["protobuf", "json"])
def test_sdk_exporters_deliver_traces_logs_and_metrics(collector, encoding, compressed) -> None:
    span_exporter, log_exporter, metric_exporter, gzip_option, _ = EXPORTERS[encoding]
    compression = {"compression": gzip_option} if compressed else {}
    resource = Resource.create({"service.name": "billing"})

    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        SimpleSpanProcessor(span_exporter(endpoint=f"{collector.url}/v1/traces", **compression))
    )
    tracer = tracer_provider.get_tracer("billing.app")
    with tracer.start_as_current_span("charge", kind=SpanKind.SERVER, attributes={"n": 3}) as span:
        with tracer.start_as_current_span("card lookup") as child:
            child.set_status(StatusCode.ERROR, "declined")
        ids = span.get_span_context()
    tracer_provider.shutdown()

    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        SimpleLogRecordProcessor(log_exporter(endpoint=f"{collector.url}/v1/logs", **compression))
    )
    logger = logger_provider.get_logger("billing.events")
    logger.emit(
        event_name=EventName.WORK_ITEM,
        body="completed",
        attributes={
            Attr.EVENT_ID: "ev-1",
            Attr.SEQ: 1,
            Attr.CASE_ID: "case_9",
            Attr.STEP: "charge",
            Attr.LIFECYCLE: "completed",
        },
        timestamp=1_772_442_000_000_000_000,
    )
    logger.emit(body="cache warmed", severity_text="INFO", attributes={"entries": 12})
    logger_provider.shutdown()

    reader = PeriodicExportingMetricReader(
        metric_exporter(endpoint=f"{collector.url}/v1/metrics", **compression),
        export_interval_millis=60_000,
    )
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = meter_provider.get_meter("billing.metrics")
    meter.create_counter("charges", unit="1").add(5, {"currency": "EUR"})
    meter.create_histogram("charge_ms", unit="ms").record(12.5)
    meter_provider.shutdown()

    spans = _rows(
        collector, "SELECT name, trace_id, status_code, service_name FROM spans ORDER BY seq"
    )
    assert [s[0] for s in spans] == ["card lookup", "charge"]
    assert spans[1][1] == format(ids.trace_id, "032x")  # hex ids survived JSON
    assert spans[0][2:] == ("ERROR", "billing")
    events = _rows(
        collector, "SELECT event_id, case_id, activity, lifecycle FROM events ORDER BY ts, seq"
    )
    assert ("ev-1", "case_9", "charge", "completed") in events
    # spans of a non-Baton service map to started/completed (failed) events too
    assert {e[3] for e in events if e[2] == "card lookup"} == {"started", "failed"}
    (other,) = _rows(collector, "SELECT body, attributes FROM log_records")
    assert other == ("cache warmed", {"entries": "12"})
    metrics = _rows(
        collector, "SELECT name, kind, value, count, unit, attributes FROM metrics ORDER BY name"
    )
    assert metrics == [
        ("charge_ms", "histogram", 12.5, 1, "ms", {}),
        ("charges", "sum", 5.0, None, "1", {"currency": "EUR"}),
    ]


def test_json_answer_is_json_and_partial_success_names_the_rejects(collector, otlp) -> None:
    good = otlp.work_item("e1", 1, "started")
    keyless = otlp.log_record({Attr.CASE_ID: "c"}, event_name=EventName.WORK_ITEM)
    body = json.dumps(_to_json(otlp.logs_request([good, keyless])))

    response = requests.post(
        f"{collector.url}/v1/logs", data=body, headers={"Content-Type": JSON}, timeout=10
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    partial = response.json()["partialSuccess"]
    assert partial["rejectedLogRecords"] == "1"  # int64 as a string, per proto3 JSON
    assert "has no baton.event_id" in partial["errorMessage"]
    assert _rows(collector, "SELECT event_id FROM events") == [("e1",)]


def test_protobuf_partial_success_for_spans_with_invalid_ids(collector, otlp) -> None:
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    times = {"start_time_unix_nano": 1, "end_time_unix_nano": 2}
    spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="ok", **times)
    spans.add(trace_id=b"\x00" * 16, span_id=b"\x03" * 8, name="zero trace", **times)
    spans.add(trace_id=b"\x01" * 16, span_id=b"\x04" * 3, name="short span id", **times)

    response = _post(collector, "/v1/traces", request.SerializeToString())

    assert response.status_code == 200
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_spans == 2
    assert "trace_id must be 16 non-zero bytes" in answer.partial_success.error_message
    assert _rows(collector, "SELECT name FROM spans") == [("ok",)]


def test_full_success_leaves_partial_success_unset(collector, otlp, case_records) -> None:
    response = _post(collector, "/v1/logs", otlp.logs_body(case_records))
    assert response.status_code == 200
    assert not ExportLogsServiceResponse.FromString(response.content).HasField("partial_success")


def test_empty_request_succeeds(collector) -> None:
    for encoding, body in ((PROTOBUF, b""), (JSON, b"{}")):
        response = _post(collector, "/v1/traces", body, content_type=encoding)
        assert response.status_code == 200


def _post(collector, path: str, body: bytes, content_type: str = PROTOBUF, **headers: str):
    return requests.post(
        collector.url + path,
        data=body,
        headers={"Content-Type": content_type, **headers},
        timeout=10,
    )


def _gzip_bomb(collector) -> bytes:
    return gzip.compress(b"\x00" * (collector.settings.max_body_bytes * 4))


#: (name, path, body builder, headers, status, expected text in Status.message)
BAD_REQUESTS = [
    ("garbage protobuf", "/v1/traces", lambda c: b"\xff\xff\xff garbage", {}, 400, "not a valid"),
    (
        "garbage JSON",
        "/v1/logs",
        lambda c: b"{not json",
        {"Content-Type": JSON},
        400,
        "not valid JSON",
    ),
    (
        "JSON of the wrong shape",
        "/v1/traces",
        lambda c: b'{"resourceSpans": 7}',
        {"Content-Type": JSON},
        400,
        "OTLP/JSON",
    ),
    (
        "JSON id not hex",
        "/v1/traces",
        lambda c: b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}',
        {"Content-Type": JSON},
        400,
        "not hex",
    ),
    (
        "truncated gzip",
        "/v1/metrics",
        lambda c: gzip.compress(b"\x0a\x00" * 50)[:-12],
        {"Content-Encoding": "gzip"},
        400,
        "truncated",
    ),
    (
        "body over the limit",
        "/v1/traces",
        lambda c: b"\x00" * (c.settings.max_body_bytes + 1),
        {},
        413,
        "over the limit",
    ),
    (
        "body inflating past the limit",
        "/v1/logs",
        _gzip_bomb,
        {"Content-Encoding": "gzip"},
        413,
        "inflates",
    ),
    (
        "unknown content type",
        "/v1/logs",
        lambda c: b"{}",
        {"Content-Type": "text/plain"},
        415,
        "not supported",
    ),
    (
        "unknown content encoding",
        "/v1/logs",
        lambda c: b"{}",
        {"Content-Encoding": "br"},
        415,
        "not supported",
    ),
]


@pytest.mark.parametrize(
    ("path", "build", "headers", "status", "text"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_request_gets_its_status_and_stores_nothing(
    collector, path, build, headers, status, text
) -> None:
    headers = {"Content-Type": PROTOBUF, **headers}
    response = requests.post(
        collector.url + path, data=build(collector), headers=headers, timeout=10
    )

    assert response.status_code == status
    if headers["Content-Type"] == JSON:  # errors are encoded like the request
        assert response.headers["content-type"] == JSON
        assert text in response.json()["message"]
    else:
        assert response.headers["content-type"] == PROTOBUF
        assert text in status_pb2.Status.FromString(response.content).message
    assert sum(collector.store.counts().values()) == 0


def test_400_carries_bad_request_details(collector) -> None:
    response = _post(collector, "/v1/traces", b"\xff\xff\xff garbage")
    status = status_pb2.Status.FromString(response.content)
    assert status.code == code_pb2.INVALID_ARGUMENT
    detail = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(detail)
    assert detail.field_violations[0].field == "body"


def test_token_required_gets_401_and_stores_nothing(serve, otlp, case_records) -> None:
    collector = serve(ingest_token="ingest-secret-1")
    body = otlp.logs_body(case_records)
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Basic x"}):
        response = _post(collector, "/v1/logs", body, **headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert "Bearer" in status_pb2.Status.FromString(response.content).message
    assert sum(collector.store.counts().values()) == 0
    ok = _post(collector, "/v1/logs", body, Authorization="Bearer ingest-secret-1")
    assert ok.status_code == 200


def test_full_queue_gets_503_with_retry_after_and_stores_nothing(serve, otlp, case_records) -> None:
    collector = serve(queue_max_requests=1, retry_after_s=2)
    writer = collector.app.state.pipeline.writer
    with writer.admit(0):  # another request holds the only slot
        response = _post(collector, "/v1/logs", otlp.logs_body(case_records))
        json_response = _post(collector, "/v1/logs", b"{}", content_type=JSON)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    status = status_pb2.Status.FromString(response.content)
    assert status.code == code_pb2.UNAVAILABLE
    retry = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(retry) and retry.retry_delay.seconds == 2
    assert json_response.status_code == 503
    assert "retry later" in json_response.json()["message"]
    assert sum(collector.store.counts().values()) == 0
    assert _post(collector, "/v1/logs", otlp.logs_body(case_records)).status_code == 200


def test_receiver_binds_loopback_by_default() -> None:
    from collector import CollectorSettings

    assert CollectorSettings().host == "127.0.0.1"


def _to_json(message) -> dict[str, Any]:
    """A request as OTLP/JSON: the proto3 mapping with hex ids, as the spec has it."""
    from google.protobuf import json_format

    document = json_format.MessageToDict(message)
    _ids_to_hex(document)
    return document


def _ids_to_hex(node: Any) -> None:
    import base64

    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _ids_to_hex(value)
    elif isinstance(node, list):
        for item in node:
            _ids_to_hex(item)
