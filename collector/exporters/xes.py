"""The ``events`` table as an XES (IEEE 1849) log: one ``<trace>`` per case.

Standard keys carry what XES has names for: ``concept:name`` (case on the trace, activity on
the event), ``time:timestamp`` (UTC), ``org:resource`` and ``lifecycle:transition``
(``enqueued`` -> ``schedule``, ``started`` -> ``start``, ``completed`` -> ``complete``,
``failed`` -> ``ate_abort``; Baton's other lifecycles are written as they are). Every other
non-null column is a ``baton:<column>`` attribute, and ``attributes`` entries are string
attributes; ``case:<key>`` entries that all events of a case share go on the trace as
``<key>``, which is where the importer found them. So ``baton import`` of the file gives back
the same rows, and pm4py or ProM read it as an ordinary log. A ``.gz`` name gzips the file.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable
from html import escape
from pathlib import Path
from typing import IO, Any

import duckdb

from collector.exporters._query import ORDERED_EVENTS, iso_sql, replacing, row_batches
from collector.importers._columns import XES_TRANSITIONS

_STANDARD = ("case_id", "activity", "lifecycle", "ts", "resource", "attributes")
_INTS = ("seq", "attempt", "priority")
_DATES = ("due_ts",)
_EXTRA = (
    "event_id",
    "seq",
    "workflow",
    "workflow_version",
    "resource_kind",
    "queue",
    "attempt",
    "priority",
    "due_ts",
    "payer",
    "site",
    "exception_type",
    "error_type",
    "outcome",
    "trace_id",
    "span_id",
)
_CASE_PREFIX = "case:"
_INDENT = ("", "\t", "\t\t", "\t\t\t")
_HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="1849-2016" xmlns="http://www.xes-standard.org/">
\t<extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
\t<extension name="Lifecycle" prefix="lifecycle" uri="http://www.xes-standard.org/lifecycle.xesext"/>
\t<extension name="Organizational" prefix="org" uri="http://www.xes-standard.org/org.xesext"/>
\t<extension name="Time" prefix="time" uri="http://www.xes-standard.org/time.xesext"/>
\t<classifier name="Activity" keys="concept:name"/>
\t<classifier name="Activity and lifecycle" keys="concept:name lifecycle:transition"/>
"""
# XML 1.0 cannot carry these at all; line breaks and tabs in attribute values must be
# character references or a parser turns them into spaces.
_UNREPRESENTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_WHITESPACE = str.maketrans({"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def write_xes(con: duckdb.DuckDBPyConnection, out: Path) -> None:
    """Write every event of ``con`` to ``out`` as XES, replacing it only when complete."""
    formatted = {name: iso_sql(name) for name in ("ts", *_DATES)}
    columns = ", ".join(f"{formatted.get(name, name)} AS {name}" for name in (*_STANDARD, *_EXTRA))
    sql = f"SELECT {columns} FROM ({ORDERED_EVENTS})"
    compress = out.name.lower().endswith(".gz")
    with replacing(out) as tmp, _open_text(tmp, compress=compress) as handle:
        handle.write(_HEADER)
        _write_traces(handle, row_batches(con, sql))
        handle.write("</log>\n")


def _open_text(path: Path, *, compress: bool) -> IO[str]:
    if compress:
        return gzip.open(path, "wt", encoding="utf-8", newline="\n", compresslevel=6)
    return open(path, "w", encoding="utf-8", newline="\n")


def _write_traces(handle: IO[str], batches: Iterable[dict[str, list[Any]]]) -> None:
    trace: list[dict[str, Any]] = []
    for batch in batches:
        names = list(batch)
        for values in zip(*batch.values(), strict=True):
            row = dict(zip(names, values, strict=True))
            if trace and row["case_id"] != trace[0]["case_id"]:
                handle.write(_trace(trace))
                trace = []
            trace.append(row)
    if trace:
        handle.write(_trace(trace))


def _trace(rows: list[dict[str, Any]]) -> str:
    shared = _shared_case_attributes(rows)
    parts = ["\t<trace>\n", _attribute("string", "concept:name", rows[0]["case_id"], 2)]
    parts.extend(
        _attribute("string", key.removeprefix(_CASE_PREFIX), value, 2) for key, value in shared
    )
    hoisted = {key for key, _ in shared}
    parts.extend(_event(row, hoisted) for row in rows)
    parts.append("\t</trace>\n")
    return "".join(parts)


def _shared_case_attributes(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """``case:*`` entries identical on every event of the trace (in the first one's order)."""
    first = [(k, v) for k, v in rows[0]["attributes"] or () if k.startswith(_CASE_PREFIX)]
    if not first:
        return []
    wanted = sorted(first)
    for row in rows[1:]:
        entries = sorted((k, v) for k, v in row["attributes"] or () if k.startswith(_CASE_PREFIX))
        if entries != wanted:
            return []
    return first


def _event(row: dict[str, Any], hoisted: set[str]) -> str:
    lifecycle = row["lifecycle"]
    parts = [
        "\t\t<event>\n",
        _attribute("string", "concept:name", row["activity"], 3),
        _attribute("date", "time:timestamp", row["ts"], 3),
    ]
    if lifecycle is not None:
        transition = XES_TRANSITIONS.get(lifecycle, lifecycle)
        parts.append(_attribute("string", "lifecycle:transition", transition, 3))
    if row["resource"] is not None:
        parts.append(_attribute("string", "org:resource", row["resource"], 3))
    for name in _EXTRA:
        value = row[name]
        if value is not None:
            kind = "int" if name in _INTS else "date" if name in _DATES else "string"
            parts.append(_attribute(kind, f"baton:{name}", value, 3))
    for key, value in row["attributes"] or ():
        if key not in hoisted and value is not None:
            parts.append(_attribute("string", key, value, 3))
    parts.append("\t\t</event>\n")
    return "".join(parts)


def _attribute(kind: str, key: str, value: Any, depth: int) -> str:
    return f'{_INDENT[depth]}<{kind} key="{_text(key)}" value="{_text(value)}"/>\n'


def _text(value: Any) -> str:
    text = escape(str(value), quote=True)
    if _UNREPRESENTABLE.search(text):
        text = _UNREPRESENTABLE.sub("", text)
    return text.translate(_WHITESPACE)
