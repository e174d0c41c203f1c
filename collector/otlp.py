"""Pure OTLP decoding: request bodies (protobuf or JSON) in, Arrow tables out.

No I/O here, so decoding is unit-tested with hand-built messages, runs unchanged in worker
processes (:mod:`collector.decoding`), and the store never sees protobuf. Items that break
the spec or the telemetry contract are left out one by one and counted, so the receiver can
answer with ``partial_success`` instead of refusing good data beside them.
"""

from __future__ import annotations

import binascii
import dataclasses
import enum
import json
from typing import Any

import pyarrow as pa
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from collector.allowlist import filter_attributes, key_regex
from collector.errors import InvalidPayload
from collector.mapping import spans_to_events
from collector.otlp_logs import EVENT_SCHEMA, LOG_RECORD_SCHEMA, decode_log_request
from collector.otlp_metrics import METRIC_SCHEMA, decode_metric_request
from collector.otlp_spans import SPAN_SCHEMA, decode_span_request

__all__ = [
    "EVENT_SCHEMA",
    "LOG_RECORD_SCHEMA",
    "METRIC_SCHEMA",
    "SPAN_SCHEMA",
    "DecodeOptions",
    "Decoded",
    "Signal",
    "decode",
    "decode_logs",
    "decode_traces",
]

#: OTLP/JSON fields holding ids that are hex on the wire but ``bytes`` in the schema.
_HEX_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId"})
#: How many rejection reasons a ``partial_success.error_message`` quotes.
_MAX_REASONS = 3


class Signal(enum.Enum):
    """One OTLP/HTTP endpoint: its path, messages, and the name of its rejected count."""

    TRACES = ("/v1/traces", ExportTraceServiceRequest, ExportTraceServiceResponse, "spans")
    LOGS = ("/v1/logs", ExportLogsServiceRequest, ExportLogsServiceResponse, "log_records")
    METRICS = (
        "/v1/metrics",
        ExportMetricsServiceRequest,
        ExportMetricsServiceResponse,
        "data_points",
    )

    def __init__(self, path: str, request: type[Message], response: type[Message], item: str):
        self.path = path
        self.request_type = request
        self.response_type = response
        self.item = item

    def answer(self, rejected: int = 0, message: str = "") -> Message:
        """The ``Export*ServiceResponse``; ``partial_success`` only when something was left out."""
        response = self.response_type()
        if rejected or message:
            partial = response.partial_success  # type: ignore[attr-defined]
            setattr(partial, f"rejected_{self.item}", rejected)
            partial.error_message = message
        return response


@dataclasses.dataclass(frozen=True)
class DecodeOptions:
    """How spans of other sources become events (see :mod:`collector.mapping`), and which
    attributes are kept (:mod:`collector.allowlist`; None keeps all)."""

    map_spans: bool = True
    case_attribute: str | None = None
    attribute_allowlist: tuple[str, ...] | None = None


@dataclasses.dataclass(frozen=True)
class Decoded:
    """One request, decoded: rows per table, and what was left out and why."""

    rows: dict[str, pa.Table]
    rejected: int = 0
    reasons: tuple[str, ...] = ()

    @property
    def nbytes(self) -> int:
        """Memory the rows hold, for the writer queue's byte bound."""
        return sum(table.nbytes for table in self.rows.values())

    @property
    def message(self) -> str:
        """``partial_success.error_message``: how many were rejected, and the first reasons."""
        if not self.rejected:
            return ""
        shown = "; ".join(self.reasons[:_MAX_REASONS])
        more = len(self.reasons) - _MAX_REASONS
        return f"rejected {self.rejected}: {shown}" + (f"; and {more} more" if more > 0 else "")


