"""Spans of an ``ExportTraceServiceRequest`` as one Arrow table, column by column.

Decoding is the stage that limits ingest (FIELD-NOTES: Python flattening, not parsing nor
inserting), so columns are gathered with one comprehension each over the spans of a scope,
attribute maps as flat key/value children plus offsets, and every per-row conversion that
Arrow can do (times, enums) is left to Arrow.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from collector._fastproto import FastTraceRequest, any_values
from collector._values import ATTRS, STR, TS, service_name

_LINK = pa.struct([("trace_id", STR), ("span_id", STR)])

#: Columns of a decoded span batch; the store adds ``seq`` in arrival order.
SPAN_SCHEMA = pa.schema(
    [
        ("trace_id", STR),
        ("span_id", STR),
        ("parent_span_id", STR),
        ("name", STR),
        ("kind", STR),
        ("start_ts", TS),
        ("end_ts", TS),
        ("status_code", STR),
        ("status_message", STR),
        ("service_name", STR),
        ("scope_name", STR),
        ("attributes", ATTRS),
        ("links", pa.list_(_LINK)),
    ]
)

_KIND_NAMES = [""] * (max(Span.SpanKind.values()) + 1)
for _name, _value in Span.SpanKind.items():
    _KIND_NAMES[_value] = _name.removeprefix("SPAN_KIND_")
_STATUS_NAMES = [""] * (max(Status.StatusCode.values()) + 1)
for _name, _value in Status.StatusCode.items():
    _STATUS_NAMES[_value] = _name.removeprefix("STATUS_CODE_")
_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)


class SpanColumns:
    """Column lists for spans, filled scope by scope and turned into one table at the end."""

    def __init__(self) -> None:
        self.trace_id: list[bytes] = []
        self.span_id: list[bytes] = []
        self.parent_span_id: list[bytes] = []
        self.name: list[str] = []
        self.kind: list[int] = []
        self.start: list[int] = []
        self.end: list[int] = []
        self.status_code: list[int] = []
        self.status_message: list[str] = []
        self.service_name: list[str | None] = []
        self.scope_name: list[str | None] = []
        self.attr_offsets: list[int] = [0]
        self.attr_keys: list[str] = []
        self.attr_raw: list[bytes] = []
        self.link_offsets: list[int] = [0]
        self.links: list[dict[str, str | None]] = []

    def add_scope(self, spans: list[Span], service: str | None, scope: str | None) -> None:
        """Append every span of one scope; ids are checked afterwards, all at once."""
        self.trace_id += [s.trace_id for s in spans]
        self.span_id += [s.span_id for s in spans]
        self.parent_span_id += [s.parent_span_id for s in spans]
        self.name += [s.name for s in spans]
        self.kind += [s.kind for s in spans]
        self.start += [s.start_time_unix_nano for s in spans]
        self.end += [s.end_time_unix_nano for s in spans]
        statuses = [s.status for s in spans]
        self.status_code += [st.code for st in statuses]
        self.status_message += [st.message for st in statuses]
        self.service_name += [service] * len(spans)
        self.scope_name += [scope] * len(spans)
        keys, raw_values, offsets = self.attr_keys, self.attr_raw, self.attr_offsets
        link_offsets, links = self.link_offsets, self.links
        for span in spans:
            attributes = span.attributes  # {key: serialized AnyValue}, see _fastproto
            names = list(attributes)
            keys += names
            raw_values += map(attributes.__getitem__, names)
            offsets.append(len(keys))
            span_links = span.links
            if span_links:
                links += [
                    {"trace_id": lk.trace_id.hex(), "span_id": lk.span_id.hex()}
                    for lk in span_links
                ]
            link_offsets.append(len(links))

    def invalid_rows(self) -> list[tuple[int, str]]:
        """Rows that break the OTLP spec, with the reason.

        Ids of the wrong length or all zeros are invalid; start and end times are
        "semantically required", and de-duplication and event mapping rely on them.
        """
        bad: list[tuple[int, str]] = []
        rows = zip(
            self.trace_id, self.span_id, self.parent_span_id, self.start, self.end, strict=True
        )
        for row, (trace_id, span_id, parent, start, end) in enumerate(rows):
            if len(trace_id) != 16 or trace_id == _ZERO_TRACE:
                bad.append((row, f"span {row}: trace_id must be 16 non-zero bytes"))
            elif len(span_id) != 8 or span_id == _ZERO_SPAN:
                bad.append((row, f"span {row}: span_id must be 8 non-zero bytes"))
            elif parent and len(parent) != 8:
                bad.append((row, f"span {row}: parent_span_id must be empty or 8 bytes"))
            elif not start or not end:
                bad.append((row, f"span {row}: start and end times are required"))
        return bad

    def table(self) -> pa.Table:
        """The spans as one table of :data:`SPAN_SCHEMA`."""
        columns: dict[str, Any] = {
            "trace_id": pa.array([t.hex() for t in self.trace_id], STR),
            "span_id": pa.array([s.hex() for s in self.span_id], STR),
            "parent_span_id": pa.array([p.hex() or None for p in self.parent_span_id], STR),
            "name": pa.array(self.name, STR),
            "kind": _names(self.kind, _KIND_NAMES),
            "start_ts": _timestamps(self.start),
            "end_ts": _timestamps(self.end),
            "status_code": _names(self.status_code, _STATUS_NAMES),
            "status_message": pa.array([m or None for m in self.status_message], STR),
            "service_name": pa.array(self.service_name, STR),
            "scope_name": pa.array(self.scope_name, STR),
            "attributes": pa.MapArray.from_arrays(
                pa.array(self.attr_offsets, pa.int32()),
                pa.array(self.attr_keys, STR),
                any_values(self.attr_raw),
                type=ATTRS,
            ),
            "links": pa.ListArray.from_arrays(
                pa.array(self.link_offsets, pa.int32()), pa.array(self.links, _LINK)
            ),
        }
        return pa.table(columns, schema=SPAN_SCHEMA)


def decode_span_request(body: bytes) -> tuple[pa.Table, list[str]]:
    """The valid spans of a serialized request as a table, and one message per span left out.

    Raises:
        DecodeError: ``body`` is not an ``ExportTraceServiceRequest``.
    """
    request = FastTraceRequest.FromString(body)
    cols = SpanColumns()
    for resource_spans in request.resource_spans:
        service = service_name(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            cols.add_scope(list(scope_spans.spans), service, scope_spans.scope.name or None)
    table = cols.table()
    bad = cols.invalid_rows()
    if bad:
        keep = pa.array([True] * table.num_rows)
        mask = keep.to_pylist()
        for row, _ in bad:
            mask[row] = False
        table = table.filter(pa.array(mask))
    return table, [reason for _, reason in bad]


def _timestamps(unix_nanos: list[int]) -> pa.Array:
    """Nanosecond integers as microsecond timestamps; 0 (unset) becomes null."""
    micros = pc.divide(pa.array(unix_nanos, pa.uint64()), pa.scalar(1000, pa.uint64()))
    micros = micros.cast(pa.int64())
    return pc.if_else(pc.equal(micros, 0), pa.scalar(None, pa.int64()), micros).cast(TS)


def _names(codes: list[int], names: list[str]) -> pa.Array:
    """Enum numbers as their names; a number this version does not know stays a number."""
    if all(0 <= code < len(names) for code in codes):
        return pc.take(pa.array(names, STR), pa.array(codes, pa.int32()))
    return pa.array([names[code] if 0 <= code < len(names) else str(code) for code in codes], STR)
