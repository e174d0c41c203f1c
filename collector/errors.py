"""Errors of the collector.

Hierarchy::

    CollectorError (BatonError)
    ├── InvalidPayload        the body is not a decodable OTLP request, or breaks the contract
    ├── PayloadTooLarge       the body (or what it decompresses to) is over the size limit
    ├── UnsupportedMediaType  content type or content encoding the receiver does not speak
    ├── DatabaseLocked        another process holds the DuckDB file
    └── StoreNotFound         the DuckDB file to read does not exist (also FileNotFoundError)

The HTTP handlers turn the first three into 400, 413 and 415 answers; the CLI prints any of
them as one line, because each message already says what to do.
"""

from __future__ import annotations

from pathlib import Path

from baton.errors import BatonError


class CollectorError(BatonError):
    """Root of every collector error."""


class InvalidPayload(CollectorError):
    """The request body cannot be decoded, or a record breaks the telemetry contract.

    Nothing of such a request is stored: a half-stored batch would be stored again in full
    when an at-least-once sender retries it.
    """


class PayloadTooLarge(CollectorError):
    """The body is over ``max_body_bytes``, before or after decompression."""


class UnsupportedMediaType(CollectorError):
    """The content type or content encoding is not one the receiver decodes."""


class DatabaseLocked(CollectorError):
    """The DuckDB file is held read-write by another process.

    DuckDB lets one process open a file for writing and then no other process may open it at
    all, not even read-only; the message points the user at the collector's query API.
    """

    def __init__(self, path: Path, detail: str = "") -> None:
        self.path = path
        message = (
            f"{path} is held by another process (a running collector?); "
            "query it through the collector's URL instead"
        )
        super().__init__(f"{message} ({detail})" if detail else message)


class StoreNotFound(CollectorError, FileNotFoundError):
    """The DuckDB file to open read-only does not exist.

    Also a :class:`FileNotFoundError`, so code that handles missing files generically still
    catches it, while the CLI prints it as one line like any other Baton error.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(f"{path} does not exist; give --db the file a collector writes")
