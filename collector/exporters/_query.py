"""The one order every export writes in, and the helpers that read it batch by batch."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from baton.contract import EVENT_COLUMNS

#: Columns of the ``events`` table, in contract order.
COLUMN_NAMES = tuple(name for name, _ in EVENT_COLUMNS)
#: Integer columns, written as integers (not strings) by formats that type their values.
INT_COLUMNS = tuple(name for name, kind in EVENT_COLUMNS if kind in ("INTEGER", "BIGINT"))
#: Timestamp columns other than the event's own ``ts``.
OTHER_TIME_COLUMNS = tuple(n for n, kind in EVENT_COLUMNS if kind == "TIMESTAMP" and n != "ts")


def columns_except(*names: str) -> tuple[str, ...]:
    """The contract's columns without ``names``, in contract order: a new column is exported
    by every format without touching the writers."""
    return tuple(name for name in COLUMN_NAMES if name not in names)


#: Cases by their first event, then ``(ts, seq)`` within a case (the contract's order);
#: ``event_id`` last makes the order total, so two exports of one table are identical.
ORDERED_EVENTS = """
SELECT * EXCLUDE (_first) FROM (
    SELECT *, min(ts) OVER (PARTITION BY case_id) AS _first FROM events
)
ORDER BY _first, case_id, ts, seq, event_id
"""

_BATCH_ROWS = 50_000


def iso_sql(column: str) -> str:
    """SQL rendering a naive-UTC ``TIMESTAMP`` column as ISO 8601 with ``Z``, to the µs."""
    return f"strftime({column}, '%Y-%m-%dT%H:%M:%S.%fZ')"


def row_batches(con: duckdb.DuckDBPyConnection, sql: str) -> Iterator[dict[str, list[Any]]]:
    """The rows of ``sql`` as column lists, a batch at a time, so memory stays flat."""
    reader = con.sql(sql).to_arrow_reader(_BATCH_ROWS)
    for batch in reader:
        yield batch.to_pydict()


@contextlib.contextmanager
def replacing(out: Path) -> Iterator[Path]:
    """A temporary path next to ``out`` that replaces it only once fully written.

    A failed or interrupted export never leaves a truncated file under the requested name.
    """
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        yield tmp
        os.replace(tmp, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
