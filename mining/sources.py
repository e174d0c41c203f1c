"""Where an :class:`~mining.EventLog` gets its events: files, DuckDB, frames, a collector.

Every local source ends as a DuckDB connection with an ``events`` table or view of the
contract's columns, so SQL figures run unchanged on all of them. An analyst's frame is also
kept as an *instance frame* when each row already is one executed step (pm4py's usual
shape), so the pm4py-shared figures skip the pairing of ``started``/``completed`` events.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from baton.contract import EVENT_COLUMNS, Lifecycle
from mining.errors import MiningError
from mining.schema import events_ddl

#: pm4py's column names and the ``events`` columns they become.
PM4PY_COLUMNS = {
    "case:concept:name": "case_id",
    "concept:name": "activity",
    "time:timestamp": "ts",
    "start_timestamp": "start_ts",
    "org:resource": "resource",
    "lifecycle:transition": "lifecycle",
}
#: File suffixes read through :mod:`mining.readers`.
LOG_SUFFIXES = (".xes", ".xes.gz", ".csv", ".csv.gz", ".parquet", ".jsonocel", ".xmlocel")
#: Suffixes taken as DuckDB databases (``.sqlite`` is OCEL 2.0, read as a log).
DB_SUFFIXES = (".duckdb", ".db", ".ddb")
_XES_LIFECYCLES = {"start": Lifecycle.STARTED.value, "complete": Lifecycle.COMPLETED.value}


@dataclasses.dataclass(eq=False)
class Local:
    """A source opened in this process: a connection with ``events``, maybe an instance frame.

    A frame's ``events`` view is built on first use, so opening a frame for a DFG costs
    nothing beyond renaming its columns.
    """

    description: str
    instances: pl.DataFrame | None = None
    _con: duckdb.DuckDBPyConnection | None = None
    _frame: pl.DataFrame | None = None

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            assert self._frame is not None
            self._con = _lazy_events(self._frame)
        return self._con


@dataclasses.dataclass(frozen=True)
class Remote:
    """A running collector: figures are computed there, by the same ``mining`` code."""

    url: str
    token: str | None
    timeout_s: float = 60.0

    @property
    def description(self) -> str:
        return f"collector at {self.url}"


def open_source(source: Any, *, token: str | None = None, **read_options: Any) -> Local | Remote:
    """Open any supported source; a clear :class:`MiningError` names what was wrong."""
    if isinstance(source, duckdb.DuckDBPyConnection):
        _require_events(source, "the connection")
        return Local("DuckDB connection", _con=source)
    if isinstance(source, str) and source.startswith(("http://", "https://")):
        return Remote(source.rstrip("/"), token)
    if isinstance(source, str | Path):
        return _open_path(Path(source), read_options)
    frame = _as_polars(source)
    if frame is not None:
        return _open_frame(frame)
    raise MiningError(
        f"cannot open a {type(source).__name__} as an event log: give a DuckDB file, a "
        "collector URL, an XES/OCEL/CSV/Parquet path or a Polars/pandas frame"
    )


def _open_path(path: Path, read_options: dict[str, Any]) -> Local:
    name = path.name.lower()
    if not path.exists():
        raise MiningError(f"{path}: no such file")
    if name.endswith(DB_SUFFIXES):
        return Local(f"DuckDB file {path.name}", _con=_open_duckdb(path))
    from mining.readers import ImportOptions, read_log

    if not name.endswith((*LOG_SUFFIXES, ".sqlite")):
        raise MiningError(
            f"{path}: unknown file type; expected a DuckDB file ({', '.join(DB_SUFFIXES)}) or "
            f"a log ({', '.join((*LOG_SUFFIXES, '.sqlite'))})"
        )
    try:
        log = read_log(path, ImportOptions(**read_options), None)
    except TypeError as exc:
        raise MiningError(f"{path}: bad read option: {exc}") from None
    events = log.events.select([c for c, _ in EVENT_COLUMNS if c in log.events.column_names])
    if "seq" not in events.column_names:
        events = events.append_column("seq", pa.array(range(events.num_rows), pa.int64()))
    return Local(path.name, _con=_memory_events(events))


def open_duckdb(
    path: Path,
    *,
    read_only: bool = True,
    when_held: str = "is held by a running collector; open its URL instead, e.g. "
    "EventLog.open('http://127.0.0.1:4318')",
) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file; :class:`MiningError` says ``{path} {when_held}`` if a process holds it.

    DuckDB lets one process hold a file read-write and then no other may open it at all, so
    every reader of Baton's files needs this message; callers word the way out for their user.
    """
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise MiningError(f"{path} {when_held}") from None
        raise MiningError(f"{path}: cannot open: {exc}") from None
    except duckdb.Error as exc:
        raise MiningError(f"{path}: not a DuckDB database: {exc}") from None


def _open_duckdb(path: Path) -> duckdb.DuckDBPyConnection:
    con = open_duckdb(path)
    _require_events(con, str(path))
    return con


