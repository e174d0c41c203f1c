"""OCEL 2.0 XML (``.xmlocel``, ``.xml``), streamed with lxml ``iterparse``.

``<object id type>`` and ``<event id type time>`` elements each carry ``<attributes>`` (text
values; an object's with a ``time``) and ``<objects>`` of ``<relationship object-id
qualifier>``. Errors name the line of the element at fault.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lxml import etree

from mining.errors import ReadFailed
from mining.readers._model import ImportedLog, OnBytes
from mining.readers._source import open_binary
from mining.readers.ocel import OcelBuilder


def read_ocel_xml(
    path: Path, object_type: str | None = None, on_bytes: OnBytes | None = None
) -> ImportedLog:
    """Read an OCEL 2.0 XML file; flatten on ``object_type`` (default: the busiest type)."""
    lines: list[int] = []
    builder = OcelBuilder(path, where=lambda index: f"line {lines[index]}: <event>")
    with open_binary(path, on_bytes) as stream:
        context = etree.iterparse(
            stream,
            events=("end",),
            tag=("{*}event", "{*}object"),
            huge_tree=True,
            resolve_entities=False,
            no_network=True,
        )
        try:
            for _, element in context:
                if _local(element.tag) == "event":
                    lines.append(element.sourceline)
                    _read_event(builder, element, path)
                else:
                    _read_object(builder, element, path)
                element.clear()
                parent = element.getparent()
                while parent is not None and element.getprevious() is not None:
                    del parent[0]
        except etree.XMLSyntaxError as exc:
            raise ReadFailed(f"{path}: line {exc.lineno}: malformed XML: {exc.msg}") from None
        root = context.root
    if root is None or _local(root.tag) != "log":
        raise ReadFailed(f"{path}: not an OCEL 2.0 XML log (no <log> root element)")
    return builder.build(object_type)


def _local(tag: Any) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _required(element: Any, name: str, path: Path) -> str:
    value = element.get(name)
    if value is None:
        tag = _local(element.tag)
        raise ReadFailed(f"{path}: line {element.sourceline}: <{tag}> has no {name!r}")
    return str(value)


def _children(element: Any, group: str, tag: str) -> list[Any]:
    """``<group><tag/>...</group>`` children of ``element``."""
    found: list[Any] = []
    for child in element:
        if _local(child.tag) == group:
            found.extend(item for item in child if _local(item.tag) == tag)
    return found


def _relationships(element: Any, path: Path) -> list[tuple[str, str | None]]:
    relations = []
    for rel in _children(element, "objects", "relationship"):
        target = _required(rel, "object-id", path)
        # The standard's XML page spells the qualifier ``relationship`` in one example.
        relations.append((target, rel.get("qualifier", rel.get("relationship"))))
    return relations


def _read_event(builder: OcelBuilder, element: Any, path: Path) -> None:
    event_id = _required(element, "id", path)
    attrs = [
        (_required(attr, "name", path), attr.text or "")
        for attr in _children(element, "attributes", "attribute")
    ]
    builder.event(
        event_id, _required(element, "type", path), _required(element, "time", path), attrs
    )
    for target, qualifier in _relationships(element, path):
        builder.event_object(event_id, target, qualifier)


def _read_object(builder: OcelBuilder, element: Any, path: Path) -> None:
    object_id = _required(element, "id", path)
    builder.object(object_id, _required(element, "type", path))
    for attr in _children(element, "attributes", "attribute"):
        name = _required(attr, "name", path)
        builder.object_attribute(object_id, name, attr.get("time"), attr.text or "")
    for target, qualifier in _relationships(element, path):
        builder.object_object(object_id, target, qualifier)
