"""Log records of an ``ExportLogsServiceRequest``: work-item events and everything else.

A record is a work-item event when its ``event_name`` is ``baton.work_item`` or it carries
``baton.event_id``; it becomes one row of ``events``. Other records (heartbeats, logs of any
OTel source) go to ``log_records``. An event without an event id, or with a non-integer
``seq``/``attempt``/``priority``/``due_ts``, is rejected on its own and reported in
``partial_success``: a keyless event could never be de-duplicated, and refusing the whole
request would hold back every good record beside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from baton.contract import EVENT_COLUMN_ATTRS, EVENT_COLUMNS, Attr, EventName
from collector._values import ATTRS, STR, TS, hex_id, micros, service_name, stringify

_ARROW_TYPES = {
    "VARCHAR": STR,
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "TIMESTAMP": TS,
    "MAP(VARCHAR, VARCHAR)": ATTRS,
}

#: Columns of the ``events`` table, derived from the contract so they are written once.
EVENT_SCHEMA = pa.schema([(name, _ARROW_TYPES[kind]) for name, kind in EVENT_COLUMNS])

#: Columns of log records that are not work-item events (heartbeats and foreign logs).
LOG_RECORD_SCHEMA = pa.schema(
    [
        ("ts", TS),
        ("event_name", STR),
        ("severity_text", STR),
        ("body", STR),
        ("service_name", STR),
        ("trace_id", STR),
        ("span_id", STR),
        ("attributes", ATTRS),
    ]
)

#: Columns whose attribute must hold an integer; ``baton.due_ts`` is unix microseconds.
_INT_COLUMNS = frozenset(n for n, kind in EVENT_COLUMNS if kind in ("BIGINT", "INTEGER")) | {
    "due_ts"
}
_ATTR_TO_COLUMN = {attr: column for column, attr in EVENT_COLUMN_ATTRS.items()}


class RejectedRecord(ValueError):
    """One record breaks the contract; the rest of its request is still stored."""


def decode_log_request(
    request: ExportLogsServiceRequest,
) -> tuple[pa.Table, pa.Table, list[str]]:
    """``events`` rows, other log records, and one message per rejected record."""
    events: dict[str, list[Any]] = {name: [] for name in EVENT_SCHEMA.names}
    others: dict[str, list[Any]] = {name: [] for name in LOG_RECORD_SCHEMA.names}
    rejected: list[str] = []
    for service, record in _log_records(request):
        attrs = {kv.key: kv.value for kv in record.attributes}  # duplicate keys: last wins
        if record.event_name == EventName.WORK_ITEM or Attr.EVENT_ID in attrs:
            try:
                row = _event_row(record, attrs)
            except RejectedRecord as exc:
                rejected.append(str(exc))
                continue
            for name, values in events.items():
                values.append(row.get(name))
        else:
            others["ts"].append(_record_micros(record))
            others["event_name"].append(record.event_name or None)
            others["severity_text"].append(record.severity_text or None)
            others["body"].append(stringify(record.body))
            others["service_name"].append(service)
            others["trace_id"].append(hex_id(record.trace_id))
            others["span_id"].append(hex_id(record.span_id))
            others["attributes"].append([(k, stringify(v)) for k, v in attrs.items()])
    return (
        pa.table(events, schema=EVENT_SCHEMA),
        pa.table(others, schema=LOG_RECORD_SCHEMA),
        rejected,
    )


def _log_records(request: ExportLogsServiceRequest) -> Iterator[tuple[str | None, LogRecord]]:
    for resource_logs in request.resource_logs:
        service = service_name(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                yield service, record


def _event_row(record: LogRecord, attrs: dict[str, AnyValue]) -> dict[str, Any]:
    event_id = stringify(attrs[Attr.EVENT_ID]) if Attr.EVENT_ID in attrs else None
    if not event_id:
        raise RejectedRecord(f"a {EventName.WORK_ITEM} log record has no {Attr.EVENT_ID}")
    row: dict[str, Any] = {}
    rest: list[tuple[str, str | None]] = []
    for key, value in attrs.items():
        column = _ATTR_TO_COLUMN.get(key)
        if column is None:
            rest.append((key, stringify(value)))
        elif column in _INT_COLUMNS:
            row[column] = _integer(value, key, event_id)
        else:
            row[column] = stringify(value)
    row["ts"] = _record_micros(record)
    if row["ts"] is None:
        raise RejectedRecord(f"event {event_id} has neither time nor observed time")
    row["trace_id"] = hex_id(record.trace_id)
    row["span_id"] = hex_id(record.span_id)
    row["attributes"] = rest
    return row


def _integer(value: AnyValue, key: str, event_id: str) -> int | None:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "int_value":
        return int(value.int_value)
    if which == "string_value":
        try:
            return int(value.string_value)
        except ValueError:
            pass
    raise RejectedRecord(f"event {event_id}: {key} must be an integer, not {stringify(value)!r}")


def _record_micros(record: LogRecord) -> int | None:
    return micros(record.time_unix_nano or record.observed_time_unix_nano)
