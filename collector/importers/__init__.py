"""Readers of event-log files: each turns one file into Arrow rows of the ``events`` table.

Readers are pure (a file in, Arrow tables out) and never touch a database, so the transfer
(:mod:`collector.transfer`) can parse the whole file before opening a transaction, and a
malformed file fails before anything is written. Every reader raises
:class:`~collector.transfer_errors.ImportFailed` naming the line, row or element at fault.
"""

from __future__ import annotations

from pathlib import Path

from collector.importers._model import (
    ColumnMapping,
    ImportedLog,
    ImportOptions,
    OcelTables,
    OnBytes,
    SourceFormat,
    detect_format,
    workflow_from_name,
)
from collector.importers.ocel_json import read_ocel_json
from collector.importers.ocel_sqlite import read_ocel_sqlite
from collector.importers.ocel_xml import read_ocel_xml
from collector.importers.tabular import read_csv, read_parquet
from collector.importers.xes import read_xes

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
