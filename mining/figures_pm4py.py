"""The figures pm4py also computes, registered for the query API by name.

Each wraps the :class:`~mining.EventLog` method of the same name, so the collector's endpoint,
the CLI and a notebook get one implementation, checked against pm4py's pandas path.
"""

from __future__ import annotations

import duckdb
import polars as pl

from mining.eventlog import EventLog
from mining.filters import Filters


def performance_dfg(con: duckdb.DuckDBPyConnection, filters: Filters | None = None) -> pl.DataFrame:
    """Waiting time per edge a→b: mean, median, p95, min, max, total and stdev in seconds."""
    return EventLog.from_connection(con, filters).performance_dfg()


def variants(con: duckdb.DuckDBPyConnection, filters: Filters | None = None) -> pl.DataFrame:
    """Variants (activity sequences) with their case counts and shares."""
    return EventLog.from_connection(con, filters).variants()


def start_activities(
    con: duckdb.DuckDBPyConnection, filters: Filters | None = None
) -> pl.DataFrame:
    """How many cases begin with each activity."""
    return EventLog.from_connection(con, filters).start_activities()


def end_activities(con: duckdb.DuckDBPyConnection, filters: Filters | None = None) -> pl.DataFrame:
    """How many cases end with each activity."""
    return EventLog.from_connection(con, filters).end_activities()


def service_times(con: duckdb.DuckDBPyConnection, filters: Filters | None = None) -> pl.DataFrame:
    """Per activity: how long its instances ran (completion - start)."""
    return EventLog.from_connection(con, filters).service_times()


def waiting_times(con: duckdb.DuckDBPyConnection, filters: Filters | None = None) -> pl.DataFrame:
    """Per activity: how long cases waited before it since their previous step ended."""
    return EventLog.from_connection(con, filters).waiting_times()