def decode(
    signal: Signal, body: bytes, is_json: bool = False, options: DecodeOptions | None = None
) -> Decoded:
    """Decode one request body of ``signal``; module-level so worker processes can run it.

    Raises:
        InvalidPayload: the body is not a decodable request of that signal.

    Example:
        >>> decode(Signal.TRACES, b'{"resourceSpans": []}', is_json=True).rows["spans"].num_rows
        0
    """
    options = options or DecodeOptions()
    if is_json:
        message = _parse_json(signal, body)
        if signal is Signal.TRACES:  # one span decoder for both encodings
            body, is_json = message.SerializeToString(), False
    try:
        if signal is Signal.TRACES:
            spans, reasons = decode_span_request(body)
            spans = _allowed(spans, options)  # before mapping: dropped values reach no table
            rows = {"spans": spans}
            if options.map_spans:
                rows["events"] = spans_to_events(spans, options.case_attribute)
        elif signal is Signal.LOGS:
            request = message if is_json else ExportLogsServiceRequest.FromString(body)
            events, log_records, reasons = decode_log_request(request)
            rows = {
                "events": _allowed(events, options),
                "log_records": _allowed(log_records, options),
            }
        else:
            request = message if is_json else ExportMetricsServiceRequest.FromString(body)
            metrics, reasons = decode_metric_request(request)
            rows = {"metrics": _allowed(metrics, options)}
    except DecodeError as exc:
        name = signal.request_type.__name__
        raise InvalidPayload(f"body is not a valid {name} protobuf: {exc}") from None
    return Decoded(rows, len(reasons), tuple(dict.fromkeys(reasons)))


def _allowed(table: pa.Table, options: DecodeOptions) -> pa.Table:
    if options.attribute_allowlist is None:
        return table
    regex = key_regex(options.attribute_allowlist, options.case_attribute)
    return filter_attributes(table, regex)


def decode_traces(body: bytes) -> pa.Table:
    """Spans of a protobuf ``ExportTraceServiceRequest`` as one table of :data:`SPAN_SCHEMA`.

    Spans with invalid ids are left out; :func:`decode` also says how many.

    Example:
        >>> decode_traces(b"").num_rows
        0
    """
    return decode(Signal.TRACES, body, options=DecodeOptions(map_spans=False)).rows["spans"]


def decode_logs(body: bytes) -> tuple[pa.Table, pa.Table]:
    """Split a protobuf ``ExportLogsServiceRequest`` into ``events`` rows and other records.

    Strict, for callers that store a whole file or nothing: a work-item record without an
    event id or with a non-integer ``seq``/``attempt``/``priority``/``due_ts`` raises
    :class:`InvalidPayload`. The receiver uses :func:`decode`, which leaves such records out.

    Example:
        >>> events, log_records = decode_logs(b"")
        >>> events.column_names[:3], log_records.num_rows
        (['event_id', 'seq', 'case_id'], 0)
    """
    decoded = decode(Signal.LOGS, body)
    if decoded.rejected:
        raise InvalidPayload(decoded.reasons[0])
    return decoded.rows["events"], decoded.rows["log_records"]


def _parse_json(signal: Signal, body: bytes) -> Any:
    """An OTLP/JSON body as the request message.

    ``json_format`` reads ``bytes`` fields as base64, but OTLP/JSON writes trace and span ids
    as hex, so ids are converted first; unknown fields are ignored, as the spec requires.
    """
    name = signal.request_type.__name__
    try:
        document = json.loads(body) if body.strip() else {}  # empty request: success
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidPayload(f"body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidPayload(f"body is not a JSON {name} object")
    _hex_ids_to_base64(document)
    try:
        return json_format.ParseDict(document, signal.request_type(), ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise InvalidPayload(f"body is not a valid {name} in OTLP/JSON: {exc}") from None


def _hex_ids_to_base64(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _HEX_ID_FIELDS and isinstance(value, str):
                node[key] = _hex_to_base64(key, value)
            else:
                _hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids_to_base64(item)


def _hex_to_base64(key: str, value: str) -> str:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise InvalidPayload(f"{key} {value!r} is not hex") from None
    return binascii.b2a_base64(raw, newline=False).decode() if raw else ""
