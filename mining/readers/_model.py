"""What an import is asked to do and what a reader hands back, shared by every format."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

import pyarrow as pa

from mining.errors import ReadFailed

#: Called by readers with the number of bytes just read from the file, to drive a progress bar.
OnBytes = Callable[[int], None]


class SourceFormat(StrEnum):
    """A file format ``baton import`` reads."""

    XES = "xes"
    """IEEE 1849 XES, plain or gzip-compressed."""
    CSV = "csv"
    """Delimited text, one event per row (or one activity instance with a start column)."""
    PARQUET = "parquet"
    """Parquet in the ``events`` schema, or any table mapped like a CSV."""
    OCEL_JSON = "ocel-json"
    """OCEL 2.0 JSON."""
    OCEL_XML = "ocel-xml"
    """OCEL 2.0 XML."""
    OCEL_SQLITE = "ocel-sqlite"
    """OCEL 2.0 SQLite."""


#: File-name suffixes (longest first) and the format each one means.
SUFFIXES: tuple[tuple[str, SourceFormat], ...] = (
    (".xes.gz", SourceFormat.XES),
    (".xes", SourceFormat.XES),
    (".csv", SourceFormat.CSV),
    (".tsv", SourceFormat.CSV),
    (".parquet", SourceFormat.PARQUET),
    (".pq", SourceFormat.PARQUET),
    (".jsonocel", SourceFormat.OCEL_JSON),
    (".json", SourceFormat.OCEL_JSON),
    (".xmlocel", SourceFormat.OCEL_XML),
    (".xml", SourceFormat.OCEL_XML),
    (".sqlite", SourceFormat.OCEL_SQLITE),
    (".sqlite3", SourceFormat.OCEL_SQLITE),
    (".db", SourceFormat.OCEL_SQLITE),
)


def detect_format(path: Path) -> SourceFormat:
    """The format a file name announces; :class:`ReadFailed` naming the known suffixes."""
    name = path.name.lower()
    for suffix, fmt in SUFFIXES:
        if name.endswith(suffix):
            return fmt
    known = ", ".join(suffix for suffix, _ in SUFFIXES)
    raise ReadFailed(f"{path}: unknown file type (expected one of {known})")


def workflow_from_name(path: Path) -> str:
    """The default workflow of an imported file: its name without the format suffixes."""
    name = path.name
    for suffix, _ in SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or name
    return path.stem


@dataclasses.dataclass(frozen=True)
class ColumnMapping:
    """Which source column plays which role, for CSV and Parquet files.

    ``None`` means "look for the usual name" (pm4py's ``case:concept:name``, ``concept:name``,
    ``time:timestamp``, ``start_timestamp``, ``org:resource``, ``lifecycle:transition``, or
    Baton's own ``case_id``, ``activity``, ``ts``...).
    """

    case: str | None = None
    activity: str | None = None
    timestamp: str | None = None
    start: str | None = None
    resource: str | None = None
    lifecycle: str | None = None


@dataclasses.dataclass(frozen=True)
class ImportOptions:
    """How to read one file; every field has a default that suits the standard formats."""

    workflow: str | None = None
    """Workflow of the imported events; default: the file name without its suffixes."""
    format: SourceFormat | None = None
    """Force a format instead of detecting it from the file name."""
    columns: ColumnMapping = ColumnMapping()
    """Column roles of a CSV or Parquet file."""
    separator: str | None = None
    """CSV field separator; default: guessed from the header line (``,`` ``;`` tab ``|``)."""
    timestamp_format: str | None = None
    """``strftime`` format of CSV timestamps; default: inferred (ISO 8601 and the like)."""
    object_type: str | None = None
    """OCEL object type whose objects become cases; default: the type with most events."""


@dataclasses.dataclass(frozen=True)
class OcelTables:
    """An OCEL 2.0 log as five Arrow tables, kept beside the flattened events.

    ``events`` has ``event_id``, ``activity``, ``ts``, ``attributes`` and ``ord`` (file
    order); ``objects`` has ``object_id``, ``object_type``; ``object_attributes`` has
    ``object_id``, ``name``, ``ts``, ``value``; ``event_objects`` has ``event_id``,
    ``object_id``, ``qualifier``; ``object_objects`` has ``source_id``, ``target_id``,
    ``qualifier``.
    """

    events: pa.Table
    objects: pa.Table
    object_attributes: pa.Table
    event_objects: pa.Table
    object_objects: pa.Table


@dataclasses.dataclass(frozen=True)
class ImportedLog:
    """What a reader produced: rows for the ``events`` table, and the OCEL tables if any.

    ``events`` has the contract's columns plus ``_key``, a string unique within the file from
    which the transfer derives a deterministic ``event_id`` where the file carries none.
    """

    events: pa.Table
    ocel: OcelTables | None = None
    object_type: str | None = None
    notes: tuple[str, ...] = ()
