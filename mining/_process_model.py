"""A workflow's routing as mining sees it: steps, start step, allowed transitions, end steps.

``mining`` never imports the orchestrator (it sits to the left in the data flow), so the
model is built either from any object shaped like the orchestrator's ``Playbook``
(:meth:`ProcessModel.from_playbook`, read by attribute) or straight from a playbook YAML file
(:meth:`ProcessModel.from_yaml`, read with ``yaml.safe_load``). Validating a playbook (bots,
retry settings, reachability, loops without exit) stays the orchestrator's job: the YAML
reader only reads the routing (``name``, ``next``, ``routes``) and refuses, naming the file,
a file it cannot make a model of.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from mining.errors import InvalidFilter

#: Routing target that ends the case, and the prefix of a handoff to another workflow.
END = "end"
HANDOFF = "@"
#: The walk's position before the first step (never a step name: steps cannot contain it).
BEFORE_START = "▶"


def _is_exit(target: str) -> bool:
    return target == END or target.startswith(HANDOFF)


@dataclasses.dataclass(frozen=True)
class ProcessModel:
    """A workflow's routing: steps, start step, allowed transitions and end steps.

    ``transitions`` holds ``(from_step, to_step)`` pairs between steps; a step is an end
    step when one of its routes leaves the workflow (``end`` or ``@workflow``).

    Example:
        >>> model = ProcessModel.from_routes(
        ...     "referral", "2", {"receive": ["register", "end"], "register": ["@eligibility"]}
        ... )
        >>> model.start, sorted(model.transitions), sorted(model.end_steps)
        ('receive', [('receive', 'register')], ['receive', 'register'])
    """

    workflow: str
    version: str
    steps: tuple[str, ...]
    start: str
    transitions: frozenset[tuple[str, str]]
    end_steps: frozenset[str]

    @classmethod
    def from_routes(
        cls, workflow: str, version: str, routes: Mapping[str, Iterable[str]]
    ) -> ProcessModel:
        """A model from each step's targets (step names, ``end`` or ``@workflow``).

        The first step of ``routes`` is the start step.
        """
        steps = tuple(routes)
        if not steps:
            raise InvalidFilter(f"workflow {workflow!r} has no steps")
        transitions: set[tuple[str, str]] = set()
        end_steps: set[str] = set()
        for step, targets in routes.items():
            for target in targets:
                if _is_exit(target):
                    end_steps.add(step)
                elif target in routes:
                    transitions.add((step, target))
                else:
                    raise InvalidFilter(
                        f"workflow {workflow!r}: step {step!r} routes to unknown step {target!r}"
                    )
        return cls(workflow, version, steps, steps[0], frozenset(transitions), frozenset(end_steps))

    @classmethod
    def from_playbook(cls, playbook: Any) -> ProcessModel:
        """The model of an orchestrator ``Playbook`` (read by attribute, never imported).

        Uses ``workflow``, ``version`` and ``steps``, each step's ``name``, ``next`` and
        ``routes`` (outcome -> target); the first step receives new cases.
        """
        routes = {
            str(step.name): [str(step.next), *(str(t) for t in dict(step.routes).values())]
            for step in playbook.steps
        }
        return cls.from_routes(str(playbook.workflow), str(playbook.version), routes)

    @classmethod
    def from_yaml(cls, path: Path | str) -> ProcessModel:
        """The model of the playbook YAML file at ``path`` (routing only, not validated).

        Raises :class:`~mining.errors.InvalidFilter` naming the file when it cannot be read
        or has no readable routing.
        """
        file = Path(path)
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InvalidFilter(f"playbook {file}: cannot read ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise InvalidFilter(f"playbook {file}: not valid YAML{where}") from None
        try:
            return cls._from_mapping(data)
        except InvalidFilter as exc:
            raise InvalidFilter(f"playbook {file}: {exc}") from None

    @classmethod
    def _from_mapping(cls, data: Any) -> ProcessModel:
        if not isinstance(data, dict) or not data.get("workflow"):
            raise InvalidFilter("not a playbook (no 'workflow')")
        raw_steps = data.get("steps")
        if not isinstance(raw_steps, list) or not raw_steps:
            raise InvalidFilter("'steps' must be a non-empty list")
        routes: dict[str, list[str]] = {}
        for raw in raw_steps:
            if not isinstance(raw, dict) or not raw.get("name"):
                raise InvalidFilter("every step needs a 'name'")
            step_routes = raw.get("routes") or {}
            if not isinstance(step_routes, dict):
                raise InvalidFilter(f"step {raw['name']!r}: 'routes' must be a mapping")
            name = str(raw["name"])
            if name in routes or name == END:
                raise InvalidFilter(f"step {name!r} is defined twice or reserved")
            routes[name] = [str(raw.get("next", END)), *(str(t) for t in step_routes.values())]
        return cls.from_routes(str(data["workflow"]), str(data.get("version", "1")), routes)

    def successors(self, step: str) -> tuple[str, ...]:
        """Steps the playbook allows after ``step`` (``BEFORE_START`` gives the start step)."""
        return successors_of(self).get(step, ())

    def allows(self, source: str, target: str) -> bool:
        """True when the playbook routes ``source`` (or ``BEFORE_START``) to ``target``."""
        return target in self.successors(source)

    def petri_net(self) -> tuple[Any, Any, Any]:
        """The model as a pm4py workflow net: ``(net, initial_marking, final_marking)``."""
        from mining._petri import compile_petri_net

        return compile_petri_net(self)


@functools.cache
def successors_of(model: ProcessModel) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {BEFORE_START: [model.start]}
    for a, b in sorted(model.transitions):
        out.setdefault(a, []).append(b)
    return {k: tuple(v) for k, v in out.items()}


@functools.cache
def path_between(model: ProcessModel, source: str, target: str) -> tuple[str, ...] | None:
    """Steps strictly between ``source`` and ``target`` on a shortest path; None if none."""
    parent: dict[str, str] = {}
    frontier = deque([source])
    while frontier:
        node = frontier.popleft()
        for nxt in model.successors(node):
            if nxt in parent or nxt == source:
                continue
            parent[nxt] = node
            if nxt == target:
                path = []
                while parent[nxt] != source:
                    nxt = parent[nxt]
                    path.append(nxt)
                return tuple(reversed(path))
            frontier.append(nxt)
    return None


@functools.lru_cache(maxsize=32)
def _model_at(path: str, mtime_ns: int) -> ProcessModel:
    return ProcessModel.from_yaml(path)


def model_for(playbook: str | Path | None, figure: str) -> ProcessModel:
    """The model of the playbook YAML at ``playbook``, re-read only when the file changes."""
    if not playbook:
        raise InvalidFilter(f"figure {figure!r} needs 'playbook': the path of a playbook YAML")
    file = Path(playbook)
    if file.suffix not in (".yaml", ".yml"):
        raise InvalidFilter(f"playbook {file}: expected a .yaml or .yml file")
    try:
        mtime = file.stat().st_mtime_ns
    except OSError:
        raise InvalidFilter(f"playbook {file}: no such file") from None
    return _model_at(str(file), mtime)
