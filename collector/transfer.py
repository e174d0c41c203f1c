"""Imports into and exports out of a DuckDB connection holding the ``events`` table.

An import reads the whole file first (:mod:`mining.readers`, pure Arrow), then writes
it in **one transaction**: the ``events`` rows, the OCEL tables of an object-centric log, and
a row of ``imports`` metadata. A malformed file fails before the transaction starts, and a
failure inside it rolls everything back, so an import is all or nothing.

Event ids are deterministic: an event the file does not identify itself gets
``sha256(file content digest | read options | row key)``, so importing the same file again
with the same options inserts nothing (rows whose ``event_id`` is stored are skipped, as the
collector skips re-sent events). Changing the column mapping or ``--object-type`` yields other
rows, hence other ids; ``--workflow`` only labels rows and is not part of the id.

Exports (:mod:`collector.exporters`) read the table ordered by case (cases by their first
event), then ``(ts, seq)`` within a case, and write XES, OCEL 2.0 JSON, CSV or Parquet that
import back to the same rows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from collector import audit
from collector.exporters import ExportFormat, export_query
from collector.transfer_errors import ExportFailed, ImportFailed
from mining import live
from mining.errors import ReadFailed
from mining.readers import ImportOptions, OcelTables, detect_format, read_log
from mining.readers._model import OnBytes, workflow_from_name
from mining.schema import events_ddl

#: Files at least this large get a progress bar (when stderr is a terminal).
PROGRESS_MIN_BYTES = 1024 * 1024

_OCEL_DDL = {
    "ocel_events": "import_id VARCHAR, event_id VARCHAR, activity VARCHAR, ts TIMESTAMP, "
    "attributes MAP(VARCHAR, VARCHAR), ord BIGINT",
    "ocel_objects": "import_id VARCHAR, object_id VARCHAR, object_type VARCHAR",
    "ocel_object_attributes": "import_id VARCHAR, object_id VARCHAR, name VARCHAR, "
    "ts TIMESTAMP, value VARCHAR",
    "ocel_event_objects": "import_id VARCHAR, event_id VARCHAR, object_id VARCHAR, "
    "qualifier VARCHAR",
    "ocel_object_objects": "import_id VARCHAR, source_id VARCHAR, target_id VARCHAR, "
    "qualifier VARCHAR",
}
_IMPORTS_DDL = """
CREATE TABLE IF NOT EXISTS imports (
    import_id VARCHAR,
    file_name VARCHAR,
    format VARCHAR,
    workflow VARCHAR,
    object_type VARCHAR,
    rows BIGINT,
    inserted BIGINT,
    imported_at TIMESTAMP
)"""

# Ids the file lacks derive from the import's prefix and each row's key.
_EVENT_IDS = """
SELECT coalesce(event_id, substr(sha256($prefix || _key), 1, 32)) AS event_id FROM import_batch
"""

# Rows to insert: the first row of each id within the file, unless the id is stored. Only
# stored rows in the file's time range can match, so the anti-join reads just those row
# groups; the work runs on two narrow columns, not on the whole rows.
_FRESH_ROWS = """
SELECT n.row FROM (
    SELECT event_id, row FROM import_ids
    QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY row) = 1
) n
ANTI JOIN (SELECT event_id FROM events WHERE ts BETWEEN $lo AND $hi) e
    ON e.event_id = n.event_id
