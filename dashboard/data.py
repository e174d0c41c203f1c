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
from dashboard.access import Role
from dashboard.config import DashboardSettings, load_settings
from dashboard.errors import FigureRequestFailed, NotSignedIn, SourceNotFound

#: Seconds to wait for the collector; long enough for a figure over millions of events on a
#: busy machine, short enough that a hung collector shows an error, not a spinner forever.
REQUEST_TIMEOUT_S: Final = 60.0
#: How long a computed figure is reused before it is asked for again.
CACHE_TTL_S: Final = 30
#: Events of one case the case explorer reads at most.
MAX_CASE_EVENTS: Final = 100_000
#: Session-state key of a signed-in person's own query-API token (never in a URL or a file).
TOKEN_KEY: Final = "baton_token"
#: Statuses that mean "the service is there but cannot answer now", not "you asked wrong".
_UNAVAILABLE: Final = frozenset({502, 503, 504})


class Source(Protocol):
    """Where figures come from: the collector's query API or a DuckDB file."""

    def figure(self, name: str, values: dict[str, str]) -> pl.DataFrame:
        """Figure ``name`` computed with filters and parameters ``values``."""
        ...

    def figure_names(self) -> frozenset[str]:
        """The figures this source can compute (a collector may run another version)."""
        ...

    def case_events(self, case_id: str) -> pl.DataFrame:
        """Every event of one case, ordered by ``(ts, seq)``."""
        ...

    def role(self) -> Role:
        """What the dashboard's credentials may read from this source."""
        ...


