"""Playbooks: a workflow's steps, queues, routing and retry policies, from YAML or Python.

A playbook is validated as a whole before anything runs, and every problem is reported with
the file and line it comes from, because the person fixing it is looking at the YAML.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from baton.durations import parse_duration
from orchestrator.errors import PlaybookError

#: Routing target that ends the case.
END = "end"
#: Prefix of a routing target that hands the case to another workflow: ``@eligibility``.
HANDOFF = "@"


def is_exit(target: str) -> bool:
    """True for targets that leave the playbook: ``end`` or ``@workflow``."""
    return target == END or target.startswith(HANDOFF)


#: Limits beyond which a retry setting is a typo, not a policy.
MAX_ATTEMPTS_LIMIT = 100
MAX_INTERVAL_LIMIT_S = 7 * 86400.0
MAX_BACKOFF_COEFFICIENT = 10.0


class OnExhausted(StrEnum):
    """What happens when a step's retries run out."""

    ESCALATE = "escalate"
    """Send the item to the human workbench; the case resumes when a person resolves it."""
    FAIL = "fail"
    """Fail the case."""


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Temporal's retry fields: attempt n waits ``initial * coefficient**(n-1)``, capped."""

    max_attempts: int = 3
    initial_interval_s: float = 60.0
    backoff_coefficient: float = 2.0
    maximum_interval_s: float = 1800.0
    non_retryable: tuple[str, ...] = ()

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before ``attempt`` (2 is the first retry).

        Example:
            >>> RetryPolicy(initial_interval_s=60, backoff_coefficient=2).delay_before(3)
            120.0
        """
        exponent = max(attempt - 2, 0)
        delay = self.initial_interval_s * self.backoff_coefficient**exponent
        return float(min(delay, self.maximum_interval_s))


@dataclasses.dataclass(frozen=True)
class Step:
    """One bot's task, with the queue in front of it and where the case goes next."""

    name: str
    bot: str
    queue: str
    next: str = END
    routes: Mapping[str, str] = dataclasses.field(default_factory=dict)
    retry: RetryPolicy = RetryPolicy()
    timeout_s: float = 900.0
    sla_s: float | None = None
    delay_s: float = 0.0
    priority: int = 5
    on_exhausted: OnExhausted = OnExhausted.ESCALATE

    def route(self, outcome: str | None) -> str:
        """The next step for ``outcome`` (the default ``next`` when no route names it)."""
        if outcome is not None and outcome in self.routes:
            return self.routes[outcome]
        return self.next


@dataclasses.dataclass(frozen=True)
class Playbook:
    """A workflow: its name, version and steps; the first step receives new cases."""

    workflow: str
    version: str
    steps: tuple[Step, ...]
    path: str | None = None

    @property
    def first(self) -> Step:
        return self.steps[0]

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    @property
    def queues(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(step.queue for step in self.steps))


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that remembers the line of every mapping key."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = _Located(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    for key_node, _ in node.value:
        mapping.lines[str(loader.construct_object(key_node))] = key_node.start_mark.line + 1
    return mapping


class _Located(dict[str, Any]):
    line: int | None = None

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.lines: dict[str, int] = {}


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line(mapping: Any, key: str | None = None) -> int | None:
    if isinstance(mapping, _Located):
        return mapping.lines.get(key, mapping.line) if key else mapping.line
    return None


class _Reader:
    """Reads typed fields from located mappings, failing with file and line."""

    def __init__(self, path: str | None) -> None:
        self.path = path

    def fail(self, problem: str, mapping: Any = None, key: str | None = None) -> PlaybookError:
        return PlaybookError(problem, self.path, _line(mapping, key))

    def mapping(self, value: Any, what: str, parent: Any = None, key: str | None = None) -> Any:
        if not isinstance(value, dict):
            raise self.fail(f"{what} must be a mapping", parent, key)
        return value

    def required(self, mapping: Any, key: str, what: str) -> Any:
        if key not in mapping or mapping[key] in (None, ""):
            raise self.fail(f"{what} is missing '{key}'", mapping)
        return mapping[key]

    def duration(self, mapping: Any, key: str, default: float | None) -> float | None:
        if key not in mapping:
            return default
        try:
            return parse_duration(mapping[key])
        except ValueError as exc:
            raise self.fail(f"'{key}': {exc}", mapping, key) from None

    def number(self, mapping: Any, key: str, default: float, kind: type = float) -> Any:
        if key not in mapping:
            return default
        value = mapping[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"'{key}' must be a number, not {value!r}", mapping, key)
        if kind is int and value != int(value):
            raise self.fail(f"'{key}' must be a whole number, not {value!r}", mapping, key)
        return kind(value)


