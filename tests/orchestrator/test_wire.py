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
    assert [kv.key for kv in parsed.attributes] == ["baton.event_id", "baton.lifecycle", "baton.seq"]
    assert parsed.attributes[-1].value.int_value == 42


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