@dataclasses.dataclass(frozen=True)
class CollectorSource:
    """Figures from a running collector, the only process that may open its live file.

    ``token`` is a query-API bearer token; its role (viewer, analyst, admin) is the
    collector's to enforce, and :meth:`role` asks the collector which one it is.
    """

    url: str
    token: str | None = dataclasses.field(default=None, repr=False)

    def __str__(self) -> str:
        return f"collector {self.url}"

    def _get(self, path: str, params: dict[str, str], what: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = requests.get(
                f"{self.url.rstrip('/')}{path}",
                params=params,
                headers=headers,
                timeout=REQUEST_TIMEOUT_S,
            )
        except requests.Timeout:
            raise UnreachableError(
                f"collector at {self.url} did not answer within {REQUEST_TIMEOUT_S:g} s"
            ) from None
        except requests.RequestException as exc:
            raise UnreachableError(f"collector unreachable at {self.url}: {_reason(exc)}") from None
        if response.status_code == 401:
            raise NotSignedIn(
                f"the collector at {self.url} needs a token: {_error_message(response)}"
            )
        if response.status_code != 200:
            message = _error_message(response)
            if response.status_code in _UNAVAILABLE:
                raise UnreachableError(f"collector at {self.url} is unavailable: {message}")
            raise FigureRequestFailed(f"collector refused {what}: {message}")
        return response

    def _arrow(self, response: requests.Response, what: str) -> pl.DataFrame:
        try:
            table = pyarrow.ipc.open_stream(response.content).read_all()
        except (pa.ArrowInvalid, OSError):
            raise FigureRequestFailed(
                f"collector at {self.url} answered {what} with something that is "
                "not an Arrow IPC stream; is that address a Baton collector?"
            ) from None
        return _as_frame(table)

    def figure(self, name: str, values: dict[str, str]) -> pl.DataFrame:
        """``GET /api/v1/figures/{name}`` as an Arrow IPC stream, read into Polars."""
        params = {**{k: v for k, v in values.items() if v}, "format": "arrow"}
        path = f"/api/v1/figures/{urllib.parse.quote(name, safe='')}"
        return self._arrow(self._get(path, params, f"figure {name!r}"), f"figure {name!r}")

    def figure_names(self) -> frozenset[str]:
        """``GET /api/v1/figures``: the names the collector's ``mining`` registers."""
        response = self._get("/api/v1/figures", {}, "the list of figures")
        try:
            return frozenset(str(name) for name in response.json())
        except (ValueError, TypeError):
            raise FigureRequestFailed(
                f"collector at {self.url} did not list its figures as JSON"
            ) from None

    def case_events(self, case_id: str) -> pl.DataFrame:
        """``GET /api/v1/events?case_id=...`` (analyst; the collector audits the read)."""
        params = {"case_id": case_id, "limit": str(MAX_CASE_EVENTS), "format": "arrow"}
        return self._arrow(self._get("/api/v1/events", params, "case events"), "case events")

    def role(self) -> Role:
        """The token's role, as the collector's ``whoami`` names it (no read is audited)."""
        answer = self._get("/api/v1/whoami", {}, "who this token is")  # NotSignedIn if none
        return Role[str(answer.json()["role"]).upper()]


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

    def figure_names(self) -> frozenset[str]:
        """Every figure of the installed :mod:`mining`."""
        return frozenset(mining.FIGURES)

    def case_events(self, case_id: str) -> pl.DataFrame:
        """The case's rows of the file's ``events`` table, ordered by ``(ts, seq)``."""
        if not self.path.is_file():
            raise SourceNotFound(f"no DuckDB file at {self.path}")
        con = duckdb.connect(str(self.path), read_only=True)
        try:
            return con.sql(
                "SELECT * FROM events WHERE case_id = $case_id ORDER BY ts, seq",
                params={"case_id": case_id},
            ).pl()
        finally:
            con.close()

    def dimension_values(self) -> dict[str, tuple[str, ...]]:
        """Distinct workflows, payers and sites of the file's events."""
        if not self.path.is_file():
            raise SourceNotFound(f"no DuckDB file at {self.path}")
        con = duckdb.connect(str(self.path), read_only=True)
        try:
            return {
                column: tuple(
                    value
                    for (value,) in con.sql(
                        f"SELECT DISTINCT {column} FROM events "
                        f"WHERE {column} IS NOT NULL AND {column} <> '' ORDER BY 1"
                    ).fetchall()
                )
                for column in DIMENSIONS
            }
        except duckdb.Error as exc:
            raise SourceNotFound(f"{self.path} has no usable events table: {exc}") from None
        finally:
            con.close()

    def role(self) -> Role:
        """Whoever may read the file may read all of it."""
        return Role.ADMIN


def source_for(settings: DashboardSettings, token: str | None = None) -> Source:
    """The source ``settings`` name: the file when one is given, else the collector.

    ``token`` is a signed-in person's own query-API token; it replaces the configured one.
    """
    if settings.db is not None:
        return DbSource(settings.db)
    return CollectorSource(settings.collector or "", token or settings.token)


@st.cache_resource(show_spinner=False)
def get_settings() -> DashboardSettings:
    """The dashboard's settings, read once per server process."""
    return load_settings()


def _session_token() -> str | None:
    """The token a person signed in with on this session (kept in server memory only)."""
    return st.session_state.get(TOKEN_KEY) or None


def get_source() -> Source:
    """The source this session reads from: the configured one, with the session's token."""
    return source_for(get_settings(), _session_token())


@st.cache_data(ttl=CACHE_TTL_S, show_spinner="Computing figure…")
def _load_figure(name: str, values: tuple[tuple[str, str], ...], token: str | None) -> pl.DataFrame:
    return source_for(get_settings(), token).figure(name, dict(values))


def load_figure(name: str, values: tuple[tuple[str, str], ...] = ()) -> pl.DataFrame:
    """Figure ``name`` for ``values`` (sorted ``(key, value)`` pairs, hashable for the cache).

    Cached per token, so one person's cached rows are never shown to a role that may not
    read them. Errors are raised, not cached, so a collector that comes back is used on the
    next run.
    """
    return _load_figure(name, values, _session_token())


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _figure_names(token: str | None) -> frozenset[str]:
    return source_for(get_settings(), token).figure_names()


def figure_names() -> frozenset[str]:
    """Figures the source can compute, cached like the figures themselves."""
    return _figure_names(_session_token())


@st.cache_data(ttl=300, show_spinner=False)
def _role(token: str | None) -> Role:
    return source_for(get_settings(), token).role()


def role() -> Role:
    """The role of this session's credentials at the source (asked once per token)."""
    return _role(_session_token())


#: Columns the sidebar filters on, and how long their values are reused.
DIMENSIONS: Final = ("workflow", "payer", "site")
DIMENSIONS_TTL_S: Final = 600


@st.cache_data(ttl=DIMENSIONS_TTL_S, show_spinner=False)
def _dimension_values(token: str | None) -> dict[str, tuple[str, ...]]:
    source = source_for(get_settings(), token)
    if isinstance(source, DbSource):
        return source.dimension_values()
    if "dimension_values" in source.figure_names():
        # A cheap figure any role may read: each dimension's values with their events.
        values = source.figure("dimension_values", {})
        return {
            column: tuple(
                sorted(v for v in values.filter(pl.col("dimension") == column)["value"] if v)
            )
            for column in DIMENSIONS
        }
    # A collector from before that figure: one aggregate broken down by all three at once.
    rows = source.figure("retry_hotspots", {"by": ",".join(DIMENSIONS)})
    return {
        column: tuple(sorted(v for v in rows[column].unique().to_list() if v))
        for column in DIMENSIONS
        if column in rows.columns
    }


def dimension_values() -> dict[str, tuple[str, ...]]:
    """Workflows, payers and sites in the source, for the sidebar's choices."""
    return _dimension_values(_session_token())


def case_events(case_id: str) -> pl.DataFrame:
    """One case's events; not cached, so nothing case-level outlives the page that shows it."""
    return get_source().case_events(case_id)


def clear_caches() -> None:
    """Forget every cached figure (the sidebar's Refresh button and live mode)."""
    _load_figure.clear()
    _figure_names.clear()


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
