"""Where rules read their figures: a DuckDB connection, or a collector's query API.

Both ask :mod:`mining` for figures by name, so a rule measures the same thing whether it
runs inside the collector, from ``baton alerts check --collector URL``, or in a backtest
over a copied file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol

import duckdb
import polars as pl

import mining
from alerts.errors import AlertsError
from mining.remote import fetch_figure
from mining.sources import open_duckdb

#: Seconds to wait for a collector's figure.
REQUEST_TIMEOUT_S = 30.0


class FigureSource(Protocol):
    """Anything that computes :mod:`mining` figures by name."""

    def figure(self, name: str, values: dict[str, str]) -> pl.DataFrame:
        """Figure ``name`` with filters and parameters ``values`` (strings, as over HTTP)."""
        ...


class DuckDBSource:
    """Figures over a DuckDB database, each through a fresh cursor that is closed after it.

    ``connect`` is ``store.cursor`` inside the collector, or ``con.cursor`` of a file opened
    for ``baton alerts check`` or a backtest.
    """

    def __init__(self, connect: Callable[[], duckdb.DuckDBPyConnection]) -> None:
        self._connect = connect

    def figure(self, name: str, values: dict[str, str]) -> pl.DataFrame:
        cur = self._connect()
        try:
            return mining.compute(name, cur, values)
        finally:
            cur.close()


@dataclasses.dataclass(frozen=True)
class CollectorSource:
    """Figures from a running collector's query API (Arrow IPC), with an optional token."""

    url: str
    token: str | None = None

    def figure(self, name: str, values: dict[str, str]) -> pl.DataFrame:
        try:
            return fetch_figure(self.url, name, values, self.token, REQUEST_TIMEOUT_S)
        except mining.MiningError as exc:
            raise AlertsError(f"collector refused figure {name!r}: {exc}") from None


def open_file(path: Path, *, read_only: bool, when_held: str) -> duckdb.DuckDBPyConnection:
    """A Baton DuckDB file; a file a running collector holds says so, and ``when_held``."""
    if not path.is_file():
        raise AlertsError(f"no DuckDB file at {path}")
    try:
        return open_duckdb(
            path, read_only=read_only, when_held=f"is held by a running collector; {when_held}"
        )
    except mining.MiningError as exc:
        raise AlertsError(str(exc)) from None


def as_param(moment: datetime) -> str:
    """An instant as figures take it: ISO-8601, naive UTC (DuckDB's ``TIMESTAMP``).

    Example:
        >>> from datetime import UTC
        >>> as_param(datetime(2026, 3, 3, 9, 0, tzinfo=UTC))
        '2026-03-03T09:00:00'
    """
    if moment.tzinfo is not None:
        from datetime import UTC

        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat()
