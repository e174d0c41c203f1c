"""CSV and Parquet files: one event per row, columns mapped onto the ``events`` table.

A file that already has the ``events`` columns (what ``baton export --format csv|parquet``
writes) is read as such. Any other table is mapped: a case, an activity and a timestamp
column are required (named by options, or found under pm4py's or Baton's usual names), a
resource and a lifecycle column are optional, and every other column goes into
``attributes`` as text. With a start column each row is one activity instance and yields a
``started`` event at the start time and a ``completed`` event at the timestamp, with ``seq``
``2 * row`` and ``2 * row + 1``; otherwise ``seq`` is the row number. CSV fields are read as
text (empty = missing) and timestamps parsed as :func:`~mining.readers._columns.parse_times`
says; the line numbers in errors assume no quoted field spans lines.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from baton.contract import EVENT_COLUMNS, Lifecycle
from mining.errors import ReadFailed
from mining.readers._columns import (
    ARROW_SCHEMA,
    KEY_COLUMN,
    BadTime,
    events_table,
    lifecycles,
    parse_times,
)
from mining.readers._model import ColumnMapping, ImportedLog, ImportOptions, OnBytes
from mining.readers._source import open_binary

#: Column names tried, in order, for each role the options leave unnamed.
USUAL_NAMES: dict[str, tuple[str, ...]] = {
    "case": ("case:concept:name", "case_id", "case"),
    "activity": ("concept:name", "activity"),
    "timestamp": ("time:timestamp", "ts", "timestamp", "time"),
    "start": ("start_timestamp", "start_ts"),
    "resource": ("org:resource", "resource"),
    "lifecycle": ("lifecycle:transition", "lifecycle"),
}
_REQUIRED = ("case", "activity", "timestamp")
_SEPARATORS = (",", ";", "\t", "|")
_EVENTS_SCHEMA_MARKERS = {"event_id", "case_id", "activity", "ts", "lifecycle"}

#: Turns a 0-based row number into the words an error message uses for it.
Locate = Callable[[int], str]


def read_csv(path: Path, options: ImportOptions, on_bytes: OnBytes | None = None) -> ImportedLog:
    """Read a delimited text file (plain or gzip) into ``events`` rows."""
    with open_binary(path, on_bytes) as stream:
        data = stream.read()
    separator = options.separator or _guess_separator(data)
    if separator in ("\\t", "tab"):
        separator = "\t"
    try:
        frame = pl.read_csv(data, separator=separator, infer_schema=False, raise_if_empty=False)
    except pl.exceptions.PolarsError as exc:
        detail = str(exc).strip().splitlines()[0]
        raise ReadFailed(f"{path}: malformed CSV: {detail}") from None
    return _from_frame(frame, path, options, lambda row: f"line {row + 2}")


def read_parquet(
    path: Path, options: ImportOptions, on_bytes: OnBytes | None = None
) -> ImportedLog:
    """Read a Parquet file into ``events`` rows."""
    with open_binary(path, on_bytes) as stream:
        data = stream.read()
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except pl.exceptions.PolarsError as exc:
        detail = str(exc).strip().splitlines()[0]
        raise ReadFailed(f"{path}: not a readable Parquet file: {detail}") from None
    return _from_frame(frame, path, options, lambda row: f"row {row + 1}")


def _guess_separator(data: bytes) -> str:
    """The candidate separator that occurs most often in the header line."""
    header = data.split(b"\n", 1)[0].decode("utf-8", "replace")
    counts = {sep: header.count(sep) for sep in _SEPARATORS}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def _from_frame(
    frame: pl.DataFrame, path: Path, options: ImportOptions, locate: Locate
) -> ImportedLog:
    if options.columns == ColumnMapping() and set(frame.columns) >= _EVENTS_SCHEMA_MARKERS:
        return ImportedLog(events=_events_schema(frame, path, locate))
    return ImportedLog(events=_mapped(frame, path, options, locate))


def _resolve(columns: list[str], mapping: ColumnMapping, path: Path) -> dict[str, str]:
    """Role -> source column, from the options or the usual names."""
    roles: dict[str, str] = {}
    listed = ", ".join(repr(c) for c in columns)
    for role, usual in USUAL_NAMES.items():
        chosen = getattr(mapping, role)
        if chosen is not None:
            if chosen not in columns:
                raise ReadFailed(f"{path}: no column {chosen!r} (--{role}-column); has {listed}")
            roles[role] = chosen
            continue
        found = next((name for name in usual if name in columns), None)
        if found is not None:
            roles[role] = found
        elif role in _REQUIRED:
            raise ReadFailed(
                f"{path}: which column is the {role}? give --{role}-column (columns: {listed})"
            )
    return roles


def _mapped(frame: pl.DataFrame, path: Path, options: ImportOptions, locate: Locate) -> pa.Table:
    roles = _resolve(frame.columns, options.columns, path)
    for role in _REQUIRED:
        _require_values(frame, roles[role], role, path, locate)
    rows = frame.height
    ts = _times(frame[roles["timestamp"]], options.timestamp_format, path, locate)
    if "lifecycle" in roles:
        lifecycle = lifecycles(frame[roles["lifecycle"]].cast(pl.String).to_list())
    else:
        lifecycle = [Lifecycle.COMPLETED.value] * rows
    extra = [c for c in frame.columns if c not in roles.values()]
    columns: dict[str, Any] = {
        "case_id": _text(frame[roles["case"]]),
        "activity": _text(frame[roles["activity"]]),
        "lifecycle": lifecycle,
        "ts": ts,
        "resource": _text(frame[roles["resource"]]) if "resource" in roles else None,
        "attributes": _attribute_map(frame, extra),
    }
    if "start" not in roles:
        columns["seq"] = pa.array(range(rows), type=pa.int64())
        columns[KEY_COLUMN] = pa.array([str(r) for r in range(rows)])
        return events_table(rows, columns)
    completed = events_table(
        rows,
        {
            **columns,
            "seq": pa.array(range(1, 2 * rows, 2), type=pa.int64()),
            KEY_COLUMN: pa.array([str(r) for r in range(1, 2 * rows, 2)]),
        },
    )
    start = _times(frame[roles["start"]], options.timestamp_format, path, locate)
    has_start = pa.array(start.is_valid())
    started = events_table(
        rows,
        {
            **columns,
            "lifecycle": [Lifecycle.STARTED.value] * rows,
            "ts": start,
            "seq": pa.array(range(0, 2 * rows, 2), type=pa.int64()),
            KEY_COLUMN: pa.array([str(r) for r in range(0, 2 * rows, 2)]),
        },
    ).filter(has_start)
    return pa.concat_tables([started, completed]).sort_by("seq")


def _events_schema(frame: pl.DataFrame, path: Path, locate: Locate) -> pa.Table:
    """A frame with the ``events`` columns (a Baton export): cast each one to its type."""
    rows = frame.height
    columns: dict[str, Any] = {}
    for name, kind in EVENT_COLUMNS:
        if name not in frame.columns:
            continue
        series = frame[name]
        if kind == "TIMESTAMP":
            columns[name] = _times(series, None, path, locate)
        elif name == "attributes":
            columns[name] = _attributes_column(series, path, locate)
        elif kind in ("BIGINT", "INTEGER"):
            columns[name] = _integers(series, name, path, locate)
        else:
            columns[name] = _text(series)
    for role, column in (("case", "case_id"), ("activity", "activity"), ("timestamp", "ts")):
        _require_values(frame, column, role, path, locate)
    if "seq" not in columns:
        columns["seq"] = pa.array(range(rows), type=pa.int64())
    columns[KEY_COLUMN] = pa.array([str(r) for r in range(rows)])
    return events_table(rows, columns)


def _require_values(
    frame: pl.DataFrame, column: str, role: str, path: Path, locate: Locate
) -> None:
    missing = frame[column].is_null().arg_true()
    if len(missing):
        where = locate(int(missing[0]))
        raise ReadFailed(f"{path}: {where}: empty {role} (column {column!r})")


def _times(series: pl.Series, fmt: str | None, path: Path, locate: Locate) -> pa.Array:
    if isinstance(series.dtype, pl.Datetime):
        if series.dtype.time_zone is not None:
            series = series.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return series.dt.cast_time_unit("us").to_arrow().cast(pa.timestamp("us"))
    if isinstance(series.dtype, pl.Date):
        return series.cast(pl.Datetime("us")).to_arrow().cast(pa.timestamp("us"))
    try:
        return parse_times(series, fmt)
    except BadTime as exc:
        raise ReadFailed(f"{path}: {locate(exc.index)}: column {series.name!r}: {exc}") from None


def _integers(series: pl.Series, name: str, path: Path, locate: Locate) -> pa.Array:
    parsed = series.cast(pl.Int64, strict=False)
    bad = (parsed.is_null() & series.is_not_null()).arg_true()
    if len(bad):
        index = int(bad[0])
        raise ReadFailed(f"{path}: {locate(index)}: {name} {series[index]!r} is not an integer")
    return parsed.to_arrow()


def _text(series: pl.Series) -> pa.Array:
    return series.cast(pl.String).to_arrow().cast(pa.string())


def _attribute_map(frame: pl.DataFrame, names: list[str]) -> pa.Array:
    """The ``attributes`` MAP of ``names``: one entry per non-missing value, as text."""
    if not names:
        return pa.array([[]] * frame.height, type=ARROW_SCHEMA.field("attributes").type)
    entries = pl.concat_list(
        [
            pl.struct(pl.lit(name).alias("key"), pl.col(name).cast(pl.String).alias("value"))
            for name in names
        ]
    ).list.eval(pl.element().filter(pl.element().struct.field("value").is_not_null()))
    return _entries_to_map(frame.select(entries.alias("entries"))["entries"])


def _entries_to_map(series: pl.Series) -> pa.Array:
    """A polars map or ``list<struct<key, value>>`` column as an Arrow ``map<string, string>``."""
    arrow = series.to_arrow()
    if pa.types.is_map(arrow.type):
        return arrow.cast(ARROW_SCHEMA.field("attributes").type)
    entry = pa.struct([("key", pa.string()), ("value", pa.string())])
    entries = arrow.cast(pa.list_(entry))
    if isinstance(entries, pa.ChunkedArray):
        entries = entries.combine_chunks()
    return pa.MapArray.from_arrays(
        entries.offsets, entries.values.field("key"), entries.values.field("value")
    )


def _attributes_column(series: pl.Series, path: Path, locate: Locate) -> pa.Array:
    """``attributes`` of a Baton export: a MAP (Parquet) or a JSON object per row (CSV)."""
    if series.dtype != pl.String:
        return _entries_to_map(series)
    rows: list[list[tuple[str, str]] | None] = []
    for index, text in enumerate(series.to_list()):
        if text is None:
            rows.append(None)
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            raise ReadFailed(f"{path}: {locate(index)}: attributes is not a JSON object")
        rows.append(
            [(str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in value.items()]
        )
    return pa.array(rows, type=ARROW_SCHEMA.field("attributes").type)
