"""OCEL 2.0 SQLite (``.sqlite``): opened read-only with the standard library.

Tables ``event``, ``object``, ``event_object``, ``object_object``, ``event_map_type`` and
``object_map_type``, plus one ``event_<Type>`` table per event type (``ocel_id``,
``ocel_time``, one column per attribute) and one ``object_<Type>`` table per object type
(``ocel_id``, ``ocel_time``, ``ocel_changed_field``, attribute columns: a row with a changed
field sets only that attribute at ``ocel_time``). Events keep the order of the ``event``
table. Errors name the table and the id at fault.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from mining.errors import ReadFailed
from mining.readers._model import ImportedLog, OnBytes
from mining.readers.ocel import OcelBuilder, text_value

_REQUIRED_TABLES = (
    "event",
    "object",
    "event_object",
    "object_object",
    "event_map_type",
    "object_map_type",
)
_RESERVED = {"ocel_id", "ocel_time", "ocel_changed_field"}


def read_ocel_sqlite(
    path: Path, object_type: str | None = None, on_bytes: OnBytes | None = None
) -> ImportedLog:
    """Read an OCEL 2.0 SQLite file; flatten on ``object_type`` (default: the busiest type)."""
    if not path.is_file():
        raise ReadFailed(f"{path}: no such file")
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        builder = _read(con, path)
    except sqlite3.DatabaseError as exc:
        raise ReadFailed(f"{path}: not a readable OCEL 2.0 SQLite file: {exc}") from None
    finally:
        con.close()
    if on_bytes is not None:
        on_bytes(path.stat().st_size)
    return builder.build(object_type)


def _read(con: sqlite3.Connection, path: Path) -> OcelBuilder:
    tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    missing = [name for name in _REQUIRED_TABLES if name not in tables]
    if missing:
        raise ReadFailed(f"{path}: not an OCEL 2.0 SQLite file (no table {missing[0]!r})")
    event_rows = con.execute("SELECT ocel_id, ocel_type FROM event ORDER BY rowid").fetchall()
    builder = OcelBuilder(path, where=lambda i: f"table event, event {event_rows[i][0]!r}")
    details = _typed_rows(con, "event", tables, path)
    for event_id, event_type in event_rows:
        row = details.get(event_type, {}).get(event_id)
        if row is None:
            table = f"event_{_type_map(con, 'event').get(event_type, event_type)}"
            raise ReadFailed(f"{path}: table {table!r} has no row for event {event_id!r}")
        time = row.get("ocel_time")
        if time is None:
            raise ReadFailed(f"{path}: event {event_id!r} has no ocel_time")
        attrs = [
            (name, text_value(value))
            for name, value in row.items()
            if name not in _RESERVED and value is not None
        ]
        builder.event(str(event_id), str(event_type), str(time), attrs)
    for object_id, object_kind in con.execute(
        "SELECT ocel_id, ocel_type FROM object ORDER BY rowid"
    ):
        builder.object(str(object_id), str(object_kind))
    _object_attributes(con, builder, tables, path)
    for event_id, object_id, qualifier in con.execute(
        "SELECT ocel_event_id, ocel_object_id, ocel_qualifier FROM event_object ORDER BY rowid"
    ):
        builder.event_object(str(event_id), str(object_id), qualifier)
    for source, target, qualifier in con.execute(
        "SELECT ocel_source_id, ocel_target_id, ocel_qualifier FROM object_object ORDER BY rowid"
    ):
        builder.object_object(str(source), str(target), qualifier)
    return builder


def _type_map(con: sqlite3.Connection, kind: str) -> dict[str, str]:
    return dict(con.execute(f"SELECT ocel_type, ocel_type_map FROM {kind}_map_type").fetchall())


def _typed_rows(
    con: sqlite3.Connection, kind: str, tables: set[str], path: Path
) -> dict[str, dict[str, dict[str, Any]]]:
    """Per type, per id: the row of its ``{kind}_<Type>`` table as a dict (first row wins)."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for type_name, suffix in _type_map(con, kind).items():
        table = f"{kind}_{suffix}"
        if table not in tables:
            raise ReadFailed(f"{path}: {kind} type {type_name!r} has no table {table!r}")
        rows = found.setdefault(type_name, {})
        for row in _dict_rows(con, table):
            rows.setdefault(str(row["ocel_id"]), row)
    return found


def _dict_rows(con: sqlite3.Connection, table: str) -> list[dict[str, Any]]:
    cursor = con.execute(f'SELECT * FROM "{table}" ORDER BY rowid')
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def _object_attributes(
    con: sqlite3.Connection, builder: OcelBuilder, tables: set[str], path: Path
) -> None:
    for type_name, suffix in _type_map(con, "object").items():
        table = f"object_{suffix}"
        if table not in tables:
            raise ReadFailed(f"{path}: object type {type_name!r} has no table {table!r}")
        for row in _dict_rows(con, table):
            changed = row.get("ocel_changed_field")
            time = row.get("ocel_time")
            for name, value in row.items():
                if name in _RESERVED or value is None or (changed and name != changed):
                    continue
                builder.object_attribute(
                    str(row["ocel_id"]),
                    name,
                    None if time is None else str(time),
                    text_value(value),
                )
