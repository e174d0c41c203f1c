"""The DuckDB file the collector owns: schema, idempotent group writes, read cursors.

DuckDB lets one process open a file read-write and then locks every other process out, so
this module is the only code that writes it, and it says clearly when someone else holds it.
A write is one transaction over any number of requests' rows (the writer thread groups
them), and de-duplicates against what is stored, so at-least-once senders (Baton's outbox
shipper, OTLP exporters that retry) never double count.

De-duplication is an anti-join against stored rows **in the batch's time range** only: a
duplicate carries the same start time (spans) or event time (events) as its original, so
the range loses nothing, and DuckDB's zone maps skip every row group outside it. (Rows
without a time fall back to comparing against stored rows without a time.) Against the
whole table the same anti-join grows with the table (86 ms per 8k-span batch at 1M spans,
347 ms at 5M); restricted to the range it stays at 4-8 ms (docs/benchmarks.md).

The same transaction refreshes the live aggregates of the cases its new events touch
(:func:`mining.live_batch.refresh`: new cases from the inserted rows, known ones recomputed
from their events), so the dashboard's opening figures read per-case rows instead of
scanning events, and never see events without their aggregates. Events written around the
store (an import through a cursor) are noticed by their count and the tables rebuilt
(docs/live-aggregates.md).
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from collector import audit
from collector._endpoint import connect
from collector.errors import StoreNotFound
from mining import live, live_batch
from mining.schema import events_ddl

if TYPE_CHECKING:
    from collector.transfer import ImportReport
    from mining.readers import ImportOptions

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
    attributes STRUCT(key VARCHAR, value VARCHAR)[],
    links STRUCT(trace_id VARCHAR, span_id VARCHAR)[],
    seq BIGINT
)"""

#: Span attributes are stored as a key/value list, not a MAP: DuckDB 2.0 converts an Arrow
#: MAP at ~1.7 us per entry (17 us per 10-attribute span, half of all ingest work) and a
#: list of structs at ~0.3 us. Query them with ``map_from_entries(attributes)['key']``.
SPAN_ATTRIBUTES = pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())]))
_MIGRATE_SPAN_ATTRIBUTES = """
ALTER TABLE spans ALTER attributes SET DATA TYPE STRUCT(key VARCHAR, value VARCHAR)[]
USING map_entries(attributes)
"""

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

_METRICS_DDL = """
CREATE TABLE IF NOT EXISTS metrics (
    ts TIMESTAMP,
    name VARCHAR,
    kind VARCHAR,
    value DOUBLE,
    count BIGINT,
    unit VARCHAR,
    service_name VARCHAR,
    attributes MAP(VARCHAR, VARCHAR)
)"""

_AUDIT_READS_DDL = """
CREATE TABLE IF NOT EXISTS audit_reads (
    ts TIMESTAMP,
    who VARCHAR,
    role VARCHAR,
    what VARCHAR,
    query VARCHAR,
    rows BIGINT
)"""

#: Tables the store owns, in the order ``counts()`` reports them.
TABLES = ("spans", "events", "log_records", "metrics", "audit_reads")

# Drop spans already stored in the batch's time range. ``seq`` comes numbered in arrival
# order; duplicates leave gaps, which is fine (only order matters). ``{first}`` is the
# within-batch de-duplication, used only when the batch repeats a key (checked in Arrow).
_INSERT_SPANS = """
INSERT INTO spans BY NAME
SELECT * EXCLUDE (_ord), $base + _ord AS seq FROM ({batch}) b
ANTI JOIN (
    SELECT trace_id, span_id FROM spans
    WHERE start_ts BETWEEN $lo AND $hi OR ($nulls AND start_ts IS NULL)
) s ON s.trace_id = b.trace_id AND s.span_id = b.span_id
"""

