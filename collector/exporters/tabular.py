"""The ``events`` table as CSV or Parquet, written by DuckDB's ``COPY`` (streaming, typed).

Both keep the contract's columns in order, so ``baton import`` recognises them as the events
schema. Parquet keeps every type (``attributes`` is a MAP). CSV writes timestamps as ISO 8601
UTC with a ``Z`` and ``attributes`` as a JSON object, which spreadsheets and pandas read.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from collector.exporters._query import COLUMN_NAMES, ORDERED_EVENTS, iso_sql, replacing

_TIMESTAMPS = ("ts", "due_ts")


def write_csv(con: duckdb.DuckDBPyConnection, out: Path) -> None:
    """Write every event of ``con`` to ``out`` as CSV with a header line."""
    select = ", ".join(_csv_column(name) for name in COLUMN_NAMES)
    _copy(con, f"SELECT {select} FROM ({ORDERED_EVENTS})", out, "FORMAT csv, HEADER true")


def write_parquet(con: duckdb.DuckDBPyConnection, out: Path) -> None:
    """Write every event of ``con`` to ``out`` as one zstd-compressed Parquet file."""
    select = ", ".join(COLUMN_NAMES)
    _copy(con, f"SELECT {select} FROM ({ORDERED_EVENTS})", out, "FORMAT parquet, COMPRESSION zstd")


def _csv_column(name: str) -> str:
    if name in _TIMESTAMPS:
        return f"{iso_sql(name)} AS {name}"
    if name == "attributes":
        return "to_json(attributes) AS attributes"
    return name


def _copy(con: duckdb.DuckDBPyConnection, sql: str, out: Path, options: str) -> None:
    with replacing(out) as tmp:
        target = str(tmp).replace("'", "''")
        con.execute(f"COPY ({sql}) TO '{target}' ({options})")
