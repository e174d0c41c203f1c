"""XES (IEEE 1849) event logs, streamed with lxml ``iterparse``, plain or gzip-compressed.

One ``<event>`` becomes one row, in file order (``seq`` = its position in the file, which is
how pm4py orders events with equal timestamps). Standard keys fill columns:
``concept:name`` of the trace -> ``case_id``, of the event -> ``activity``;
``time:timestamp`` -> ``ts`` (UTC; a date without offset is taken as UTC);
``org:resource`` -> ``resource``; ``lifecycle:transition`` -> ``lifecycle`` (``start`` ->
started, ``complete`` or none -> completed, ``schedule`` -> enqueued, ``ate_abort`` and
``pi_abort`` -> failed, other transitions kept lower-cased). ``baton:<column>`` keys, which
Baton's own XES export writes, fill their column. Every other event attribute goes into
``attributes`` as text, and trace attributes go there as ``case:<key>`` on each of the
trace's events, as pm4py names them. Global default values (``<global>``) are not applied,
as pm4py does not apply them either; nested attribute values are ignored.
"""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path
from typing import Any, BinaryIO

from lxml import etree

from mining.errors import ReadFailed
from mining.readers._columns import (
    COLUMN_PREFIX,
    KEY_COLUMN,
    PREFIXED_COLUMNS,
    BadTime,
    attribute_maps,
    column_value,
    events_table,
    lifecycles,
    parse_times,
)
from mining.readers._model import ImportedLog, OnBytes
from mining.readers._source import open_binary

_CASE_PREFIX = "case:"


def read_xes(path: Path, on_bytes: OnBytes | None = None) -> ImportedLog:
    """Read an XES file into ``events`` rows; :class:`ReadFailed` names the line at fault."""
    with open_binary(path, on_bytes) as stream:
        parser = _XesParser(path)
        try:
            parser.parse(stream)
        except etree.XMLSyntaxError as exc:
            raise ReadFailed(f"{path}: line {exc.lineno}: malformed XML: {exc.msg}") from None
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            where = f" after line {parser.last_line}" if parser.last_line else ""
            raise ReadFailed(f"{path}: corrupt or truncated gzip data{where}: {exc}") from None
    return parser.result()


class _XesParser:
    """Column lists filled event by event; trace-level values are filled in at ``</trace>``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.last_line = 0
        self.case_ids: list[str] = []
        self.activities: list[str] = []
        self.times: list[str] = []
        self.lines: list[int] = []
        self.resources: list[str | None] = []
        self.transitions: list[str | None] = []
        self.attributes: list[list[tuple[str, str]]] = []
        self.prefixed: dict[str, dict[int, Any]] = {}
        self._trace_start = 0

    def parse(self, stream: BinaryIO | io.BufferedIOBase) -> None:
        context = etree.iterparse(
            stream,
            events=("end",),
            tag=("{*}event", "{*}trace"),
            huge_tree=True,
            resolve_entities=False,
            no_network=True,
        )
        for _, element in context:
            if element.tag.endswith("event"):
                self._event(element)
            else:
                self._trace(element)
        root = context.root
        if root is None or _local(root.tag) != "log":
            found = "nothing" if root is None else f"<{_local(root.tag)}>"
            raise ReadFailed(f"{self.path}: not an XES log (root element is {found}, not <log>)")

    def _event(self, element: Any) -> None:
        line = element.sourceline
        self.last_line = line
        parent = element.getparent()
        if parent is None or _local(parent.tag) != "trace":
            raise ReadFailed(f"{self.path}: line {line}: <event> outside a <trace>")
        row = len(self.activities)
        activity = stamp = resource = transition = None
        extra: list[tuple[str, str]] = []
        for child in element:
            key = child.get("key")
            if key is None:
                continue
            value = child.get("value")
            if key == "concept:name":
                activity = value
            elif key == "time:timestamp":
                stamp = value
            elif key == "org:resource":
                resource = value
            elif key == "lifecycle:transition":
                transition = value
            elif key in PREFIXED_COLUMNS and value is not None:
                self._prefixed(key, value, row, child.sourceline)
            elif value is not None:
                extra.append((key, value))
        if activity is None:
            raise ReadFailed(f"{self.path}: line {line}: <event> has no concept:name")
        if stamp is None:
            raise ReadFailed(f"{self.path}: line {line}: <event> has no time:timestamp")
        self.activities.append(activity)
        self.times.append(stamp)
        self.lines.append(line)
        self.resources.append(resource)
        self.transitions.append(transition)
        self.attributes.append(extra)
        element.clear()

    def _trace(self, element: Any) -> None:
        case_id = None
        case_attributes: list[tuple[str, str]] = []
        for child in element:
            key = child.get("key")
            value = child.get("value")
            if key is None or value is None:
                continue
            if key == "concept:name":
                case_id = value
            else:
                case_attributes.append((_CASE_PREFIX + key, value))
        start, end = self._trace_start, len(self.activities)
        if case_id is None:
            raise ReadFailed(f"{self.path}: line {element.sourceline}: <trace> has no concept:name")
        self.case_ids.extend([case_id] * (end - start))
        if case_attributes:
            for row in range(start, end):
                self.attributes[row].extend(case_attributes)
        self._trace_start = end
        element.clear()
        parent = element.getparent()
        while element.getprevious() is not None and parent is not None:
            del parent[0]

    def _prefixed(self, key: str, value: str, row: int, line: int) -> None:
        try:
            self.prefixed.setdefault(key, {})[row] = column_value(key, value)
        except ValueError as exc:
            raise ReadFailed(f"{self.path}: line {line}: {key}: {exc}") from None

    def result(self) -> ImportedLog:
        rows = len(self.activities)
        try:
            times = parse_times(self.times)
        except BadTime as exc:
            line = self.lines[exc.index]
            raise ReadFailed(f"{self.path}: line {line}: <event> time:timestamp {exc}") from None
        columns: dict[str, Any] = {
            "seq": range(rows),
            "case_id": self.case_ids,
            "activity": self.activities,
            "lifecycle": lifecycles(self.transitions),
            "ts": times,
            "resource": self.resources,
            "attributes": attribute_maps(self.attributes),
            KEY_COLUMN: [str(row) for row in range(rows)],
        }
        for key, values in self.prefixed.items():
            column = key.removeprefix(COLUMN_PREFIX)
            given = columns.get(column)
            if given is None or isinstance(given, range | list):
                base = list(given) if given is not None else [None] * rows
                for row, value in values.items():
                    base[row] = value
                columns[column] = base
        return ImportedLog(events=events_table(rows, columns))


def _local(tag: Any) -> str:
    """An element's name without its namespace (XES files may or may not declare one)."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""