# The same for events, by ``event_id``; events without ``seq`` (mapped from foreign spans)
# are numbered in arrival order after the highest ``seq`` seen.
# ``RETURNING`` hands back exactly the rows inserted (after de-duplication) with their
# content hashes, computed by DuckDB in bulk, for the audit chain (:mod:`collector.audit`),
# and the columns the live refresh computes new cases from (:mod:`mining.live_batch`).
_INSERT_EVENTS = f"""
INSERT INTO events BY NAME
SELECT * EXCLUDE (_ord, seq), coalesce(seq, $base + _ord) AS seq FROM ({{batch}}) b
ANTI JOIN (
    SELECT event_id FROM events WHERE ts BETWEEN $lo AND $hi OR ($nulls AND ts IS NULL)
) e ON e.event_id = b.event_id
RETURNING event_id, {live_batch.COLUMNS}, {audit.content_hash_sql()} AS content_hash
"""

_FIRST_COPIES = """
SELECT * FROM {view} QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _ord) = 1
"""

#: WAL size that triggers a checkpoint. DuckDB's default (16 MB) checkpoints every few group
#: commits under load, rewriting the growing last row group each time (200-700 ms stalls);
#: a larger WAL checkpoints less often, at the cost of a longer replay after a crash.
CHECKPOINT_THRESHOLD = "256MB"

_APPEND = "INSERT INTO {table} BY NAME SELECT * EXCLUDE (_ord) FROM {view}"