_STEP_KEYS = {
    "name", "bot", "queue", "next", "routes", "retry", "timeout", "sla", "delay",
    "priority", "on_exhausted",
}  # fmt: skip
_RETRY_KEYS = {
    "max_attempts", "initial_interval", "backoff_coefficient", "maximum_interval",
    "non_retryable",
}  # fmt: skip


def _retry(reader: _Reader, raw: Any, step: Any) -> RetryPolicy:
    if raw is None:
        return RetryPolicy()
    raw = reader.mapping(raw, "'retry'", step, "retry")
    for key in raw:
        if key not in _RETRY_KEYS:
            raise reader.fail(
                f"unknown retry setting '{key}' (known: {', '.join(sorted(_RETRY_KEYS))})",
                raw,
                key,
            )
    default = RetryPolicy()
    max_attempts = reader.number(raw, "max_attempts", default.max_attempts, int)
    if not 1 <= max_attempts <= MAX_ATTEMPTS_LIMIT:
        raise reader.fail(
            f"'max_attempts' must be between 1 and {MAX_ATTEMPTS_LIMIT}, not {max_attempts}",
            raw,
            "max_attempts",
        )
    initial = reader.duration(raw, "initial_interval", default.initial_interval_s)
    maximum = reader.duration(
        raw, "maximum_interval", max(default.maximum_interval_s, initial or 0)
    )
    coefficient = reader.number(raw, "backoff_coefficient", default.backoff_coefficient)
    if not 1.0 <= coefficient <= MAX_BACKOFF_COEFFICIENT:
        raise reader.fail(
            f"'backoff_coefficient' must be between 1 and {MAX_BACKOFF_COEFFICIENT:g}, "
            f"not {coefficient:g}",
            raw,
            "backoff_coefficient",
        )
    assert initial is not None and maximum is not None
    for key, value in (("initial_interval", initial), ("maximum_interval", maximum)):
        if value > MAX_INTERVAL_LIMIT_S:
            raise reader.fail(f"'{key}' of {value:g} s is more than 7 days", raw, key)
    if maximum < initial:
        raise reader.fail(
            "'maximum_interval' is shorter than 'initial_interval'", raw, "maximum_interval"
        )
    non_retryable = raw.get("non_retryable", [])
    if not isinstance(non_retryable, list) or not all(isinstance(x, str) for x in non_retryable):
        raise reader.fail("'non_retryable' must be a list of error types", raw, "non_retryable")
    return RetryPolicy(max_attempts, initial, coefficient, maximum, tuple(non_retryable))


def _step(reader: _Reader, raw: Any) -> Step:
    for key in raw:
        if key not in _STEP_KEYS:
            raise reader.fail(
                f"unknown step setting '{key}' (known: {', '.join(sorted(_STEP_KEYS))})", raw, key
            )
    name = str(reader.required(raw, "name", "a step"))
    routes = raw.get("routes") or {}
    reader.mapping(routes, "'routes'", raw, "routes")
    on_exhausted = str(raw.get("on_exhausted", OnExhausted.ESCALATE))
    if on_exhausted not in set(OnExhausted):
        raise reader.fail(
            f"'on_exhausted' must be 'escalate' or 'fail', not {on_exhausted!r}",
            raw,
            "on_exhausted",
        )
    timeout = reader.duration(raw, "timeout", 900.0)
    if timeout is not None and timeout <= 0:
        raise reader.fail("'timeout' must be positive", raw, "timeout")
    return Step(
        name=name,
        bot=str(reader.required(raw, "bot", f"step '{name}'")),
        queue=str(raw.get("queue") or name),
        next=str(raw.get("next", END)),
        routes={str(k): str(v) for k, v in routes.items()},
        retry=_retry(reader, raw.get("retry"), raw),
        timeout_s=timeout or 900.0,
        sla_s=reader.duration(raw, "sla", None),
        delay_s=reader.duration(raw, "delay", 0.0) or 0.0,
        priority=reader.number(raw, "priority", 5, int),
        on_exhausted=OnExhausted(on_exhausted),
    )


