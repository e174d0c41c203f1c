"""The collector: an OTLP/HTTP receiver that owns Baton's DuckDB file and serves queries.

It knows OTLP and DuckDB, not the orchestrator's code: anything that speaks OTLP/HTTP
protobuf can send to it, and anything that speaks HTTP can ask it for :mod:`mining` figures.
"""

from collector.config import CollectorSettings, load_settings
from collector.errors import (
    CollectorError,
    DatabaseLocked,
    InvalidPayload,
    PayloadTooLarge,
    StoreNotFound,
    UnsupportedMediaType,
)
from collector.otlp import decode_logs, decode_traces
from collector.server import create_app
from collector.store import Store, open_readonly

__all__ = [
    "CollectorError",
    "CollectorSettings",
    "DatabaseLocked",
    "InvalidPayload",
    "PayloadTooLarge",
    "Store",
    "StoreNotFound",
    "UnsupportedMediaType",
    "create_app",
    "decode_logs",
    "decode_traces",
    "load_settings",
    "open_readonly",
]
