"""The hand-rolled encoder against the official opentelemetry-proto messages, byte for byte."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import SEVERITY_NUMBER_INFO, LogRecord

from orchestrator import wire
from orchestrator.records import build_record, seq_suffix


def official(value: object) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


ATTRS = [("baton.case_id", "case_ab12"), ("baton.attempt", 3), ("neg", -5), ("big", 2**62),
         ("ok", True), ("no", False), ("ratio", 0.25), ("uni", "Zoë ✓"), ("zero", 0)]  # fmt: skip


@pytest.mark.parametrize("trace_span", [(0, 0), (2**127 + 5, 2**63 + 7)])
def test_log_record_bytes_equal_the_official_encoding(trace_span: tuple[int, int]):
    trace_id, span_id = trace_span
    ours = wire.log_record(
        ts_ns=1_772_460_000_123_456_000, body="started", attributes=ATTRS,
        trace_id=trace_id, span_id=span_id, event_name="baton.work_item",
    )  # fmt: skip
    theirs = LogRecord(
        time_unix_nano=1_772_460_000_123_456_000,
        observed_time_unix_nano=1_772_460_000_123_456_000,
        severity_number=SEVERITY_NUMBER_INFO,
        severity_text="INFO",
        body=AnyValue(string_value="started"),
        attributes=[KeyValue(key=k, value=official(v)) for k, v in ATTRS],
        trace_id=trace_id.to_bytes(16, "big") if trace_id else b"",
        span_id=span_id.to_bytes(8, "big") if span_id else b"",
        event_name="baton.work_item",
    )
    assert ours == theirs.SerializeToString()
    assert LogRecord.FromString(ours) == theirs


def test_seq_suffix_appends_one_attribute():
    record = build_record(ts_ns=5, event_id="e1", lifecycle="started", attributes={"a": None})
    parsed = LogRecord.FromString(record + seq_suffix(42))
    keys = [kv.key for kv in parsed.attributes]
    assert keys == ["baton.event_id", "baton.lifecycle", "baton.seq"]
    assert parsed.attributes[-1].value.int_value == 42
    for seq in (0, 1, 127, 128, 16_383, 16_384, 2**40, 2**63 - 1):  # each varint length
        parsed = LogRecord.FromString(record + seq_suffix(seq))
        assert parsed.attributes[-1].value.int_value == seq


def test_export_request_equals_the_official_message():
    records = [wire.log_record(ts_ns=1000 + i, body="x", attributes=[("k", i)]) for i in range(3)]
    ours = wire.export_logs_request([("service.name", "svc")], "scope", records)
    theirs = ExportLogsServiceRequest()
    rl = theirs.resource_logs.add()
    rl.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="svc")))
    sl = rl.scope_logs.add()
    sl.scope.CopyFrom(InstrumentationScope(name="scope"))
    for r in records:
        sl.log_records.add().MergeFromString(r)
    assert ExportLogsServiceRequest.FromString(ours) == theirs
    assert ours == theirs.SerializeToString()


def test_fast_span_encoding_equals_the_sdk_otlp_encoder():
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

    from orchestrator.span_export import encode_span

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "svc"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("scope")
    remote = SpanContext(2**100 + 3, 77, True, TraceFlags(TraceFlags.SAMPLED))
    with tracer.start_as_current_span("parent", kind=SpanKind.SERVER):
        child = tracer.start_span(
            "process q", kind=SpanKind.CONSUMER, links=[Link(remote)],
            attributes={"a": "x", "n": 5, "f": 1.5, "b": True},
        )  # fmt: skip
        child.set_status(Status(StatusCode.ERROR, "PortalTimeout"))
        child.end()
    root = tracer.start_span("root", kind=SpanKind.PRODUCER)
    root.end()
    spans = exporter.get_finished_spans()
    theirs = encode_spans(spans)
    ours_spans = [encode_span(s) for s in spans]
    for ours_bytes, their_span in zip(
        ours_spans, theirs.resource_spans[0].scope_spans[0].spans, strict=True
    ):
        from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

        assert PbSpan.FromString(ours_bytes) == their_span
    request = wire.export_traces_request([("service.name", "svc")], "scope", ours_spans)
    parsed = ExportTraceServiceRequest.FromString(request)
    assert list(parsed.resource_spans[0].scope_spans[0].spans) == list(
        theirs.resource_spans[0].scope_spans[0].spans
    )
