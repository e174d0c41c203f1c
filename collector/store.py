"""The DuckDB file the collector owns: schema, idempotent writes, read cursors.

DuckDB lets one process open a file read-write and then locks every other process out, so
this module is the only code that writes it, and it says clearly when someone else holds it.
Writes are whole transactions under one lock and de-duplicate against what is stored, so
at-least-once senders (Baton's outbox shipper, OTLP exporters that retry) never double count.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import NamedTuple

import duckdb
import pyarrow as pa

from collector.errors import CollectorError, DatabaseLocked, StoreNotFound
from mining.schema import events_ddl

_SPANS_DDL = """
CREATE TABLE IF NOT EXISTS spans (
    trace_id VARCHAR,
    span_id VARCHAR,
    parent_span_id VARCHAR,
    name VARCHAR,
    kind VARCHAR,
    start_ts TIMESTAMP,
    end_ts TIMESTAMP,
    status_code VARCHAR,
    status_message VARCHAR,
    service_name VARCHAR,
    scope_name VARCHAR,
    attributes MAP(VARCHAR, VARCHAR),
    links STRUCT(trace_id VARCHAR, span_id VARCHAR)[],
    seq BIGINT
)"""

_LOG_RECORDS_DDL = """
CREATE TABLE IF NOT EXISTS log_records (
    ts TIMESTAMP,
    event_name VARCHAR,
    severity_text VARCHAR,
    body VARCHAR,
    service_name VARCHAR,
    trace_id VARCHAR,
    span_id VARCHAR,
    attributes MAP(VARCHAR, VARCHAR)
)"""

#: Tables the store owns, in the order ``counts()`` reports them.
TABLES = ("spans", "events", "log_records")

# Keep the first copy of a span within the batch (``_ord`` = arrival order), drop spans
# already stored, and number the rest after the highest ``seq`` so far.
_INSERT_SPANS = """
INSERT INTO spans BY NAME
WITH fresh AS (
    SELECT * FROM (
        SELECT * FROM span_batch
        QUALIFY row_number() OVER (PARTITION BY trace_id, span_id ORDER BY _ord) = 1
    ) b
    ANTI JOIN spans s ON s.trace_id = b.trace_id AND s.span_id = b.span_id
)
SELECT * EXCLUDE (_ord), $base + row_number() OVER (ORDER BY _ord) AS seq FROM fresh
"""

_INSERT_EVENTS = """
INSERT INTO events BY NAME
SELECT * EXCLUDE (_ord) FROM (
    SELECT * FROM event_batch
    QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _ord) = 1
) b
ANTI JOIN events e ON e.event_id = b.event_id
"""

_INSERT_LOG_RECORDS = "INSERT INTO log_records BY NAME SELECT * EXCLUDE (_ord) FROM log_batch"

_LOCK_MESSAGE = "Could not set lock on file"


class Store:
    """One DuckDB file opened read-write: the collector's system of record.

    Writes are serialized by a lock because the HTTP server runs them on a thread pool and a
    DuckDB connection object is not meant to be shared by concurrent writers; readers take
    their own :meth:`cursor` and see committed data only.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        self.path = path
        self._con = con
        self._lock = threading.Lock()
        row = con.execute("SELECT coalesce(max(seq), 0) FROM spans").fetchone()
        self._next_seq = int(row[0]) if row else 0

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (creating if needed) the file and its tables; :class:`DatabaseLocked` if held."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        con = _connect(path, read_only=False)
        try:
            for ddl in (_SPANS_DDL, events_ddl(), _LOG_RECORDS_DDL):
                con.execute(ddl)
        except BaseException:
            con.close()
            raise
        return cls(con, path)

    def write_spans(self, spans: pa.Table) -> int:
        """Insert spans not stored yet, numbered in arrival order; rows inserted, committed."""
        if spans.num_rows == 0:
            return 0
        with self._lock:
            inserted = self._insert([_Step("span_batch", spans, _INSERT_SPANS, self._next_seq)])
            self._next_seq += inserted
            return inserted

    def write_events(self, events: pa.Table, log_records: pa.Table) -> int:
        """Insert new events (by ``event_id``) and all log records in one transaction.

        Returns the rows inserted in both tables together; events already stored count zero.
        """
        steps = [
            _Step("event_batch", events, _INSERT_EVENTS),
            _Step("log_batch", log_records, _INSERT_LOG_RECORDS),
        ]
        with self._lock:
            return self._insert([step for step in steps if step.rows.num_rows])

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new connection to the same database for reading; the caller closes it."""
        return self._con.cursor()

    def counts(self) -> dict[str, int]:
        """Rows per table, for readiness checks and the stats endpoint."""
        cur = self.cursor()
        try:
            return {t: _scalar(cur, f"SELECT count(*) FROM {t}") for t in TABLES}
        finally:
            cur.close()

    def close(self) -> None:
        """Close the file; DuckDB checkpoints it, so the next open starts fast."""
        with self._lock:
            self._con.close()

    def _insert(self, steps: list[_Step]) -> int:
        """Run ``steps`` in one transaction; return only once it is committed."""
        if not steps:
            return 0
        con = self._con
        inserted = 0
        con.begin()
        try:
            for step in steps:
                con.register(step.view, _with_order(step.rows))
                try:
                    params = None if step.base is None else {"base": step.base}
                    inserted += _scalar(con, step.sql, params)
                finally:
                    con.unregister(step.view)
            con.commit()
        except BaseException:
            con.rollback()
            raise
        return inserted


class _Step(NamedTuple):
    """One ``INSERT ... SELECT`` from an Arrow table registered as ``view``."""

    view: str
    rows: pa.Table
    sql: str
    base: int | None = None


def open_readonly(path: Path) -> duckdb.DuckDBPyConnection:
    """Open a store file for offline analysis (a notebook, a copied file).

    Raises :class:`StoreNotFound` rather than letting DuckDB create an empty file, and
    :class:`DatabaseLocked` when a running collector holds it.
    """
    path = Path(path)
    if not path.is_file():
        raise StoreNotFound(path)
    return _connect(path, read_only=True)


def _connect(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if _LOCK_MESSAGE in str(exc):
            pid = re.search(r"PID (\d+)", str(exc))
            raise DatabaseLocked(path, f"PID {pid.group(1)}" if pid else "") from None
        raise CollectorError(f"cannot open {path}: {exc}") from exc
    except duckdb.Error as exc:
        raise CollectorError(f"cannot open {path}: {exc}") from exc


def _with_order(table: pa.Table) -> pa.Table:
    """``table`` plus ``_ord``, its row order, which SQL alone would not keep."""
    return table.append_column("_ord", pa.array(range(table.num_rows), type=pa.int64()))


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, int] | None = None) -> int:
    row = con.execute(sql, params or None).fetchone()
    return int(row[0]) if row else 0
