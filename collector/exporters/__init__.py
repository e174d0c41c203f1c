"""Writers of the ``events`` table to files other tools read: XES, OCEL 2.0 JSON, CSV, Parquet.

Each writer reads the table through one ordered query (cases by first event, then
``(ts, seq)``), streams it to a temporary file and moves that over the requested name only
once complete. What each format keeps is in its module; all of them import back to the same
rows.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import duckdb

from collector.exporters.ocel import write_ocel_json
from collector.exporters.tabular import write_csv, write_parquet
from collector.exporters.xes import write_xes

__all__ = ["ExportFormat", "export_query"]


class ExportFormat(StrEnum):
    """A file format ``baton export`` writes."""

    XES = "xes"
    """IEEE 1849 XES (gzip-compressed when the name ends in ``.gz``)."""
    OCEL = "ocel"
    """OCEL 2.0 JSON with case, queue and resource objects."""
    CSV = "csv"
    """The events columns as CSV."""
    PARQUET = "parquet"
    """The events columns as Parquet."""


_WRITERS = {
    ExportFormat.XES: write_xes,
    ExportFormat.OCEL: write_ocel_json,
    ExportFormat.CSV: write_csv,
    ExportFormat.PARQUET: write_parquet,
}


def export_query(con: duckdb.DuckDBPyConnection, fmt: ExportFormat, out: Path) -> None:
    """Write ``con``'s ``events`` table to ``out`` in ``fmt``."""
    _WRITERS[fmt](con, Path(out))
