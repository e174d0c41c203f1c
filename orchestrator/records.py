"""Event records: one OTLP log record per work-item state change.

Records are serialized when the state change is written, in the same transaction, so the
outbox holds exactly the bytes the shipper sends and the collector stores.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import SEVERITY_NUMBER_INFO, LogRecord

from baton.contract import Attr, EventName


def event_id(*parts: object) -> str:
    """A deterministic event id: the same simulation with the same seed gives the same ids.

    Example:
        >>> event_id("case_1", 1, 1, "started") == event_id("case_1", 1, 1, "started")
        True
    """
    text = "|".join(str(p) for p in parts)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def span_id_for(*parts: object) -> int:
    """A deterministic, non-zero 64-bit span id for one span of a work item."""
    text = "|".join(str(p) for p in parts)
    value = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
    return value or 1


def _value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


def build_record(
    *,
    ts_ns: int,
    event_id: str,
    lifecycle: str,
    attributes: Mapping[str, Any],
    trace_id: int = 0,
    span_id: int = 0,
    event_name: str = EventName.WORK_ITEM,
) -> bytes:
    """A serialized ``LogRecord`` carrying the event's id and attributes.

    ``None`` attributes are left out rather than sent as empty strings. The record has no
    ``baton.seq`` yet: the outbox assigns it on insert and the shipper appends it with
    :func:`seq_suffix`, so records can be built outside the state store's write lock.
    """
    attrs = [
        KeyValue(key=Attr.EVENT_ID, value=AnyValue(string_value=event_id)),
        KeyValue(key=Attr.LIFECYCLE, value=AnyValue(string_value=lifecycle)),
    ]
    attrs.extend(KeyValue(key=k, value=_value(v)) for k, v in attributes.items() if v is not None)
    record = LogRecord(
        time_unix_nano=ts_ns,
        observed_time_unix_nano=ts_ns,
        severity_number=SEVERITY_NUMBER_INFO,
        severity_text="INFO",
        event_name=event_name,
        body=AnyValue(string_value=lifecycle),
        attributes=attrs,
        trace_id=trace_id.to_bytes(16, "big") if trace_id else b"",
        span_id=span_id.to_bytes(8, "big") if span_id else b"",
    )
    return record.SerializeToString()


def seq_suffix(seq: int) -> bytes:
    """Bytes that, appended to a serialized ``LogRecord``, add the ``baton.seq`` attribute.

    Protobuf merges concatenated messages and appends repeated fields, so this is exactly
    ``record.attributes.append(seq)`` without parsing the record.
    """
    return LogRecord(
        attributes=[KeyValue(key=Attr.SEQ, value=AnyValue(int_value=seq))]
    ).SerializeToString()
