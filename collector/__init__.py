"""The collector: an OTLP/HTTP receiver that owns Baton's DuckDB file and serves queries.

It knows OTLP and DuckDB, not the orchestrator's code: anything that speaks OTLP/HTTP
(protobuf or JSON) can send to it, and anything that speaks HTTP can ask it for
:mod:`mining` figures and event slices.
"""

from collector._endpoint import collector_url
from collector.config import CollectorSettings, Role, load_settings
from collector.errors import (
    CollectorError,
    DatabaseLocked,
    Forbidden,
    InvalidPayload,
    Overloaded,
    PayloadTooLarge,
    StoreNotFound,
    Unauthorized,
    UnsupportedMediaType,
)
from collector.mapping import spans_to_events
from collector.otlp import Decoded, DecodeOptions, Signal, decode, decode_logs, decode_traces
from collector.server import close_app, create_app
from collector.store import Store, open_readonly

__all__ = [
    "CollectorError",
    "CollectorSettings",
    "DatabaseLocked",
    "DecodeOptions",
    "Decoded",
    "Forbidden",
    "InvalidPayload",
    "Overloaded",
    "PayloadTooLarge",
    "Role",
    "Signal",
    "Store",
    "StoreNotFound",
    "Unauthorized",
    "UnsupportedMediaType",
    "close_app",
    "collector_url",
    "create_app",
    "decode",
    "decode_logs",
    "decode_traces",
    "load_settings",
    "open_readonly",
    "spans_to_events",
]
