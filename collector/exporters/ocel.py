"""The ``events`` table as an OCEL 2.0 JSON log.

Every event is an OCEL event (``id`` = ``event_id``, ``type`` = activity, ``time`` = ``ts``)
related to up to three objects: its case (object type ``case``, id = ``case_id``, qualifier
``case``), its queue (type ``queue``, id ``queue:<name>``) and its resource (type
``resource``, id ``resource:<name>``), so object-centric tools can follow work across cases
through queues and bots. Every non-null column is an event attribute ``baton:<column>`` and
every ``attributes`` entry an attribute of its own; case objects carry their ``workflow``.
Importing the file with the default case notion (``case``, the type related to most events)
gives back the same rows. Events are streamed to the file; objects and type declarations,
which need every event seen, follow them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

import duckdb

from collector.exporters._query import (
    INT_COLUMNS,
    ORDERED_EVENTS,
    OTHER_TIME_COLUMNS,
    columns_except,
    iso_sql,
    replacing,
    row_batches,
)

CASE_TYPE = "case"
QUEUE_TYPE = "queue"
RESOURCE_TYPE = "resource"
_EPOCH = "1970-01-01T00:00:00Z"
_INTS = INT_COLUMNS
_TIMES = OTHER_TIME_COLUMNS
_COLUMNS = columns_except("case_id", "activity", "ts", "attributes")


def write_ocel_json(con: duckdb.DuckDBPyConnection, out: Path) -> None:
    """Write every event of ``con`` to ``out`` as OCEL 2.0 JSON, replacing it when complete."""
    formatted = {name: iso_sql(name) for name in ("ts", *_TIMES)}
    names = ("case_id", "activity", "ts", "attributes", *_COLUMNS)
    columns = ", ".join(f"{formatted.get(name, name)} AS {name}" for name in names)
    sql = f"SELECT {columns} FROM ({ORDERED_EVENTS})"
    with replacing(out) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        _Writer(handle).write(row_batches(con, sql))


class _Writer:
    """Streams events, remembering the objects and attribute types they mention."""

    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle
        self.cases: dict[str, str | None] = {}
        self.queues: set[str] = set()
        self.resources: set[str] = set()
        self.event_types: dict[str, dict[str, str]] = {}

    def write(self, batches: Any) -> None:
        self.handle.write('{"events": [')
        first = True
        for batch in batches:
            names = list(batch)
            for values in zip(*batch.values(), strict=True):
                row = dict(zip(names, values, strict=True))
                self.handle.write(("\n  " if first else ",\n  ") + _dumps(self._event(row)))
                first = False
        self.handle.write('\n], "objects": [')
        self.handle.write(",".join("\n  " + _dumps(obj) for obj in self._objects()))
        self.handle.write('\n], "objectTypes": ')
        self.handle.write(_dumps(self._object_types()))
        self.handle.write(', "eventTypes": ')
        self.handle.write(_dumps(self._event_types()))
        self.handle.write("}\n")

    def _event(self, row: dict[str, Any]) -> dict[str, Any]:
        types = self.event_types.setdefault(row["activity"], {})
        attributes = []
        for name in _COLUMNS:
            value = row[name]
            if value is not None:
                key = f"baton:{name}"
                types[key] = "integer" if name in _INTS else "time" if name in _TIMES else "string"
                attributes.append({"name": key, "value": value})
        for key, value in row["attributes"] or ():
            if value is not None:
                types.setdefault(key, "string")
                attributes.append({"name": key, "value": value})
        relationships = [{"objectId": row["case_id"], "qualifier": CASE_TYPE}]
        self.cases.setdefault(row["case_id"], row["workflow"])
        if row["queue"] is not None:
            self.queues.add(row["queue"])
            relationships.append({"objectId": f"queue:{row['queue']}", "qualifier": QUEUE_TYPE})
        if row["resource"] is not None:
            self.resources.add(row["resource"])
            relationships.append(
                {"objectId": f"resource:{row['resource']}", "qualifier": RESOURCE_TYPE}
            )
        return {
            "id": row["event_id"],
            "type": row["activity"],
            "time": row["ts"],
            "attributes": attributes,
            "relationships": relationships,
        }

    def _objects(self) -> list[dict[str, Any]]:
        objects: list[dict[str, Any]] = []
        for case_id, workflow in self.cases.items():
            attrs = (
                []
                if workflow is None
                else [{"name": "workflow", "time": _EPOCH, "value": workflow}]
            )
            objects.append({"id": case_id, "type": CASE_TYPE, "attributes": attrs})
        objects.extend(
            {"id": f"queue:{queue}", "type": QUEUE_TYPE, "attributes": []}
            for queue in sorted(self.queues)
        )
        objects.extend(
            {"id": f"resource:{resource}", "type": RESOURCE_TYPE, "attributes": []}
            for resource in sorted(self.resources)
        )
        return objects

    def _object_types(self) -> list[dict[str, Any]]:
        return [
            {"name": CASE_TYPE, "attributes": [{"name": "workflow", "type": "string"}]},
            {"name": QUEUE_TYPE, "attributes": []},
            {"name": RESOURCE_TYPE, "attributes": []},
        ]

    def _event_types(self) -> list[dict[str, Any]]:
        return [
            {"name": name, "attributes": [{"name": k, "type": t} for k, t in sorted(attrs.items())]}
            for name, attrs in sorted(self.event_types.items())
        ]


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