ORDER BY n.row
"""

_INSERT_EVENTS = "INSERT INTO events BY NAME SELECT * EXCLUDE (_key) FROM import_batch"


@dataclasses.dataclass(frozen=True)
class ImportReport:
    """What one import did, for the CLI and for tests."""

    path: Path
    format: str
    import_id: str
    workflow: str
    """The label given to rows whose file names no workflow of its own."""
    workflows: tuple[str, ...]
    """Every workflow the imported rows belong to."""
    rows: int
    """Event rows read from the file."""
    inserted: int
    """Rows new to the ``events`` table (the rest were already stored)."""
    cases: int
    seconds: float
    object_type: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def skipped(self) -> int:
        """Rows not inserted because their ``event_id`` was already stored."""
        return self.rows - self.inserted

    def lines(self) -> list[str]:
        """A short human summary, one fact per line."""
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        named = ", ".join(repr(w) for w in self.workflows[:5])
        if len(self.workflows) > 5:
            named += f" and {len(self.workflows) - 5} more"
        noun = "workflow" if len(self.workflows) == 1 else "workflows"
        head = (
            f"imported {self.path.name} ({self.format}) as {noun} {named or repr(self.workflow)}: "
            f"{self.rows} events in {self.cases} cases, {self.inserted} new"
        )
        if self.skipped:
            head += f", {self.skipped} already stored"
        return [head, *self.notes, f"{self.seconds:.2f} s ({rate:,.0f} events/s)"]


@dataclasses.dataclass(frozen=True)
class ExportReport:
    """What one export wrote."""

    path: Path
    format: ExportFormat
    rows: int
    cases: int
    seconds: float

    def lines(self) -> list[str]:
        """A short human summary."""
        return [
            f"exported {self.rows} events in {self.cases} cases to {self.path} "
            f"({self.format}) in {self.seconds:.2f} s"
        ]


@contextlib.contextmanager
def _read_errors() -> Iterator[None]:
    """A reader's :class:`ReadFailed` becomes the collector's :class:`ImportFailed`, same text."""
    try:
        yield
    except ReadFailed as exc:
        raise ImportFailed(str(exc)) from exc


def import_file(
    con: duckdb.DuckDBPyConnection,
    path: Path | str,
    options: ImportOptions | None = None,
    *,
    progress: bool | None = None,
) -> ImportReport:
    """Import an event-log file into ``con``'s ``events`` table, all or nothing.

    ``progress`` shows a bar on stderr: ``None`` means only for large files and only when
    stderr is a terminal. Raises :class:`ImportFailed` (database unchanged) when the file is
    missing, of an unknown type or malformed.
    """
    started = time.perf_counter()
    path = Path(path)
    options = options or ImportOptions()
    if not path.is_file():
        raise ImportFailed(f"{path}: no such file")
    with _read_errors():
        fmt = options.format or detect_format(path)
    options = dataclasses.replace(options, format=fmt)
    import_id = _file_digest(path)
    workflow = options.workflow or workflow_from_name(path)
    with _progress(path, progress) as bar:
        with _read_errors():
            log = read_log(path, options, bar.on_bytes)
        bar.phase(f"storing {log.events.num_rows:,} events")
        prefix = f"{import_id}|{_options_fingerprint(options)}|"
        record = [import_id, path.name, str(fmt), workflow, log.object_type, log.events.num_rows]
        inserted = _load(con, log.events, log.ocel, prefix, options.workflow, workflow, record)
    cases = pc.count_distinct(log.events.column("case_id")).as_py()
    workflows = _workflows(log.events, workflow, forced=options.workflow is not None)
    return ImportReport(
        path=path,
        format=str(fmt),
        import_id=import_id,
        workflow=workflow,
        workflows=workflows,
        rows=log.events.num_rows,
        inserted=inserted,
        cases=cases,
        seconds=time.perf_counter() - started,
        object_type=log.object_type,
        notes=log.notes,
    )


def export_events(
    con: duckdb.DuckDBPyConnection, fmt: ExportFormat | str, out: Path | str
) -> ExportReport:
    """Write the whole ``events`` table to ``out`` in ``fmt``; :class:`ExportFailed` if not."""
    started = time.perf_counter()
    out = Path(out)
    try:
        fmt = ExportFormat(fmt)
    except ValueError:
        known = ", ".join(f.value for f in ExportFormat)
        raise ExportFailed(f"unknown export format {fmt!r} (expected one of {known})") from None
    try:
        rows, cases = _scalars(con, "SELECT count(*), count(DISTINCT case_id) FROM events")
    except duckdb.CatalogException:
        raise ExportFailed("the database has no events table (nothing was ever stored)") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        export_query(con, fmt, out)
    except OSError as exc:
        raise ExportFailed(f"{out}: cannot write ({exc.strerror or exc})") from exc
    except duckdb.Error as exc:
        raise ExportFailed(f"{out}: {exc}") from exc
    return ExportReport(out, fmt, rows, cases, time.perf_counter() - started)


def _file_digest(path: Path) -> str:
    """The file's identity: a digest of its bytes, so a copy or a rename is the same file."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()[:32]


