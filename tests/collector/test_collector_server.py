"""The real server over HTTP: OTLP receiver answers, de-duplication, and the query API."""

from __future__ import annotations

import gzip

import pyarrow as pa
import pytest
import requests
from google.rpc import code_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind, StatusCode

from baton.contract import Attr, process_span_name, send_span_name

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _post(url: str, body: bytes, **headers: str) -> requests.Response:
    return requests.post(url, data=body, headers={**PROTOBUF, **headers}, timeout=10)


def test_spans_from_the_real_sdk_are_stored(collector) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "claims-bot"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{collector.url}/v1/traces"))
    )
    tracer = provider.get_tracer("baton.orchestrator")
    with tracer.start_as_current_span(
        send_span_name("verify"), kind=SpanKind.PRODUCER, attributes={Attr.ATTEMPT: 1}
    ) as send:
        producer = send.get_span_context()
    with tracer.start_as_current_span(
        process_span_name("verify"),
        kind=SpanKind.CONSUMER,
        links=[Link(producer)],
        attributes={Attr.STEP: "verify", "retryable": True},
    ) as process:
        process.set_status(StatusCode.ERROR, "portal down")
    provider.shutdown()

    rows = (
        collector.store.cursor()
        .execute(
            "SELECT name, kind, service_name, scope_name, map_from_entries(attributes), links, "
            "status_code, "
            "status_message, trace_id, span_id, seq FROM spans ORDER BY seq"
        )
        .fetchall()
    )
    assert [r[:4] for r in rows] == [
        ("send verify", "PRODUCER", "claims-bot", "baton.orchestrator"),
        ("process verify", "CONSUMER", "claims-bot", "baton.orchestrator"),
    ]
    assert rows[0][4] == {Attr.ATTEMPT: "1"}
    assert rows[1][4] == {Attr.STEP: "verify", "retryable": "true"}
    assert rows[1][5] == [{"trace_id": rows[0][8], "span_id": rows[0][9]}]
    assert rows[0][8] == format(producer.trace_id, "032x")
    assert rows[1][6:8] == ("ERROR", "portal down")
    assert [r[10] for r in rows] == [1, 2]


def test_log_records_are_stored_once_however_often_sent(collector, otlp, case_records) -> None:
    body = otlp.logs_body(case_records)
    for _ in range(2):
        response = _post(f"{collector.url}/v1/logs", body)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-protobuf"
        assert response.content == b""

    counts = collector.store.counts()
    assert (counts["spans"], counts["events"], counts["log_records"]) == (0, 7, 2)
    stats = requests.get(f"{collector.url}/api/v1/stats", timeout=10).json()
    assert (stats["events"], stats["log_records"], stats["cases"]) == (7, 2, 2)
    assert stats["counters"]["requests_logs"] == 2
    assert stats["counters"]["status_200"] == 2
    assert stats["inserted"] == {"events": 7, "log_records": 2}
    assert stats["commit_latency"]["p50_ms"] > 0
    assert stats["queue"]["pending_requests"] == stats["queue"]["pending_bytes"] == 0
    assert stats["queue"]["pending_bytes_peak"] == len(body)


@pytest.mark.parametrize("path", ["/v1/traces", "/v1/logs"])
def test_garbage_gets_400_with_rpc_status_and_stores_nothing(collector, path) -> None:
    response = _post(collector.url + path, b"\xff\xff\xff\xff garbage")

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/x-protobuf"
    status = status_pb2.Status.FromString(response.content)
    assert status.code == code_pb2.INVALID_ARGUMENT
    assert "not a valid" in status.message
    assert sum(collector.store.counts().values()) == 0


