"""Readers of event-log files: each turns one file into Arrow rows of the ``events`` table.

Readers are pure (a file in, Arrow tables out) and never touch a database, so the collector's
import can parse the whole file before opening a transaction, and a malformed file fails
before anything is written. They live in ``mining`` because an analyst's
``EventLog.open("log.xes")`` reads files too, and the collector may use ``mining`` while
``mining`` never uses the collector. Every reader raises :class:`~mining.errors.ReadFailed`
naming the line, row or element at fault.
"""

from __future__ import annotations

from pathlib import Path

from mining.readers._model import (
    ColumnMapping,
    ImportedLog,
    ImportOptions,
    OcelTables,
    OnBytes,
    SourceFormat,
    detect_format,
    workflow_from_name,
)
from mining.readers.ocel_json import read_ocel_json
from mining.readers.ocel_sqlite import read_ocel_sqlite
from mining.readers.ocel_xml import read_ocel_xml
from mining.readers.tabular import read_csv, read_parquet
from mining.readers.xes import read_xes

__all__ = [
    "ColumnMapping",
    "ImportOptions",
    "ImportedLog",
    "OcelTables",
    "SourceFormat",
    "detect_format",
    "read_log",
    "workflow_from_name",
]


def read_log(path: Path, options: ImportOptions, on_bytes: OnBytes | None = None) -> ImportedLog:
    """Read ``path`` in the format ``options.format`` names, or its file name announces."""
    path = Path(path)
    fmt = options.format or detect_format(path)
    if fmt is SourceFormat.XES:
        return read_xes(path, on_bytes)
    if fmt is SourceFormat.CSV:
        return read_csv(path, options, on_bytes)
    if fmt is SourceFormat.PARQUET:
        return read_parquet(path, options, on_bytes)
    if fmt is SourceFormat.OCEL_JSON:
        return read_ocel_json(path, options.object_type, on_bytes)
    if fmt is SourceFormat.OCEL_XML:
        return read_ocel_xml(path, options.object_type, on_bytes)
    return read_ocel_sqlite(path, options.object_type, on_bytes)