class Store:
    """One DuckDB file opened read-write: the collector's system of record.

    :meth:`write` runs under a lock: the collector's writer thread is its only caller while
    serving, but tests and offline tools may call it directly. Readers take their own
    :meth:`cursor` and see committed data only.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        self.path = path
        self._con = con
        self._lock = threading.Lock()
        self._next_span_seq = _scalar(con, "SELECT coalesce(max(seq), 0) FROM spans")
        self._next_event_seq = _scalar(con, "SELECT coalesce(max(seq), 0) FROM events")
        self._audit_head = audit.Head.load(con)
        # Events the live aggregates cover; a different count means someone else wrote.
        self._live_events = _scalar(con, "SELECT count(*) FROM events")

    @classmethod
    def open(cls, path: Path, *, threads: int | None = None) -> Store:
        """Open (creating if needed) the file and its tables; :class:`DatabaseLocked` if held.

        ``threads`` caps DuckDB's threads for this file (None: DuckDB's default, one per
        core). The collector passes the cores its decode workers leave: a group commit is
        many small statements, and on two cores with two workers a second DuckDB thread
        costs the main process ~20% more CPU for slower commits (docs/benchmarks.md).
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        con = connect(path, read_only=False)
        try:
            if threads is not None:
                con.execute(f"SET threads = {int(threads)}")
            for ddl in (_SPANS_DDL, events_ddl(), _LOG_RECORDS_DDL, _METRICS_DDL):
                con.execute(ddl)
            con.execute(_AUDIT_READS_DDL)
            for ddl in audit.DDL:
                con.execute(ddl)
            _migrate(con)
            con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
            if live.ensure(con) or not live.in_sync(con):
                # A file from an older collector, or events written around the store.
                live.recompute_all(con)
            # PyArrow loads pandas on its first list cast (~0.3-0.6 s with the GIL held):
            # pay it here, not in the first group commit, which every sender would wait for.
            pa.array([], pa.map_(pa.string(), pa.string())).cast(SPAN_ATTRIBUTES)
        except BaseException:
            con.close()
            raise
        return cls(con, path)

    def write(self, batches: Sequence[Mapping[str, pa.Table]]) -> dict[str, int]:
        """Insert the rows of several requests in one transaction; rows inserted per table.

        Each batch maps table names (``spans``, ``events``, ``log_records``, ``metrics``,
        ``audit_reads``) to rows. Rows of all batches are inserted together in batch order,
        which is arrival order for ``seq``. Returns only once the transaction is committed;
        on any error nothing of any batch is stored.
        """
        tables: dict[str, list[pa.Table]] = {}
        for batch in batches:
            for name, rows in batch.items():
                if rows.num_rows:
                    tables.setdefault(name, []).append(rows)
        steps = [_step(name, pa.concat_tables(parts)) for name, parts in tables.items()]
        with self._lock:
            return self._run(steps)

    def write_spans(self, spans: pa.Table) -> int:
        """Insert spans not stored yet, numbered in arrival order; rows inserted, committed."""
        return self.write([{"spans": spans}]).get("spans", 0)

    def write_events(self, events: pa.Table, log_records: pa.Table) -> int:
        """Insert new events (by ``event_id``) and all log records in one transaction.

        Returns the rows inserted in both tables together; events already stored count zero.
        """
        inserted = self.write([{"events": events, "log_records": log_records}])
        return sum(inserted.values())

    def prune(self, cutoff: datetime.datetime, key: bytes) -> audit.PruneReport:
        """Delete data older than ``cutoff`` behind a signed checkpoint (:func:`audit.prune`).

        Under the write lock, so no group commit interleaves with it; the chain's head is
        reloaded afterwards.
        """
        with self._lock:
            report = audit.prune(self._con, cutoff, key)
            self._audit_head = audit.Head.load(self._con)
            self._after_prune(cutoff)
            return report

    def import_log(
        self, path: Path, options: ImportOptions, *, progress: bool | None = False
    ) -> ImportReport:
        """Import an event-log file through this store, between two group commits.

        The collector's ``POST /api/v1/imports`` calls this, so a file a running collector
        holds can still take imports. Under the write lock: the import is its own transaction
        (events, audit chain, live aggregates), and the store then reloads what it caches.
        """
        from collector.transfer import import_file

        with self._lock:
            report = import_file(self._con, path, options, progress=progress)
            self._next_event_seq = _scalar(self._con, "SELECT coalesce(max(seq), 0) FROM events")
            self._audit_head = audit.Head.load(self._con)
            self._live_events = _scalar(self._con, "SELECT count(*) FROM events")
            return report

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new connection to the same database for reading; the caller closes it.

        Writing through a cursor leaves the store's cached audit head stale: imports go
        through :meth:`import_log` instead.
        """
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

    def _run(self, steps: list[_Step]) -> dict[str, int]:
        """Run ``steps`` in one transaction; return only once it is committed."""
        if not steps:
            return {}
        con = self._con
        inserted: dict[str, int] = {}
        bases = {"spans": self._next_span_seq, "events": self._next_event_seq}
        head = self._audit_head
        covered = self._live_events
        con.begin()
        try:
            if any(step.table == "events" for step in steps):
                covered = _scalar(con, "SELECT count(*) FROM events")
                if covered != self._live_events:
                    # Events were written around the store (an import through a cursor):
                    # rebuild the live aggregates before adding to them.
                    live.recompute_all(con)
            for step in steps:
                con.register(step.view, step.rows)
                try:
                    params = dict(step.params)
                    if step.table in bases:
                        # Above every seq seen, so collector numbers never undercut a sender's.
                        bases[step.table] = max(bases[step.table], params.pop("seen", 0))
                        params["base"] = bases[step.table] + 1
                    if step.table == "events":
                        # Every inserted event is chained in the same transaction.
                        rows = con.sql(step.sql, params=params).to_arrow_table()
                        trail, head = audit.audit_rows(head, rows)
                        audit.append(con, trail)
                        inserted["events"] = rows.num_rows
                        covered += rows.num_rows
                        # The live aggregates of the touched cases, in the same commit.
                        since = None if params["nulls"] else params["lo"]
                        live_batch.refresh(con, rows, since)
                    else:
                        inserted[step.table] = _scalar(con, step.sql, params or None)
                finally:
                    con.unregister(step.view)
            con.commit()
        except BaseException:
            con.rollback()
            raise
        # Numbers may leave gaps (only order matters); they never repeat.
        for step in steps:
            if step.table in bases:
                bases[step.table] += step.rows.num_rows
        self._next_span_seq, self._next_event_seq = bases["spans"], bases["events"]
        self._audit_head = head
        self._live_events = covered
        return inserted

    def _after_prune(self, cutoff: datetime.datetime) -> None:
        """Recompute the live aggregates of the cases a prune cut into, committed.

        Exactly the cases that started before ``cutoff`` lost events; a case that lost all
        of them loses its rows.
        """
        con = self._con
        con.begin()
        try:
            cut = con.sql(
                "SELECT DISTINCT case_id FROM live_cases WHERE start_ts < $cutoff",
                params={"cutoff": cutoff},
            ).to_arrow_table()
            live.refresh(con, cut.column("case_id"))
            con.commit()
        except BaseException:
            con.rollback()
            raise
        self._live_events = _scalar(con, "SELECT count(*) FROM events")


class _Step(NamedTuple):
    """One ``INSERT ... SELECT`` from an Arrow table registered as ``view``."""

    table: str
    view: str
    rows: pa.Table
    sql: str
    params: dict[str, Any]


def _step(table: str, rows: pa.Table) -> _Step:
    rows = rows.append_column("_ord", pa.array(range(rows.num_rows), type=pa.int64()))
    if table == "spans":
        attributes = rows.schema.get_field_index("attributes")
        rows = rows.set_column(
            attributes, "attributes", rows.column(attributes).cast(SPAN_ATTRIBUTES)
        )
        sql = _INSERT_SPANS.format(batch=_dedupe_sql("span_batch", rows, ("trace_id", "span_id")))
        return _Step(table, "span_batch", rows, sql, _time_range(rows, "start_ts"))
    if table == "events":
        seen = pc.max(rows.column("seq")).as_py() or 0
        params = {**_time_range(rows, "ts"), "seen": seen}
        sql = _INSERT_EVENTS.format(batch=_dedupe_sql("event_batch", rows, ("event_id",)))
        return _Step(table, "event_batch", rows, sql, params)
    if table not in TABLES:
        raise ValueError(f"the store has no table {table!r}")
    view = f"{table}_batch"
    return _Step(table, view, rows, _APPEND.format(table=table, view=view), {})


def _dedupe_sql(view: str, rows: pa.Table, key: tuple[str, ...]) -> str:
    """``view`` itself, or its first copies when the batch repeats a key (rare; costly)."""
    columns = [rows.column(name) for name in key]
    joined = columns[0] if len(columns) == 1 else pc.binary_join_element_wise(*columns, "\x00")
    if pc.count_distinct(joined, mode="all").as_py() == rows.num_rows:
        return f"SELECT * FROM {view}"
    return _FIRST_COPIES.format(view=view, key=", ".join(key))


def _time_range(rows: pa.Table, column: str) -> dict[str, Any]:
    """Bounds of ``column`` (``lo``, ``hi``) and whether it has nulls (``nulls``).

    Decoders reject rows without a time; other writers may not, so a batch with nulls
    also compares against stored rows without a time (slower, still exact).
    """
    values = rows.column(column)
    bounds = pc.min_max(values)
    return {
        "lo": bounds["min"].as_py(),
        "hi": bounds["max"].as_py(),
        "nulls": values.null_count > 0,
    }


def open_readonly(path: Path) -> duckdb.DuckDBPyConnection:
    """Open a store file for offline analysis (a notebook, a copied file).

    Raises :class:`StoreNotFound` rather than letting DuckDB create an empty file, and
    :class:`DatabaseLocked` (naming the collector's URL when it is known) when a running
    collector holds it.
    """
    path = Path(path)
    if not path.is_file():
        raise StoreNotFound(path)
    return connect(path, read_only=True)


def _migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Bring a file written by an older collector to the current schema."""
    rows = con.execute(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'spans' AND column_name = 'attributes'"
    ).fetchall()
    if rows and str(rows[0][0]).startswith("MAP"):
        con.execute(_MIGRATE_SPAN_ATTRIBUTES)


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> int:
    rows = con.execute(sql, params).fetchall()
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0
