"""A faster reading of span attributes: the same wire format, declared as a map of raw bytes.

Reading attributes through ``KeyValue``/``AnyValue`` objects costs about 1.3 µs each in
Python, most of the time ingest spends (FIELD-NOTES). On the wire, a repeated ``KeyValue``
(``string key = 1; AnyValue value = 2``) is byte for byte a ``map<string, bytes>``, so this
module parses ``ExportTraceServiceRequest`` with a copy of the schema in which
``Span.attributes`` is declared that way. upb then hands each span's attributes over as a dict
of key -> serialized ``AnyValue`` without creating a Python object per value, and
:func:`any_values` decodes the values of a whole request at once: strings (most values) with
NumPy slicing of one buffer, other kinds with a small cached decoder.

Map semantics also settle duplicate keys (the last one wins), which DuckDB's ``MAP`` type
would otherwise refuse for the whole batch.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from collector._values import STR, stringify

_SPAN = "opentelemetry.proto.trace.v1.Span"
_REQUEST = "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest"
_BYTES = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
_STRING = descriptor_pb2.FieldDescriptorProto.TYPE_STRING
_OPTIONAL = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
_WIRE_STRING = 0x0A  # field 1 (string_value), length-delimited
_WIRE_BOOL = 0x10  # field 2 (bool_value), varint
_WIRE_INT = 0x18  # field 3 (int_value), varint
_WIRE_DOUBLE = 0x21  # field 4 (double_value), fixed64
_CACHE_LIMIT = 8192
_unpack_double = struct.Struct("<d").unpack_from


def _request_class() -> Any:
    """``ExportTraceServiceRequest`` from a private pool, with map-typed span attributes."""
    pool = descriptor_pool.DescriptorPool()
    for module in (common_pb2, resource_pb2, trace_pb2, trace_service_pb2):
        proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(proto)
        if module is trace_pb2:
            span = next(m for m in proto.message_type if m.name == "Span")
            entry = span.nested_type.add(name="AttributesEntry")
            entry.options.map_entry = True
            entry.field.add(name="key", number=1, type=_STRING, label=_OPTIONAL, json_name="key")
            entry.field.add(name="value", number=2, type=_BYTES, label=_OPTIONAL, json_name="value")
            field = next(f for f in span.field if f.name == "attributes")
            field.type_name = f".{_SPAN}.AttributesEntry"
        pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(_REQUEST))


#: ``ExportTraceServiceRequest`` whose spans expose ``attributes`` as ``{key: AnyValue bytes}``.
FastTraceRequest: Any = _request_class()

_value_cache: dict[bytes, str | None] = {}


def any_values(raw: list[bytes]) -> pa.StringArray:
    """Serialized ``AnyValue`` messages as strings, read the way :func:`stringify` reads them.

    Strings shorter than 128 bytes (one-byte length) are cut out of one buffer with NumPy;
    everything else goes through :func:`any_value`.

    Raises:
        DecodeError: a value is not a valid ``AnyValue`` (or a string is not UTF-8).

    Example:
        >>> any_values([b"\\n\\x03GET", b"\\x18\\xc8\\x01", b"\\x10\\x01", b""]).to_pylist()
        ['GET', '200', 'true', None]
    """
    array = pa.array(raw, pa.binary())
    n = len(array)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32, count=n + 1)
    data = np.frombuffer(array.buffers()[2] or b"", dtype=np.uint8, count=int(offsets[-1]))
    starts, lengths = offsets[:-1], np.diff(offsets)
    long_enough = lengths >= 2
    tag = np.zeros(n, np.uint8)
    size = np.zeros(n, np.int32)
    tag[long_enough] = data[starts[long_enough]]
    size[long_enough] = data[starts[long_enough] + 1]
    short_string = long_enough & (tag == _WIRE_STRING) & (size < 0x80) & (lengths == size + 2)
    keep = np.repeat(short_string, lengths)
    keep[starts[short_string]] = False
    keep[starts[short_string] + 1] = False
    new_offsets = np.zeros(n + 1, np.int32)
    np.cumsum(np.where(short_string, lengths - 2, 0), out=new_offsets[1:])
    strings = pa.StringArray.from_buffers(
        n, pa.py_buffer(new_offsets), pa.py_buffer(data[keep].tobytes())
    )
    try:
        strings.validate(full=True)
    except pa.ArrowInvalid:
        raise DecodeError("an attribute string is not valid UTF-8") from None
    others = np.flatnonzero(~short_string)
    if len(others) == 0:
        return strings
    rest = pa.array([any_value(raw[i]) for i in others], STR)
    return pc.replace_with_mask(strings, pa.array(~short_string), rest)


def any_value(raw: bytes) -> str | None:
    """One serialized ``AnyValue`` as a string; scalars without building a message.

    Example:
        >>> any_value(b"\\x18\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x01")
        '-1'
    """
    cached = _value_cache.get(raw)
    if cached is not None:
        return cached
    tag = raw[0] if raw else 0
    if tag == _WIRE_DOUBLE and len(raw) == 9:
        return str(_unpack_double(raw, 1)[0])  # floats rarely repeat: not cached
    value: str | None
    if tag in (_WIRE_INT, _WIRE_BOOL) and _is_varint(raw):
        number = 0
        for shift, byte in enumerate(raw[1:]):
            number |= (byte & 0x7F) << (7 * shift)
        if tag == _WIRE_BOOL:
            value = "true" if number else "false"
        else:
            value = str(number - (1 << 64) if number >= 1 << 63 else number)
    else:
        value = stringify(common_pb2.AnyValue.FromString(raw))
    if len(_value_cache) < _CACHE_LIMIT:
        _value_cache[raw] = value
    return value


def _is_varint(raw: bytes) -> bool:
    """Whether ``raw[1:]`` is exactly one varint (and nothing after it)."""
    body = raw[1:]
    return 1 <= len(body) <= 10 and body[-1] < 0x80 and all(b >= 0x80 for b in body[:-1])
