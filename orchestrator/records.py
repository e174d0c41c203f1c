"""Event records: one OTLP log record per work-item state change.

Records are serialized when the state change is written, in the same transaction, so the
outbox holds exactly the bytes the shipper sends and the collector stores.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from typing import Any

from baton.contract import Attr, EventName
from orchestrator import wire


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


def build_record(
    *,
    ts_ns: int,
    event_id: str,
    lifecycle: str,
    attributes: Mapping[str, Any],
    trace_id: int = 0,
    span_id: int = 0,
    event_name: str = EventName.WORK_ITEM,
    encoded: bytes = b"",
) -> bytes:
    """A serialized ``LogRecord`` carrying the event's id and attributes.

    ``None`` attributes are left out rather than sent as empty strings. The record has no
    ``baton.seq`` yet: the outbox assigns it on insert and the shipper appends it with
    :func:`seq_suffix`, so records can be built outside the state store's write lock.
    ``encoded`` (from :func:`encode_attributes`) comes before ``attributes``.
    """
    # Only work-item records carry the event id and lifecycle: those two attributes are how
    # any receiver tells a row of the event log from a heartbeat or a clock tick.
    if event_name == EventName.WORK_ITEM:
        encoded = (
            wire.key_value_once(Attr.EVENT_ID, event_id)
            + wire.key_value(Attr.LIFECYCLE, lifecycle)
            + encoded
        )
    return wire.log_record(
        ts_ns=ts_ns,
        body=lifecycle,
        attributes=attributes.items(),
        trace_id=trace_id,
        span_id=span_id,
        event_name=event_name,
        encoded=encoded,
    )


def encode_attributes(attributes: Mapping[str, Any], once: Collection[str] = ()) -> bytes:
    """Record attributes encoded ahead, for several records sharing them (``None`` left out).

    Keys in ``once`` have values that will not repeat (ids, times): they skip the cache.
    """
    return b"".join(
        [
            wire.key_value_once(k, v) if k in once else wire.key_value(k, v)
            for k, v in attributes.items()
            if v is not None
        ]
    )


_SEQ_KEY = wire.field_bytes(1, Attr.SEQ.encode())


def seq_suffix(seq: int) -> bytes:
    """Bytes that, appended to a serialized ``LogRecord``, add the ``baton.seq`` attribute.

    Protobuf merges concatenated messages and appends repeated fields, so this is exactly
    ``record.attributes.append(seq)`` without parsing the record. The shipper calls it for
    every record it sends, so only the number is encoded here: the key's bytes are fixed.
    """
    value = b"\x18" + wire.varint(seq)  # AnyValue.int_value
    entry = _SEQ_KEY + b"\x12" + bytes((len(value),)) + value  # KeyValue: key, value
    return b"\x32" + bytes((len(entry),)) + entry  # LogRecord.attributes (field 6)
