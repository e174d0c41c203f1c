"""Turning OTLP values into the strings and numbers Baton's tables hold.

Every attribute is stored as a string in a ``MAP(VARCHAR, VARCHAR)`` column, so one set of
rules (here) decides how a boolean, a number, bytes or an array reads once stored.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from baton.contract import Attr

STR = pa.string()
TS = pa.timestamp("us")
ATTRS = pa.map_(pa.string(), pa.string())


def stringify(value: AnyValue) -> str | None:
    """One string per value, so attributes fit a ``MAP(VARCHAR, VARCHAR)`` column.

    Booleans read as OpenTelemetry writes them (``true``), bytes as OTLP/JSON does (base64),
    arrays and maps as JSON.
    """
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which is None:
        return None
    if which in ("array_value", "kvlist_value"):
        return json.dumps(_native(value))
    return str(_scalar(value, which))


def _scalar(value: AnyValue, which: str) -> Any:
    if which == "bool_value":
        return "true" if value.bool_value else "false"
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, which)


def _native(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return [_native(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _native(kv.value) for kv in value.kvlist_value.values}
    if which in ("bool_value", "int_value", "double_value", "string_value"):
        return getattr(value, which)
    return None if which is None else _scalar(value, which)


def append_pairs(attributes: Iterable[KeyValue], keys: list[str], values: list[str | None]) -> None:
    """Append ``attributes`` to flat key and value lists (the children of a map column).

    String values, by far the most common, take the short path: flattening attributes is the
    most expensive step of decoding a request (FIELD-NOTES), so it avoids every call it can.
    """
    add_key, add_value = keys.append, values.append
    for kv in attributes:
        add_key(kv.key)
        value = kv.value
        text = value.string_value
        if text:
            add_value(text)
            continue
        which = value.WhichOneof("value")
        if which == "int_value":
            add_value(str(value.int_value))
        elif which == "bool_value":
            add_value("true" if value.bool_value else "false")
        elif which == "double_value":
            add_value(str(value.double_value))
        else:
            add_value(stringify(value))


def string_pairs(attributes: Iterable[KeyValue]) -> list[tuple[str, str | None]]:
    """Attributes as ``(key, string)`` pairs, for one row of a map column."""
    return [(kv.key, stringify(kv.value)) for kv in attributes]


def map_array(offsets: list[int], keys: list[str], values: list[str | None]) -> pa.MapArray:
    """A ``MAP(VARCHAR, VARCHAR)`` column from flat children, without nested Python lists."""
    return pa.MapArray.from_arrays(
        pa.array(offsets, pa.int32()), pa.array(keys, STR), pa.array(values, STR), type=ATTRS
    )


def service_name(attributes: Iterable[KeyValue]) -> str | None:
    """``service.name`` of a resource, or ``None`` when the sender did not say."""
    for kv in attributes:
        if kv.key == Attr.SERVICE_NAME:
            return stringify(kv.value)
    return None


def hex_id(raw: bytes) -> str | None:
    """A trace or span id as lowercase hex, as W3C trace context and OTLP/JSON write it."""
    return raw.hex() if raw else None


def micros(unix_nano: int) -> int | None:
    """Nanoseconds since the epoch to microseconds (DuckDB's precision); 0 means unset."""
    return unix_nano // 1000 if unix_nano else None
