"""OCEL 2.0 JSON (``.jsonocel``, ``.json``): ``eventTypes``, ``objectTypes``, ``events``,
``objects``, each event and object with ``attributes`` and ``relationships``.

Errors name the element by its JSON path and id (``events[3] (id 'e4')``), and a syntax
error by its line and column.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mining.errors import ReadFailed
from mining.readers._model import ImportedLog, OnBytes
from mining.readers._source import open_binary
from mining.readers.ocel import OcelBuilder, text_value


def read_ocel_json(
    path: Path, object_type: str | None = None, on_bytes: OnBytes | None = None
) -> ImportedLog:
    """Read an OCEL 2.0 JSON file; flatten on ``object_type`` (default: the busiest type)."""
    with open_binary(path, on_bytes) as stream:
        try:
            document = json.load(stream)
        except json.JSONDecodeError as exc:
            raise ReadFailed(
                f"{path}: line {exc.lineno} column {exc.colno}: malformed JSON: {exc.msg}"
            ) from None
        except UnicodeDecodeError as exc:
            raise ReadFailed(f"{path}: not UTF-8 text ({exc.reason})") from None
    if not isinstance(document, dict):
        raise ReadFailed(f"{path}: not an OCEL 2.0 JSON log (top level is not an object)")
    events = _array(document, "events", path)
    objects = _array(document, "objects", path)
    builder = OcelBuilder(path, where=lambda i: _name("events", i, events[i]))
    for index, obj in enumerate(objects):
        _read_object(builder, obj, _name("objects", index, obj), path)
    for index, event in enumerate(events):
        _read_event(builder, event, _name("events", index, event), path)
    return builder.build(object_type)


def _array(document: dict[str, Any], key: str, path: Path) -> list[Any]:
    value = document.get(key)
    if not isinstance(value, list):
        raise ReadFailed(f"{path}: not an OCEL 2.0 JSON log (no {key!r} array)")
    return value


def _name(array: str, index: int, item: Any) -> str:
    item_id = item.get("id") if isinstance(item, dict) else None
    return f"{array}[{index}]" + (f" (id {item_id!r})" if item_id is not None else "")


def _field(item: Any, key: str, where: str, path: Path) -> str:
    if not isinstance(item, dict):
        raise ReadFailed(f"{path}: {where}: expected an object")
    value = item.get(key)
    if value is None:
        raise ReadFailed(f"{path}: {where}: missing {key!r}")
    if not isinstance(value, str):
        raise ReadFailed(f"{path}: {where}: {key!r} must be a string")
    return value


def _list(item: dict[str, Any], key: str, where: str, path: Path) -> list[Any]:
    value = item.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ReadFailed(f"{path}: {where}: {key!r} must be an array")
    return value


def _read_event(builder: OcelBuilder, event: Any, where: str, path: Path) -> None:
    event_id = _field(event, "id", where, path)
    event_type = _field(event, "type", where, path)
    time = _field(event, "time", where, path)
    attrs: list[tuple[str, str]] = []
    for index, attr in enumerate(_list(event, "attributes", where, path)):
        name = _field(attr, "name", f"{where} attributes[{index}]", path)
        value = attr.get("value")
        if value is not None:
            attrs.append((name, text_value(value)))
    builder.event(event_id, event_type, time, attrs)
    for index, rel in enumerate(_list(event, "relationships", where, path)):
        object_id = _field(rel, "objectId", f"{where} relationships[{index}]", path)
        builder.event_object(event_id, object_id, rel.get("qualifier"))


def _read_object(builder: OcelBuilder, obj: Any, where: str, path: Path) -> None:
    object_id = _field(obj, "id", where, path)
    builder.object(object_id, _field(obj, "type", where, path))
    for index, attr in enumerate(_list(obj, "attributes", where, path)):
        at = f"{where} attributes[{index}]"
        name = _field(attr, "name", at, path)
        value = attr.get("value")
        if value is not None:
            builder.object_attribute(object_id, name, attr.get("time"), text_value(value))
    for index, rel in enumerate(_list(obj, "relationships", where, path)):
        target = _field(rel, "objectId", f"{where} relationships[{index}]", path)
        builder.object_object(object_id, target, rel.get("qualifier"))
