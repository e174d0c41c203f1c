"""OTLP log records and spans encoded straight to protobuf bytes, for the hot path.

Building ``LogRecord`` objects with the protobuf runtime costs tens of microseconds per event
(one Python object per attribute); a handoff writes three events. Protobuf's wire format is
stable and simple, and most attribute pairs repeat (workflow, queue, payer, site), so their
encoded bytes are cached and an event is a handful of concatenations. Tests check every
byte against the official ``opentelemetry-proto`` messages.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable
from typing import Any

_VARINT, _FIXED64, _LEN = 0, 1, 2


def _varint(value: int) -> bytes:
    value &= 0xFFFF_FFFF_FFFF_FFFF
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL = tuple(_varint(i) for i in range(1 << 14))


def varint(value: int) -> bytes:
    """Base-128 varint; negative int64 values take ten bytes, as protobuf encodes them."""
    if 0 <= value < 16384:
        return _SMALL[value]
    return _varint(value)


def _tag(field: int, wire: int) -> bytes:
    return varint((field << 3) | wire)


_LEN_TAGS = tuple(_tag(f, _LEN) for f in range(32))


def field_bytes(field: int, payload: bytes) -> bytes:
    """A length-delimited field (string, bytes or embedded message)."""
    size = len(payload)
    return _LEN_TAGS[field] + (_SMALL[size] if size < 16384 else _varint(size)) + payload


def _any_value(value: Any) -> bytes:
    if isinstance(value, bool):
        return _tag(2, _VARINT) + varint(int(value))
    if isinstance(value, int):
        return _tag(3, _VARINT) + varint(value)
    if isinstance(value, float):
        return _tag(4, _FIXED64) + struct.pack("<d", value)
    return field_bytes(1, str(value).encode())


_KV_CACHE: dict[tuple[int, str, Any, type], bytes] = {}
_KV_CACHE_MAX = 65536


def key_value(key: str, value: Any, field: int = 6) -> bytes:
    """An attributes entry (``LogRecord`` field 6, ``Span`` field 9), cached for repeats.

    For values that rarely repeat (item ids, due times) use :func:`key_value_once`: they
    would only push the repeating pairs out of the cache.
    """
    # The type is part of the key: True, 1 and 1.0 are equal in Python but not on the wire.
    cache_key = (field, key, value, type(value))
    encoded = _KV_CACHE.get(cache_key)
    if encoded is None:
        encoded = field_bytes(
            field, field_bytes(1, key.encode()) + field_bytes(2, _any_value(value))
        )
        if len(_KV_CACHE) >= _KV_CACHE_MAX:
            _KV_CACHE.clear()  # values that vary (ids, times) must not grow it without bound
        _KV_CACHE[cache_key] = encoded
    return encoded


def key_value_once(key: str, value: Any, field: int = 6) -> bytes:
    """:func:`key_value` without the cache, for values that will not come again."""
    return field_bytes(field, field_bytes(1, key.encode()) + field_bytes(2, _any_value(value)))


@functools.lru_cache(maxsize=64)
def _severity(number: int, text: str) -> bytes:
    return b"\x10" + varint(number) + field_bytes(3, text.encode())


@functools.lru_cache(maxsize=256)
def _body(text: str) -> bytes:
    return field_bytes(5, field_bytes(1, text.encode()))


def log_record(
    *,
    ts_ns: int,
    body: str,
    attributes: Iterable[tuple[str, Any]],
    trace_id: int = 0,
    span_id: int = 0,
    event_name: str = "",
    severity_number: int = 9,
    severity_text: str = "INFO",
    encoded: bytes = b"",
) -> bytes:
    """A serialized ``LogRecord`` (observed time = time; ``None`` attributes left out).

    ``encoded`` is attribute entries already encoded (:func:`key_value`), placed before
    ``attributes``: a caller writing several records of one work item encodes the item's
    attributes once.
    """
    fixed_ts = struct.pack("<Q", ts_ns)
    parts = [
        b"\x09" + fixed_ts,  # time_unix_nano
        _severity(severity_number, severity_text),
        _body(body),
        encoded,
    ]
    parts.extend([key_value(k, v) for k, v in attributes if v is not None])
    if trace_id:
        parts.append(field_bytes(9, trace_id.to_bytes(16, "big")))
    if span_id:
        parts.append(field_bytes(10, span_id.to_bytes(8, "big")))
    parts.append(b"\x59" + fixed_ts)  # observed_time_unix_nano (field 11, fixed64)
    if event_name:
        parts.append(field_bytes(12, event_name.encode()))
    return b"".join(parts)


_KIND = tuple(b"\x30" + varint(k) if k else b"" for k in range(8))
_NAMES: dict[str, bytes] = {}
_STATUSES: dict[tuple[int, str], bytes] = {}


def _status(code: int, message: str) -> bytes:
    encoded = _STATUSES.get((code, message))
    if encoded is None:
        status = field_bytes(2, message.encode()) if message else b""
        if code:
            status += b"\x18" + varint(code)
        encoded = field_bytes(15, status)
        if len(_STATUSES) < 4096:  # messages are error types: few, but not trusted to be
            _STATUSES[(code, message)] = encoded
    return encoded


def span(
    *,
    trace_id: int,
    span_id: int,
    parent_span_id: int,
    name: str,
    kind: int,
    start_ns: int,
    end_ns: int,
    attributes: Iterable[tuple[str, Any]],
    links: Iterable[tuple[int, int, int]],
    status_code: int,
    status_message: str,
    flags: int,
) -> bytes:
    """A serialized ``Span``; ``kind`` and ``status_code`` in OTLP's numbering, ``links`` as
    (trace id, span id, flags).

    This runs once per span on the export thread, so the fixed-size fields are written with
    their tags inline and repeating parts (name, status, attribute pairs) come from caches.
    """
    # Tags: 1 trace_id (0x0a, 16 bytes), 2 span_id (0x12, 8), 4 parent (0x22, 8), 5 name,
    # 6 kind (0x30), 7/8 start/end (0x39/0x41), 9 attributes, 13 links, 15 status, 16 flags.
    parts = [b"\x0a\x10" + trace_id.to_bytes(16, "big") + b"\x12\x08" + span_id.to_bytes(8, "big")]
    if parent_span_id:
        parts.append(b"\x22\x08" + parent_span_id.to_bytes(8, "big"))
    encoded_name = _NAMES.get(name)
    if encoded_name is None:
        encoded_name = field_bytes(5, name.encode())
        if len(_NAMES) < 4096:
            _NAMES[name] = encoded_name
    parts.append(encoded_name + _KIND[kind] + struct.pack("<BQBQ", 0x39, start_ns, 0x41, end_ns))
    cache = _KV_CACHE
    for k, v in attributes:
        if v is not None:
            encoded = cache.get((9, k, v, type(v)))
            parts.append(encoded if encoded is not None else key_value(k, v, 9))
    for link_trace, link_span, link_flags in links:
        link = b"\x0a\x10" + link_trace.to_bytes(16, "big") + b"\x12\x08"
        link += link_span.to_bytes(8, "big")
        if link_flags:
            link += b"\x35" + struct.pack("<I", link_flags)
        parts.append(field_bytes(13, link))
    parts.append(_status(status_code, status_message))
    if flags:
        parts.append(b"\x85\x01" + struct.pack("<I", flags))
    return b"".join(parts)


def export_traces_request(
    resource: Iterable[tuple[str, Any]], scope_name: str, spans: Iterable[bytes]
) -> bytes:
    """An ``ExportTraceServiceRequest`` with one resource and one scope, from span bytes."""
    return _export_request(resource, scope_name, spans)


def _export_request(
    resource: Iterable[tuple[str, Any]], scope_name: str, items: Iterable[bytes]
) -> bytes:
    # Logs and traces share the layout: request{1: resource_x{1: resource, 2: scope_x{1:
    # scope, 2: item...}}}.
    resource_attrs = b"".join(
        field_bytes(1, field_bytes(1, k.encode()) + field_bytes(2, _any_value(v)))
        for k, v in resource
    )
    scope = field_bytes(1, field_bytes(1, scope_name.encode()))
    scoped = field_bytes(2, scope + b"".join(field_bytes(2, i) for i in items))
    return field_bytes(1, field_bytes(1, resource_attrs) + scoped)


def export_logs_request(
    resource: Iterable[tuple[str, Any]], scope_name: str, records: Iterable[bytes]
) -> bytes:
    """An ``ExportLogsServiceRequest`` with one resource and one scope, from record bytes."""
    return _export_request(resource, scope_name, records)
