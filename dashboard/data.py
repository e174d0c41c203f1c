"""The dashboard's one data module: every figure a page shows is fetched here.

Pages never open DuckDB or speak HTTP themselves. Live data comes from the collector's
query API ("figure X with filters F", as Arrow IPC), because the collector owns the DuckDB
file while it writes; a copied file is opened read-only with :mod:`mining` directly. Both
return the same frames, so a page cannot tell them apart. Results are cached for a short
while, so switching pages or redrawing a widget does not recompute a figure.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Final, Protocol

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.ipc
import requests
import streamlit as st

import mining
from baton.errors import UnreachableError
from dashboard.config import DashboardSettings, load_settings
from dashboard.errors import FigureRequestFailed, SourceNotFound

#: Seconds to wait for the collector; long enough for a large figure, short enough that a
#: hung collector shows an error instead of a spinner forever.
REQUEST_TIMEOUT_S: Final = 10.0
#: How long a computed figure is reused before it is asked for again.
CACHE_TTL_S: Final = 30
#: Statuses that mean "the service is there but cannot answer now", not "you asked wrong".
_UNAVAILABLE: Final = frozenset({502, 503, 504})


class Source(Protocol):
    """Where figures come from: the collector's query API or a DuckDB file."""

    def figure(self, name: str, values: dict[str, str]) -> pl.DataFrame:
        """Figure ``name`` computed with filters and parameters ``values``."""
        ...


@dataclasses.dataclass(frozen=True)
class CollectorSource:
    """Figures from a running collector, the only process that may open its live file."""

    url: str

    def __str__(self) -> str:
        return f"collector {self.url}"

    def figure(self, name: str, values: dict[str, str]) -> pl.DataFrame:
        """``GET /api/v1/figures/{name}`` as an Arrow IPC stream, read into Polars."""
        endpoint = f"{self.url.rstrip('/')}/api/v1/figures/{urllib.parse.quote(name, safe='')}"
        params = {**{k: v for k, v in values.items() if v}, "format": "arrow"}
        try:
            response = requests.get(endpoint, params=params, timeout=REQUEST_TIMEOUT_S)
        except requests.Timeout:
            raise UnreachableError(
                f"collector at {self.url} did not answer within {REQUEST_TIMEOUT_S:g} s"
            ) from None
        except requests.RequestException as exc:
            raise UnreachableError(f"collector unreachable at {self.url}: {_reason(exc)}") from None
        if response.status_code != 200:
            message = _error_message(response)
            if response.status_code in _UNAVAILABLE:
                raise UnreachableError(f"collector at {self.url} is unavailable: {message}")
            raise FigureRequestFailed(f"collector refused figure {name!r}: {message}")
        try:
            table = pyarrow.ipc.open_stream(response.content).read_all()
        except (pa.ArrowInvalid, OSError):
            raise FigureRequestFailed(
                f"collector at {self.url} answered figure {name!r} with something that is "
                "not an Arrow IPC stream; is that address a Baton collector?"
            ) from None
        return _as_frame(table)


@dataclasses.dataclass(frozen=True)
class DbSource:
    """Figures computed with :mod:`mining` on a DuckDB file no collector is writing to.

    The file is opened read-only for each figure and closed again, so the dashboard never
    holds a lock that would stop a collector or another reader from opening it.
    """

    path: Path

    def __str__(self) -> str:
        return f"file {self.path}"

    def figure(self, name: str, values: dict[str, str]) -> pl.DataFrame:
        """Figure ``name`` from :func:`mining.compute` over the file's ``events`` table."""
        if not self.path.is_file():
            raise SourceNotFound(f"no DuckDB file at {self.path}")
        try:
            con = duckdb.connect(str(self.path), read_only=True)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise SourceNotFound(
                    f"{self.path} is held by a running collector; "
                    "point the dashboard at that collector (--collector URL) instead"
                ) from None
            raise SourceNotFound(f"cannot open {self.path}: {exc}") from None
        except duckdb.Error as exc:
            raise SourceNotFound(f"{self.path} is not a DuckDB file: {exc}") from None
        try:
            tables = con.sql(
                "SELECT table_name FROM information_schema.tables WHERE table_name = 'events'"
            ).fetchall()
            if not tables:
                raise SourceNotFound(f"{self.path} has no events table; is it a Baton log?")
            return mining.compute(name, con, values)
        finally:
            con.close()


def source_for(settings: DashboardSettings) -> Source:
    """The source ``settings`` name: the file when one is given, else the collector."""
    if settings.db is not None:
        return DbSource(settings.db)
    return CollectorSource(settings.collector or "")


@st.cache_resource(show_spinner=False)
def get_settings() -> DashboardSettings:
    """The dashboard's settings, read once per server process."""
    return load_settings()


@st.cache_resource(show_spinner=False)
def get_source() -> Source:
    """The source every page reads from, chosen once from the settings."""
    return source_for(get_settings())


@st.cache_data(ttl=CACHE_TTL_S, show_spinner="Computing figure…")
def load_figure(name: str, values: tuple[tuple[str, str], ...] = ()) -> pl.DataFrame:
    """Figure ``name`` for ``values`` (sorted ``(key, value)`` pairs, hashable for the cache).

    Errors are raised, not cached, so a collector that comes back is used on the next run.
    """
    return get_source().figure(name, dict(values))


def as_key(values: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """``values`` as the hashable, order-independent key :func:`load_figure` takes.

    Example:
        >>> as_key({"workflow": "referral", "since": ""})
        (('workflow', 'referral'),)
    """
    return tuple(sorted((k, v) for k, v in values.items() if v))


def _as_frame(table: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _error_message(response: requests.Response) -> str:
    """The ``error`` of the collector's JSON body, else the start of whatever it sent."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])
    text = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
    return f"HTTP {response.status_code}" + (f" {text}" if text else "")


#: Fragments of urllib3's nested error text, and how a person would say them.
_REASONS: Final = (
    ("Connection refused", "connection refused"),
    ("Name or service not known", "unknown host"),
    ("No route to host", "no route to host"),
    ("RemoteDisconnected", "connection closed without an answer"),
    ("Connection reset", "connection reset"),
)


def _reason(exc: requests.RequestException) -> str:
    """A short reason ("connection refused") instead of urllib3's nested repr."""
    text = str(exc)
    return next((reason for marker, reason in _REASONS if marker in text), type(exc).__name__)
