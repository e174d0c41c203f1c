"""Errors of the collector.

Hierarchy::

    CollectorError (BatonError)
    ├── InvalidPayload        the body is not a decodable OTLP request
    ├── PayloadTooLarge       the body (or what it decompresses to) is over the size limit
    ├── UnsupportedMediaType  content type or content encoding the receiver does not speak
    ├── Unauthorized          no valid bearer token where one is required
    ├── Forbidden             the token's role may not read this
    ├── Overloaded            the write queue is full: retry later
    ├── DatabaseLocked        another process holds the DuckDB file
    └── StoreNotFound         the DuckDB file to read does not exist (also FileNotFoundError)

The HTTP handlers turn the first six into 400, 413, 415, 401, 403 and 503 answers; the CLI
prints any of them as one line, because each message already says what to do.
"""

from __future__ import annotations

from pathlib import Path

from baton.errors import BatonError

#: Where a collector listens unless told otherwise (OTLP/HTTP's well-known port).
DEFAULT_URL = "http://127.0.0.1:4318"


class CollectorError(BatonError):
    """Root of every collector error."""


class InvalidPayload(CollectorError):
    """The request body cannot be decoded as the endpoint's OTLP request.

    Nothing of such a request is stored. (Single records that break the contract inside a
    decodable request are left out and reported in ``partial_success`` instead.)
    """


class PayloadTooLarge(CollectorError):
    """The body is over ``max_body_bytes``, before or after decompression."""


class UnsupportedMediaType(CollectorError):
    """The content type or content encoding is not one the receiver decodes."""


class Unauthorized(CollectorError):
    """A token is configured and the request carries no matching ``Authorization: Bearer``."""


class Forbidden(CollectorError):
    """The token is valid but its role may not make this request."""


class Overloaded(CollectorError):
    """The writer's queue is full; senders retry after ``Retry-After`` seconds."""


class DatabaseLocked(CollectorError):
    """The DuckDB file is held read-write by another process.

    DuckDB lets one process open a file for writing and then no other process may open it at
    all, not even read-only. A running collector owns its file, so the message says where
    that collector answers (it leaves its URL beside the file) and how to reach it.
    """

    def __init__(self, path: Path, detail: str = "", url: str | None = None) -> None:
        self.path = path
        self.url = url
        held = (
            f"{path} is held by another process ({detail})"
            if detail
            else (f"{path} is held by another process")
        )
        if url:
            how = (
                f"the collector running at {url} owns it: read it through that collector's "
                f"query API ({url}/api/v1/figures, {url}/api/v1/events) or point the command "
                f"at that URL instead of --db"
            )
        else:
            how = (
                "if a collector is running on it, reach it through the collector's URL "
                f"(`baton collector serve` prints it; default {DEFAULT_URL}) instead of "
                "opening the file, or stop that process first"
            )
        super().__init__(f"{held}; {how}")


class StoreNotFound(CollectorError, FileNotFoundError):
    """The DuckDB file to open read-only does not exist.

    Also a :class:`FileNotFoundError`, so code that handles missing files generically still
    catches it, while the CLI prints it as one line like any other Baton error.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(f"{path} does not exist; give --db the file a collector writes")
