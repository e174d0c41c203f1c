"""Process discovery with pm4py's inductive miner: an offline job, never a request path.

Discovery reads the whole (filtered) log and costs seconds at a million events, so it runs
from the CLI (``baton mine discover``), a notebook or a scheduled job, and writes its model
to files: PNML (the Petri net with its markings) and BPMN, which ProM, Camunda Modeler,
bpmn.io and pm4py itself open. It is deliberately not a figure of :data:`mining.FIGURES`.

The miner sees the activity-instance view (:func:`mining.pm4py_bridge.instances_for_pm4py`):
one event per executed attempt, ordered by ``(ts, seq)``, so the discovered model shows what
ran, retries included, while :mod:`mining.conformance` checks what the playbook allows.
One process tree is mined and converted to both notations, so the two files describe the
same model. pm4py is imported lazily and its licence banner kept off stdout.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb

from mining._pm4py import load_pm4py, quiet
from mining.errors import EmptyLog, InvalidFilter
from mining.filters import Filters
from mining.pm4py_bridge import ACTIVITY_KEY, CASE_KEY, TIMESTAMP_KEY, instances_for_pm4py


@dataclasses.dataclass(frozen=True)
class DiscoveredModel:
    """Where a discovery run wrote its model, and how much log it saw."""

    pnml: Path
    """The Petri net with initial and final marking (``pm4py.read_pnml`` reads it back)."""
    bpmn: Path
    """The same model as a BPMN 2.0 diagram, laid out."""
    cases: int
    activity_instances: int


def discover(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path | str,
    filters: Filters | None = None,
    *,
    name: str = "discovered",
    noise_threshold: float = 0.0,
) -> DiscoveredModel:
    """Mine a model with the inductive miner and write ``{name}.pnml`` and ``{name}.bpmn``.

    ``noise_threshold`` is pm4py's (0.0: the model replays every case; higher values drop
    infrequent behaviour). Raises :class:`~mining.errors.EmptyLog` when no activity
    instance passes ``filters``.
    """
    if not 0.0 <= noise_threshold <= 1.0:
        raise InvalidFilter(f"noise threshold must be between 0 and 1, not {noise_threshold}")
    if not name or Path(name).name != name:
        raise InvalidFilter(f"model name {name!r} must be a plain file name")
    frame = instances_for_pm4py(con, filters)
    if frame.empty:
        raise EmptyLog("no activity instances to discover a model from")
    pm4py = load_pm4py()
    keys = {"activity_key": ACTIVITY_KEY, "case_id_key": CASE_KEY, "timestamp_key": TIMESTAMP_KEY}
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    pnml, bpmn = folder / f"{name}.pnml", folder / f"{name}.bpmn"
    with quiet():
        tree = pm4py.discover_process_tree_inductive(frame, noise_threshold=noise_threshold, **keys)
        net, initial, final = pm4py.convert_to_petri_net(tree)
        pm4py.write_pnml(net, initial, final, str(pnml))
        diagram = pm4py.convert_to_bpmn(tree)
        if shutil.which("dot") is None:
            _layered_layout(diagram)
        pm4py.write_bpmn(diagram, str(bpmn), auto_layout=shutil.which("dot") is not None)
    return DiscoveredModel(
        pnml=pnml,
        bpmn=bpmn,
        cases=int(frame[CASE_KEY].nunique()),
        activity_instances=len(frame),
    )


def _layered_layout(diagram: Any) -> None:
    """Place BPMN nodes left to right by distance from the start, when Graphviz is absent.

    pm4py lays diagrams out with Graphviz's ``dot`` binary; without it every shape would sit
    at (0, 0). This puts each node in the column of its shortest distance from a start event
    and draws each flow as a straight line, enough for a modeller to open and tidy.
    """
    nodes, flows = list(diagram.get_nodes()), list(diagram.get_flows())
    outgoing: dict[Any, list[Any]] = defaultdict(list)
    for flow in flows:
        outgoing[flow.get_source()].append(flow.get_target())
    starts = [n for n in nodes if type(n).__name__ == "StartEvent"] or nodes[:1]
    column = {node: 0 for node in starts}
    frontier = list(starts)
    while frontier:
        following = []
        for node in frontier:
            for target in outgoing[node]:
                if target not in column:
                    column[target] = column[node] + 1
                    following.append(target)
        frontier = following
    rows: dict[int, int] = defaultdict(int)
    for node in nodes:
        col = column.setdefault(node, max(column.values(), default=0) + 1)
        width, height = (100, 80) if type(node).__name__ == "Task" else (40, 40)
        node.set_width(width)
        node.set_height(height)
        node.set_x(40 + 160 * col + (100 - width) // 2)
        node.set_y(40 + 120 * rows[col] + (80 - height) // 2)
        rows[col] += 1
    for flow in flows:
        source, target = flow.get_source(), flow.get_target()
        flow.del_waypoints()
        flow.add_waypoint(
            (source.get_x() + source.get_width(), source.get_y() + source.get_height() // 2)
        )
        flow.add_waypoint((target.get_x(), target.get_y() + target.get_height() // 2))