def _options_fingerprint(options: ImportOptions) -> str:
    """The read options that shape rows (not ``workflow``, which only labels them)."""
    shaping = dataclasses.asdict(options)
    shaping.pop("workflow")
    default = dataclasses.asdict(dataclasses.replace(ImportOptions(), format=options.format))
    default.pop("workflow")
    return "" if shaping == default else json.dumps(shaping, sort_keys=True, default=str)


def _load(
    con: duckdb.DuckDBPyConnection,
    events: pa.Table,
    ocel: OcelTables | None,
    prefix: str,
    forced_workflow: str | None,
    workflow: str,
    record: list[Any],
) -> int:
    """Insert everything in one transaction; return the new ``events`` rows.

    ``record`` is the ``imports`` row without its last two fields (rows inserted, when).
    """
    events = _labelled(events, workflow, forced=forced_workflow is not None)
    con.begin()
    try:
        con.execute(events_ddl())
        for table, columns in _OCEL_DDL.items():
            con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
        con.execute(_IMPORTS_DDL)
        # Checked before the insert: were the live tables exact for the events stored so far?
        was_exact = not live.ensure(con) and live.in_sync(con)
        inserted = _insert_events(con, events, prefix) if events.num_rows else 0
        if inserted:
            _refresh_live(con, events, rebuild=not was_exact)
        if ocel is not None:
            _load_ocel(con, ocel, record[0])
        now = datetime.now(UTC).replace(tzinfo=None)
        con.execute("INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [*record, inserted, now])
        con.commit()
    except BaseException as exc:
        con.rollback()
        if isinstance(exc, duckdb.Error):
            raise ImportFailed(f"could not store the events: {exc}") from exc
        raise
    return inserted


def _refresh_live(con: duckdb.DuckDBPyConnection, events: pa.Table, *, rebuild: bool) -> None:
    """Bring the live aggregates up to date in the import's transaction.

    The imported cases are recomputed; tables that were new, of an older layout or already
    out of step with ``events`` are rebuilt, so a collector opening the file next finds them
    exact instead of paying a rebuild in its first write.
    """
    if rebuild:
        live.recompute_all(con)
        return
    lo, _ = _time_range(events)
    live.refresh(con, events.column("case_id"), lo)


def _insert_events(con: duckdb.DuckDBPyConnection, events: pa.Table, prefix: str) -> int:
    """Give every row an id, drop rows already stored or repeated, insert the rest."""
    con.register("import_batch", events)
    try:
        ids = con.sql(_EVENT_IDS, params={"prefix": prefix}).to_arrow_table().column("event_id")
    finally:
        con.unregister("import_batch")
    index = events.schema.get_field_index("event_id")
    events = events.set_column(index, "event_id", ids.cast(pa.string()))
    lo, hi = _time_range(events)
    row_ids = pa.table({"event_id": ids, "row": pa.array(range(events.num_rows), pa.int64())})
    con.register("import_ids", row_ids)
    try:
        rows = con.sql(_FRESH_ROWS, params={"lo": lo, "hi": hi}).to_arrow_table().column("row")
    finally:
        con.unregister("import_ids")
    if len(rows) < events.num_rows:
        events = events.take(rows)
    if not events.num_rows:
        return 0
    return _insert_chained(con, events)


def _insert_chained(con: duckdb.DuckDBPyConnection, events: pa.Table) -> int:
    """Insert ``events`` and, in a collector's file, append them to its audit trail.

    Imported events are stored events like any other, so they are chained too (same
    transaction, same canonical hash as :class:`~collector.store.Store`); a plain DuckDB
    file without the audit tables just gets the rows.
    """
    if not audit.has_audit(con):
        return _insert_view(con, "import_batch", events, _INSERT_EVENTS, {})
    sql = f"{_INSERT_EVENTS} RETURNING event_id, {audit.content_hash_sql()} AS content_hash"
    con.register("import_batch", events)
    try:
        inserted = con.sql(sql).to_arrow_table()
    finally:
        con.unregister("import_batch")
    trail, _ = audit.audit_rows(audit.Head.load(con), inserted)
    audit.append(con, trail)
    return inserted.num_rows


def _labelled(events: pa.Table, workflow: str, *, forced: bool) -> pa.Table:
    """``events`` with ``workflow`` on every row (``forced``) or on rows that have none."""
    index = events.schema.get_field_index("workflow")
    column = events.column(index)
    labelled = (
        pa.array([workflow] * events.num_rows, pa.string())
        if forced
        else pc.fill_null(column, workflow)
    )
    return events.set_column(index, "workflow", labelled)


def _load_ocel(con: duckdb.DuckDBPyConnection, ocel: OcelTables, import_id: str) -> None:
    """The OCEL tables of a file not imported before (same content = same rows)."""
    (stored,) = _scalars(
        con, "SELECT count(*) FROM ocel_events WHERE import_id = $id", {"id": import_id}
    )
    if stored:
        return
    for name in _OCEL_DDL:
        table = getattr(ocel, name.removeprefix("ocel_"))
        if table.num_rows:
            sql = f"INSERT INTO {name} BY NAME SELECT $id AS import_id, * FROM ocel_batch"
            _insert_view(con, "ocel_batch", table, sql, {"id": import_id})


def _insert_view(
    con: duckdb.DuckDBPyConnection, view: str, table: pa.Table, sql: str, params: dict[str, Any]
) -> int:
    con.register(view, table)
    try:
        (count,) = _scalars(con, sql, params)
    finally:
        con.unregister(view)
    return count


def _workflows(events: pa.Table, label: str, *, forced: bool) -> tuple[str, ...]:
    if forced or not events.num_rows:
        return (label,)
    column = pc.fill_null(events.column("workflow"), label)
    return tuple(sorted(pc.unique(column).to_pylist()))


def _time_range(events: pa.Table) -> tuple[datetime | None, datetime | None]:
    if not events.num_rows:
        return None, None
    bounds = pc.min_max(events.column("ts")).as_py()
    return bounds["min"], bounds["max"]


def _scalars(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None
) -> tuple[int, ...]:
    rows = con.execute(sql, params or None).fetchall()  # fetchall: DuckDB 2.0 wants results drained
    return tuple(int(value or 0) for value in rows[0]) if rows else (0,)


class _Bar:
    """The progress callbacks a reader and the loader use; inert when no bar is shown."""

    def __init__(self, progress: Progress | None = None, task: Any = None) -> None:
        self._progress = progress
        self._task = task
        self.on_bytes: OnBytes | None = self._advance if progress is not None else None

    def _advance(self, size: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, size)

    def phase(self, description: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=description)


@contextlib.contextmanager
def _progress(path: Path, enabled: bool | None) -> Iterator[_Bar]:
    """A rich progress bar over the file's bytes, on stderr, if wanted and possible."""
    console = Console(stderr=True)
    size = path.stat().st_size
    show = enabled if enabled is not None else size >= PROGRESS_MIN_BYTES
    if not show or not console.is_terminal:
        yield _Bar()
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"reading {path.name}", total=size)
        yield _Bar(progress, task)