def parse_playbook(text: str, path: Path | str | None = None) -> Playbook:
    """Parse and validate a playbook from YAML text."""
    where = str(path) if path is not None else None
    reader = _Reader(where)
    try:
        data = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise PlaybookError(f"not valid YAML: {problem}", where, line) from None
    data = reader.mapping(data, "a playbook")
    raw_steps = reader.required(data, "steps", "the playbook")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise reader.fail("'steps' must be a non-empty list", data, "steps")
    steps = tuple(_step(reader, reader.mapping(s, "each step", data, "steps")) for s in raw_steps)
    playbook = Playbook(
        workflow=str(reader.required(data, "workflow", "the playbook")),
        version=str(data.get("version", "1")),
        steps=steps,
        path=where,
    )
    validate(playbook, lines={s.name: _line(r) for s, r in zip(steps, raw_steps, strict=True)})
    return playbook


def load_playbook(path: Path | str) -> Playbook:
    """Read, parse and validate the playbook at ``path``."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlaybookError("no such file", file) from None
    except OSError as exc:
        raise PlaybookError(f"cannot read: {exc.strerror}", file) from None
    return parse_playbook(text, file)


def validate(
    playbook: Playbook,
    bots: Collection[str] | None = None,
    lines: Mapping[str, int | None] | None = None,
) -> None:
    """Check the playbook as a graph: names, targets, reachability, loops with no exit.

    ``bots`` (the registered bot names) adds the unknown-bot check. A handoff to another
    workflow (``@name``) counts as an exit here; :func:`validate_handoffs` checks the names.
    """
    lines = lines or {}

    def fail(problem: str, step: str | None = None) -> PlaybookError:
        return PlaybookError(problem, playbook.path, lines.get(step) if step else None)

    names: set[str] = set()
    for step in playbook.steps:
        if step.name == END:
            raise fail(f"'{END}' is reserved and cannot name a step", step.name)
        if step.name in names:
            raise fail(f"step '{step.name}' is defined twice", step.name)
        names.add(step.name)
    for step in playbook.steps:
        if bots is not None and step.bot not in bots:
            known = ", ".join(sorted(bots)) or "none"
            raise fail(
                f"step '{step.name}' uses unknown bot '{step.bot}' (known: {known})", step.name
            )
        for target in (step.next, *step.routes.values()):
            if not is_exit(target) and target not in names:
                raise fail(f"step '{step.name}' routes to unknown step '{target}'", step.name)
    successors = {
        s.name: {END if is_exit(t) else t for t in (s.next, *s.routes.values())}
        for s in playbook.steps
    }
    reachable = _closure({playbook.first.name}, successors)
    for step in playbook.steps:
        if step.name not in reachable:
            raise fail(f"step '{step.name}' is unreachable from '{playbook.first.name}'", step.name)
    for step in playbook.steps:
        if END not in _closure({step.name}, successors):
            raise fail(f"step '{step.name}' is in a loop with no exit to '{END}'", step.name)


def validate_handoffs(playbooks: Collection[Playbook]) -> None:
    """Every ``@workflow`` target names one of ``playbooks``."""
    known = {p.workflow for p in playbooks}
    for playbook in playbooks:
        for step in playbook.steps:
            for target in (step.next, *step.routes.values()):
                if target.startswith(HANDOFF) and target[1:] not in known:
                    raise PlaybookError(
                        f"step '{step.name}' hands off to unknown workflow '{target[1:]}' "
                        f"(known: {', '.join(sorted(known))})",
                        playbook.path,
                    )


def _closure(start: set[str], successors: Mapping[str, set[str]]) -> set[str]:
    seen = set(start)
    frontier = list(start)
    while frontier:
        for target in successors.get(frontier.pop(), set()):
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    return seen