def _require_events(con: duckdb.DuckDBPyConnection, where: str) -> None:
    rows = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'events' "
        "UNION ALL SELECT count(*) FROM duckdb_views() WHERE view_name = 'events'"
    ).fetchall()
    if not any(n for (n,) in rows):
        raise MiningError(f"{where} has no 'events' table; import a log first (baton import)")


def _memory_events(events: pa.Table) -> duckdb.DuckDBPyConnection:
    """An in-memory connection whose ``events`` table has exactly the contract's columns."""
    con = duckdb.connect()
    con.execute(events_ddl())
    names = [c for c, _ in EVENT_COLUMNS if c in events.column_names]
    con.register("baton_source", events.select(names))
    cols = ", ".join(names)
    con.execute(f"INSERT INTO events ({cols}) SELECT {cols} FROM baton_source")
    con.unregister("baton_source")
    return con


def _as_polars(source: Any) -> pl.DataFrame | None:
    if isinstance(source, pl.LazyFrame):
        return source.collect()
    if isinstance(source, pl.DataFrame):
        return source
    if type(source).__module__.startswith("pandas") and hasattr(source, "columns"):
        return pl.from_pandas(source)
    return None


def normalize_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """pm4py or Baton column names in, Baton's out; times as naive UTC microseconds.

    Row order is kept and becomes ``seq`` unless the frame has one, which is how pm4py
    breaks timestamp ties.
    """
    renamed = frame.rename({k: v for k, v in PM4PY_COLUMNS.items() if k in frame.columns})
    missing = [c for c in ("case_id", "activity", "ts") if c not in renamed.columns]
    if missing:
        raise MiningError(
            f"the frame lacks column(s) {', '.join(missing)}; give pm4py's "
            "'case:concept:name', 'concept:name', 'time:timestamp' or Baton's "
            "'case_id', 'activity', 'ts'"
        )
    # Only the casts that change a dtype: a no-op cast still costs a pass over the column.
    casts = [
        pl.col(column).cast(pl.String)
        for column in ("case_id", "activity")
        if renamed.schema[column] != pl.String
    ]
    for column in ("ts", "start_ts", "due_ts"):
        if column in renamed.columns and renamed.schema[column] != pl.Datetime("us"):
            casts.append(_utc_micros(renamed, column))
    out = renamed.with_columns(casts) if casts else renamed
    if "seq" not in out.columns:
        out = out.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("seq"), pl.all())
    if "lifecycle" in out.columns:
        out = out.with_columns(
            pl.col("lifecycle")
            .cast(pl.String)
            .str.to_lowercase()
            .replace(_XES_LIFECYCLES)
            .alias("lifecycle")
        )
    return out


def _utc_micros(frame: pl.DataFrame, column: str) -> pl.Expr:
    dtype = frame.schema[column]
    expr = pl.col(column)
    if dtype == pl.String:
        expr = expr.str.to_datetime(time_zone="UTC")
        dtype = pl.Datetime("us", "UTC")
    if not isinstance(dtype, pl.Datetime):
        raise MiningError(f"column {column!r} holds {dtype}, not timestamps")
    if dtype.time_zone is not None:
        expr = expr.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return expr.dt.cast_time_unit("us").alias(column)


def _open_frame(frame: pl.DataFrame) -> Local:
    events = normalize_frame(frame)
    lifecycles = (
        set(events.get_column("lifecycle").unique().drop_nulls().to_list())
        if "lifecycle" in events.columns
        else set()
    )
    pairs = Lifecycle.STARTED.value in lifecycles
    instances = None if pairs else _instances_of(events)
    if not pairs and "lifecycle" not in events.columns:
        events = events.with_columns(pl.lit(Lifecycle.COMPLETED.value).alias("lifecycle"))
    description = f"frame of {frame.height:,} rows"
    if pairs:
        keep = [c for c, _ in EVENT_COLUMNS if c in events.columns]
        return Local(description, _con=_memory_events(events.select(keep).to_arrow()))
    return Local(description, instances, _frame=events)


def _instances_of(events: pl.DataFrame) -> pl.DataFrame:
    """Each row one executed step: start is ``start_ts`` if given, else the completion."""
    if "lifecycle" in events.columns:
        ends = (Lifecycle.COMPLETED.value, Lifecycle.FAILED.value)
        events = events.filter(pl.col("lifecycle").is_null() | pl.col("lifecycle").is_in(ends))
    if "start_ts" not in events.columns:
        events = events.with_columns(pl.col("ts").alias("start_ts"))
    return events


def _lazy_events(events: pl.DataFrame) -> duckdb.DuckDBPyConnection:
    """A connection whose ``events`` view reads the frame's Arrow data in place."""
    con = duckdb.connect()
    keep = [c for c, _ in EVENT_COLUMNS if c in events.columns]
    con.register("baton_frame", events.select(keep).to_arrow())
    exprs = [
        f"CAST({name} AS {kind}) AS {name}" if name in keep else f"CAST(NULL AS {kind}) AS {name}"
        for name, kind in EVENT_COLUMNS
    ]
    con.execute(f"CREATE VIEW events AS SELECT {', '.join(exprs)} FROM baton_frame")
    return con
