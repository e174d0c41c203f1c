"""The ``events`` table's DDL, built from the telemetry contract so it is written once."""

from __future__ import annotations

import duckdb

from baton.contract import EVENT_COLUMNS


def events_ddl(table: str = "events") -> str:
    """``CREATE TABLE IF NOT EXISTS`` for an events table with the contract's columns."""
    cols = ",\n    ".join(f"{name} {kind}" for name, kind in EVENT_COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS {table} (\n    {cols}\n)"


def create_events_table(con: duckdb.DuckDBPyConnection, table: str = "events") -> None:
    """Create an empty events table, e.g. for a notebook's in-memory log."""
    con.execute(events_ddl(table))
