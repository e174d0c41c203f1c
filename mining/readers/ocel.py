"""OCEL 2.0 logs in any encoding: the common model, and flattening to one case notion.

The three encodings (:mod:`.ocel_json`, :mod:`.ocel_xml`, :mod:`.ocel_sqlite`) fill an
:class:`OcelBuilder`; :meth:`OcelBuilder.build` keeps the whole log (events, objects, their
attributes and both kinds of relationship) as :class:`OcelTables` and flattens it to
``events`` rows for one object type, the way ``pm4py.ocel_flattening`` does: one row per event
per related object of that type (an object related twice to one event counts once), the
object id as ``case_id``, the event type as ``activity``, ``seq`` = the event's position in
the file. The default object type is the one related to most events. Event attributes go
into ``attributes`` as text, plus ``ocel:eid`` (the OCEL event id) unless the event carries a
``baton:event_id`` (a log Baton exported), which then fills ``event_id`` like every other
``baton:<column>`` attribute fills its column.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from mining.errors import ReadFailed
from mining.readers._columns import (
    ARROW_SCHEMA,
    COLUMN_PREFIX,
    KEY_COLUMN,
    PREFIXED_COLUMNS,
    BadTime,
    column_value,
    events_table,
    lifecycle_of,
    parse_times,
)
from mining.readers._model import ImportedLog, OcelTables

#: Attribute naming the OCEL event a flattened row came from.
OCEL_EVENT_ID = "ocel:eid"
_LIFECYCLE_KEY = f"{COLUMN_PREFIX}lifecycle"
_MAP = ARROW_SCHEMA.field("attributes").type


def text_value(value: Any) -> str:
    """An attribute value as the text Baton stores (JSON spelling for non-strings).

    >>> text_value("No"), text_value(True), text_value(600)
    ('No', 'true', '600')
    """
    return value if isinstance(value, str) else json.dumps(value)


@dataclasses.dataclass
class OcelBuilder:
    """Column lists an OCEL reader appends to; ``where`` names elements in error messages."""

    path: Path
    where: Callable[[int], str] = dataclasses.field(default=lambda index: f"event {index + 1}")
    event_ids: list[str] = dataclasses.field(default_factory=list)
    event_types: list[str] = dataclasses.field(default_factory=list)
    event_times: list[str] = dataclasses.field(default_factory=list)
    event_attributes: list[list[tuple[str, str]]] = dataclasses.field(default_factory=list)
    object_ids: list[str] = dataclasses.field(default_factory=list)
    object_types: list[str] = dataclasses.field(default_factory=list)
    object_attributes: dict[str, list[Any]] = dataclasses.field(
        default_factory=lambda: {"object_id": [], "name": [], "ts": [], "value": []}
    )
    event_objects: dict[str, list[str | None]] = dataclasses.field(
        default_factory=lambda: {"event_id": [], "object_id": [], "qualifier": []}
    )
    object_objects: dict[str, list[str | None]] = dataclasses.field(
        default_factory=lambda: {"source_id": [], "target_id": [], "qualifier": []}
    )

    def event(
        self, event_id: str, event_type: str, time: str, attrs: list[tuple[str, str]]
    ) -> None:
        self.event_ids.append(event_id)
        self.event_types.append(event_type)
        self.event_times.append(time)
        self.event_attributes.append(attrs)

    def object(self, object_id: str, object_type: str) -> None:
        self.object_ids.append(object_id)
        self.object_types.append(object_type)

    def object_attribute(self, object_id: str, name: str, time: str | None, value: str) -> None:
        for column, item in zip(
            ("object_id", "name", "ts", "value"), (object_id, name, time, value), strict=True
        ):
            self.object_attributes[column].append(item)

    def event_object(self, event_id: str, object_id: str, qualifier: str | None) -> None:
        for column, item in zip(
            ("event_id", "object_id", "qualifier"), (event_id, object_id, qualifier), strict=True
        ):
            self.event_objects[column].append(item)

    def object_object(self, source_id: str, target_id: str, qualifier: str | None) -> None:
        for column, item in zip(
            ("source_id", "target_id", "qualifier"), (source_id, target_id, qualifier), strict=True
        ):
            self.object_objects[column].append(item)

    def build(self, object_type: str | None) -> ImportedLog:
        """The OCEL tables plus ``events`` rows flattened on ``object_type`` (or the busiest)."""
        self._check_unique()
        try:
            times = parse_times(self.event_times)
        except BadTime as exc:
            raise ReadFailed(f"{self.path}: {self.where(exc.index)}: time {exc}") from None
        tables = OcelTables(
            events=pa.table(
                {
                    "event_id": pa.array(self.event_ids, pa.string()),
                    "activity": pa.array(self.event_types, pa.string()),
                    "ts": times,
                    "attributes": pa.array(self.event_attributes, _MAP),
                    "ord": pa.array(range(len(self.event_ids)), pa.int64()),
                }
            ),
            objects=pa.table(
                {
                    "object_id": pa.array(self.object_ids, pa.string()),
                    "object_type": pa.array(self.object_types, pa.string()),
                }
            ),
            object_attributes=self._object_attribute_table(),
            event_objects=pa.table(self.event_objects, schema=_relation_schema("event_id")),
            object_objects=pa.table(self.object_objects, schema=_relation_schema("source_id")),
        )
        chosen, notes = _choose_type(tables, object_type, self.path)
        events = _flatten(tables, chosen, self.path) if chosen else events_table(0, {})
        if chosen:
            notes.append(f"{events.num_rows} event rows for {chosen!r} objects")
        return ImportedLog(events=events, ocel=tables, object_type=chosen, notes=tuple(notes))

    def _check_unique(self) -> None:
        seen: set[str] = set()
        for index, event_id in enumerate(self.event_ids):
            if event_id in seen:
                raise ReadFailed(f"{self.path}: {self.where(index)}: duplicate event id")
            seen.add(event_id)

    def _object_attribute_table(self) -> pa.Table:
        attrs = self.object_attributes
        try:
            times = parse_times(attrs["ts"])
        except BadTime as exc:
            object_id = attrs["object_id"][exc.index]
            raise ReadFailed(f"{self.path}: object {object_id!r}: attribute time {exc}") from None
        return pa.table(
            {
                "object_id": pa.array(attrs["object_id"], pa.string()),
                "name": pa.array(attrs["name"], pa.string()),
                "ts": times,
                "value": pa.array(attrs["value"], pa.string()),
            }
        )


def _frame(table: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _relation_schema(first: str) -> pa.Schema:
    second = "object_id" if first == "event_id" else "target_id"
    return pa.schema([(first, pa.string()), (second, pa.string()), ("qualifier", pa.string())])


def _choose_type(
    tables: OcelTables, wanted: str | None, path: Path
) -> tuple[str | None, list[str]]:
    """The object type whose objects become cases, and a note saying why."""
    related = (
        _frame(tables.event_objects)
        .lazy()
        .join(_frame(tables.objects).lazy(), on="object_id")
        .group_by("object_type")
        .agg(pl.col("event_id").n_unique().alias("events"))
        .sort(["events", "object_type"], descending=[True, False])
        .collect()
    )
    counts = dict(zip(related["object_type"].to_list(), related["events"].to_list(), strict=True))
    total = tables.events.num_rows
    if wanted is not None:
        known = set(tables.objects.column("object_type").to_pylist())
        if wanted not in known:
            listed = ", ".join(repr(t) for t in sorted(known)) or "none"
            raise ReadFailed(f"{path}: no object type {wanted!r} (object types: {listed})")
        return wanted, [
            f"case notion: object type {wanted!r} ({counts.get(wanted, 0)} of {total} events)"
        ]
    if not counts:
        return None, ["no event is related to an object: nothing to flatten"]
    chosen = next(iter(counts))
    others = ", ".join(f"{t!r} {n}" for t, n in counts.items() if t != chosen)
    note = (
        f"case notion: object type {chosen!r}, related to most events ({counts[chosen]} of {total})"
    )
    return chosen, [note + (f"; others: {others}" if others else "")]


def _flatten(tables: OcelTables, object_type: str, path: Path) -> pa.Table:
    """One ``events`` row per (event, object of ``object_type``), in file order."""
    relations = _frame(tables.event_objects).with_row_index("rel_ord")
    objects = _frame(tables.objects).filter(pl.col("object_type") == object_type)
    events = _frame(tables.events)
    flat = (
        relations.join(objects.select("object_id"), on="object_id")
        .unique(subset=["event_id", "object_id"], keep="first", maintain_order=True)
        .join(events, on="event_id")
        .sort(["ord", "rel_ord"])
    )
    rows = flat.height
    event_ids: list[str] = flat["event_id"].to_list()
    attribute_rows = flat["attributes"].to_list()
    columns: dict[str, Any] = {
        "seq": flat["ord"].to_arrow(),
        "case_id": flat["object_id"].to_arrow(),
        "activity": flat["activity"].to_arrow(),
        "ts": flat["ts"].to_arrow(),
        KEY_COLUMN: [f"{e}\x1f{o}" for e, o in zip(event_ids, flat["object_id"], strict=True)],
    }
    prefixed: dict[str, list[Any]] = {}
    attributes: list[list[tuple[str, str]]] = []
    for index, entries in enumerate(attribute_rows):
        kept: list[tuple[str, str]] = []
        own_id = False
        for key, value in (entries or {}).items():
            if key in PREFIXED_COLUMNS and value is not None:
                try:
                    prefixed.setdefault(key, [None] * rows)[index] = column_value(key, value)
                except ValueError as exc:
                    raise ReadFailed(f"{path}: event {event_ids[index]!r}: {key}: {exc}") from None
                own_id = own_id or key == f"{COLUMN_PREFIX}event_id"
            else:
                kept.append((key, value))
        if not own_id:
            kept.append((OCEL_EVENT_ID, event_ids[index]))
        attributes.append(kept)
    columns["attributes"] = pa.array(attributes, _MAP)
    columns["lifecycle"] = [lifecycle_of(None)] * rows
    for key, values in prefixed.items():
        columns[key.removeprefix(COLUMN_PREFIX)] = values
    if _LIFECYCLE_KEY in prefixed:
        default = lifecycle_of(None)
        columns["lifecycle"] = [value or default for value in prefixed[_LIFECYCLE_KEY]]
    return events_table(rows, columns)