def test_contract_breach_rejects_only_that_record(collector, otlp, case_records) -> None:
    bad = otlp.log_record({Attr.CASE_ID: "c"}, event_name="baton.work_item")
    response = _post(f"{collector.url}/v1/logs", otlp.logs_body([*case_records, bad]))
    assert response.status_code == 200
    answer = ExportLogsServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_log_records == 1
    assert "has no baton.event_id" in answer.partial_success.error_message
    assert collector.store.counts()["events"] == 7
    stats = requests.get(f"{collector.url}/api/v1/stats", timeout=10).json()
    assert stats["counters"]["rejected_items"] == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/plain"},
        {},
        {"Content-Type": "application/x-protobuf", "Content-Encoding": "br"},
    ],
)
def test_unsupported_media_type_gets_415(collector, headers) -> None:
    response = requests.post(f"{collector.url}/v1/logs", data=b"{}", headers=headers, timeout=10)
    assert response.status_code == 415
    assert "not supported" in status_pb2.Status.FromString(response.content).message


def test_gzip_body_is_accepted(collector, otlp, case_records) -> None:
    body = gzip.compress(otlp.logs_body(case_records))
    response = _post(f"{collector.url}/v1/logs", body, **{"Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert collector.store.counts()["events"] == 7


def test_truncated_gzip_gets_400(collector, otlp, case_records) -> None:
    body = gzip.compress(otlp.logs_body(case_records))[:-12]
    response = _post(f"{collector.url}/v1/logs", body, **{"Content-Encoding": "gzip"})
    assert response.status_code == 400


def test_oversized_body_gets_413(collector) -> None:
    body = b"\x00" * (collector.settings.max_body_bytes + 1)
    response = _post(f"{collector.url}/v1/traces", body)
    assert response.status_code == 413


def test_body_inflating_past_the_limit_gets_413(collector) -> None:
    bomb = gzip.compress(b"\x00" * (collector.settings.max_body_bytes * 4))
    assert len(bomb) < collector.settings.max_body_bytes
    response = _post(f"{collector.url}/v1/traces", bomb, **{"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert "inflates" in status_pb2.Status.FromString(response.content).message


def test_health_and_readiness(collector) -> None:
    health = requests.get(f"{collector.url}/healthz", timeout=10)
    assert (health.status_code, health.text) == (200, "ok")
    ready = requests.get(f"{collector.url}/readyz", timeout=10)
    assert ready.status_code == 200
    assert ready.json()["ready"] is True
    assert ready.json()["spans"] == 0


@pytest.fixture
def loaded(collector, otlp, case_records):
    assert _post(f"{collector.url}/v1/logs", otlp.logs_body(case_records)).status_code == 200
    return collector


def test_figure_as_arrow_stream(loaded) -> None:
    response = requests.get(f"{loaded.url}/api/v1/figures/dfg?workflow=referral", timeout=10)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.apache.arrow.stream"
    table = pa.ipc.open_stream(response.content).read_all()
    edges = table.select(["source", "target", "frequency"]).to_pylist()
    assert edges == [{"source": "verify", "target": "submit", "frequency": 1}]


def test_figure_as_json_has_iso_times(loaded) -> None:
    response = requests.get(
        f"{loaded.url}/api/v1/figures/case_durations", params={"format": "json"}, timeout=10
    )
    assert response.status_code == 200
    first = response.json()[0]
    assert first["case_id"] == "case_a"
    assert first["start_ts"] == "2026-03-02T09:05:00"  # its first step started then


def test_figure_filters_apply(loaded) -> None:
    response = requests.get(
        f"{loaded.url}/api/v1/figures/case_durations",
        params={"format": "json", "payer": "nobody"},
        timeout=10,
    )
    assert response.json() == []


def test_unknown_figure_gets_404(loaded) -> None:
    response = requests.get(f"{loaded.url}/api/v1/figures/nope", timeout=10)
    assert response.status_code == 404
    assert "no figure named 'nope'" in response.json()["error"]


@pytest.mark.parametrize("query", ["colour=red", "since=yesterday", "format=xml"])
def test_bad_figure_query_gets_400(loaded, query) -> None:
    response = requests.get(f"{loaded.url}/api/v1/figures/dfg?{query}", timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]


def test_figure_names(collector) -> None:
    names = requests.get(f"{collector.url}/api/v1/figures", timeout=10).json()
    assert "dfg" in names
    assert names == sorted(names)
