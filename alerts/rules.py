"""Alert rules in YAML: what to watch, when it counts as a problem, whom to tell.

A rules file has ``rules`` (required), ``receivers``, ``inhibit`` and a few defaults::

    evaluation_interval: 1m        # backtest step; the collector's own interval is a setting
    repeat_interval: 4h            # re-send a still-firing alert this often
    receivers:
      - {name: ops, webhook: {url: "http://127.0.0.1:9093/hook"}}
    rules:
      - name: prior-auth-aging
        kind: queue_aging
        queues: {prior_auth: 3h}
        for: 15m
        severity: page
        summary: "{queue}: oldest item waiting {value_human} (limit {threshold_human})"

Every mistake is reported as ``FILE:LINE: problem`` (:class:`~alerts.errors.RuleFileError`),
because a rule that silently does nothing is worse than one that does not load. The full
reference is ``docs/alerts.md``.
"""

from __future__ import annotations

import dataclasses
import re
import string
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from alerts.errors import RuleFileError


class RuleKind(StrEnum):
    """What a rule measures; each kind yields one value per label set (queue, service)."""

    QUEUE_AGING = "queue_aging"
    """Oldest open item's age on a queue, or how many open items are older than ``older_than``."""
    SLA_BREACH_RATE = "sla_breach_rate"
    """Share of items due in the last ``window`` that were not picked up by their due time."""
    RETRY_RATE = "retry_rate"
    """Retries per attempt on a queue in the last ``window`` (optionally vs. a baseline)."""
    ESCALATION_BACKLOG = "escalation_backlog"
    """Escalated items waiting for a person at the workbench."""
    DEAD_MAN = "dead_man"
    """Time since the orchestrator last sent any telemetry."""


#: Labels each kind adds to its alerts, besides the rule's own ``labels``.
KIND_LABELS: dict[RuleKind, tuple[str, ...]] = {
    RuleKind.QUEUE_AGING: ("queue",),
    RuleKind.SLA_BREACH_RATE: ("queue",),
    RuleKind.RETRY_RATE: ("queue",),
    RuleKind.ESCALATION_BACKLOG: ("queue",),
    RuleKind.DEAD_MAN: ("service",),
}
SEVERITIES = ("info", "warning", "critical", "page")
#: Label keys a rule may not set: a notification must never carry a patient or case identifier.
FORBIDDEN_LABELS = frozenset(
    {"case_id", "case", "patient", "patient_id", "member_id", "mrn", "name", "item_id"}
)
_RULE_KEYS = frozenset(
    {
        "name",
        "kind",
        "threshold",
        "queues",
        "measure",
        "older_than",
        "window",
        "baseline",
        "factor",
        "min_items",
        "for",
        "keep_firing_for",
        "severity",
        "labels",
        "summary",
        "notify",
        "repeat_interval",
        "workflow",
        "service",
    }
)
_TOP_KEYS = frozenset({"rules", "receivers", "inhibit", "evaluation_interval", "repeat_interval"})
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(value: object) -> float:
    """Seconds in ``90``, ``"90s"``, ``"15m"``, ``"4h"``, ``"2d"``; ``ValueError`` otherwise.

    Example:
        >>> parse_duration("4h"), parse_duration(90), parse_duration("1.5m")
        (14400.0, 90.0, 90.0)
    """
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    if isinstance(value, str) and (match := _DURATION.match(value)):
        return float(match.group(1)) * _UNITS[match.group(2) or "s"]
    raise ValueError(f"{value!r} is not a duration (use e.g. 90, '90s', '15m', '4h', '2d')")


@dataclasses.dataclass(frozen=True)
class Rule:
    """One alert rule, validated. Durations are seconds; rates are fractions (0.2 = 20 %)."""

    name: str
    kind: RuleKind
    threshold: float | None = None
    queues: tuple[tuple[str, float], ...] = ()
    measure: str = "oldest_age"
    older_than_s: float | None = None
    window_s: float = 3600.0
    baseline_s: float | None = None
    factor: float | None = None
    min_items: int = 1
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    severity: str = "warning"
    labels: tuple[tuple[str, str], ...] = ()
    summary: str = "{alertname}: {value_human} (threshold {threshold_human})"
    notify: tuple[str, ...] | None = None
    repeat_interval_s: float | None = None
    workflow: str | None = None
    service: str = "baton-orchestrator"
    line: int | None = None

    def threshold_for(self, key: str | None) -> float | None:
        """The threshold of one queue: its own entry, else the rule's ``threshold``.

        None means "not watched": a rule listing ``queues`` without a ``threshold`` looks at
        those queues only.
        """
        return dict(self.queues).get(key or "", self.threshold)

    @property
    def is_duration(self) -> bool:
        """Whether value and threshold are seconds (else a count or a fraction)."""
        return self.kind is RuleKind.DEAD_MAN or (
            self.kind is RuleKind.QUEUE_AGING and self.measure == "oldest_age"
        )


@dataclasses.dataclass(frozen=True)
class Receiver:
    """Where notifications go: ``webhook`` (url), ``email`` (SMTP) or ``log``."""

    name: str
    kind: str
    options: tuple[tuple[str, Any], ...] = ()

    def option(self, key: str, default: Any = None) -> Any:
        return dict(self.options).get(key, default)


@dataclasses.dataclass(frozen=True)
class Inhibition:
    """While an alert matching ``source`` fires, alerts matching ``target`` stay quiet.

    Matchers compare labels; the key ``kind`` matches the rule kind. ``equal`` lists labels
    both alerts must share (Alertmanager's semantics), e.g. ``service``.
    """

    source: tuple[tuple[str, str], ...]
    target: tuple[tuple[str, str], ...]
    equal: tuple[str, ...] = ()


#: Without an ``inhibit`` section: a silent orchestrator mutes the aging of its own queues.
DEFAULT_INHIBITIONS = (
    Inhibition((("kind", "dead_man"),), (("kind", "queue_aging"),), ("service",)),
)


@dataclasses.dataclass(frozen=True)
class RuleSet:
    """A whole rules file."""

    rules: tuple[Rule, ...]
    receivers: tuple[Receiver, ...] = ()
    inhibitions: tuple[Inhibition, ...] = DEFAULT_INHIBITIONS
    evaluation_interval_s: float = 60.0
    repeat_interval_s: float = 4 * 3600.0
    path: str | None = None

    def rule(self, name: str) -> Rule:
        return next(r for r in self.rules if r.name == name)


class _Loader(yaml.SafeLoader):
    """Remembers the line of every mapping and of every key in it."""


class _Located(dict[str, Any]):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.line: int | None = None
        self.lines: dict[str, int] = {}


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _Located:
    mapping = _Located(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    for key_node, _ in node.value:
        mapping.lines[str(loader.construct_object(key_node))] = key_node.start_mark.line + 1
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _Reader:
    """Reads values out of located mappings, failing with ``file:line``."""

    def __init__(self, path: str | None) -> None:
        self.path = path

    def fail(self, message: str, where: Any = None, key: str | None = None) -> RuleFileError:
        line = None
        if isinstance(where, _Located):
            line = where.lines.get(key, where.line) if key else where.line
        return RuleFileError(message, self.path, line)

    def mapping(self, value: Any, what: str, parent: Any = None, key: str | None = None) -> Any:
        if not isinstance(value, dict):
            raise self.fail(f"{what} must be a mapping", parent, key)
        return value

    def duration(self, raw: Mapping[str, Any], key: str, default: float | None) -> float | None:
        if key not in raw or raw[key] is None:
            return default
        try:
            return parse_duration(raw[key])
        except ValueError as exc:
            raise self.fail(f"'{key}': {exc}", raw, key) from None

    def number(self, raw: Mapping[str, Any], key: str, *, percent: bool = False) -> float | None:
        value = raw.get(key)
        if value is None:
            return None
        if percent and isinstance(value, str) and value.strip().endswith("%"):
            value = value.strip()[:-1]
            scale = 0.01
        else:
            scale = 1.0
        try:
            number = float(value) * scale
        except (TypeError, ValueError):
            raise self.fail(f"'{key}': {raw[key]!r} is not a number", raw, key) from None
        if number < 0:
            raise self.fail(f"'{key}': {raw[key]!r} must not be negative", raw, key)
        return number

    def strings(self, raw: Mapping[str, Any], key: str) -> tuple[tuple[str, str], ...]:
        value = raw.get(key) or {}
        if not isinstance(value, dict):
            raise self.fail(f"'{key}' must be a mapping of names to values", raw, key)
        return tuple(sorted((str(k), str(v)) for k, v in value.items()))


def load_rules(path: Path | str) -> RuleSet:
    """Read and validate the rules file at ``path``."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleFileError(f"cannot read the rules file: {exc.strerror}", str(file)) from None
    return parse_rules(text, str(file))


def parse_rules(text: str, path: str | None = None) -> RuleSet:
    """Parse and validate rules from YAML text (``path`` only names it in errors).

    Example:
        >>> rules = parse_rules("rules:\\n- {name: slow, kind: queue_aging, threshold: 2h}\\n")
        >>> rules.rules[0].threshold, rules.rules[0].kind.value
        (7200.0, 'queue_aging')
    """
    reader = _Reader(path)
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise RuleFileError(f"not valid YAML: {getattr(exc, 'problem', exc)}", path, line) from None
    data = reader.mapping(data, "a rules file")
    for key in data:
        if key not in _TOP_KEYS:
            raise reader.fail(
                f"unknown key {key!r}; known: {', '.join(sorted(_TOP_KEYS))}", data, key
            )
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise reader.fail("'rules' must be a non-empty list", data, "rules")
    receivers = tuple(_receiver(reader, r, data) for r in data.get("receivers") or ())
    names = [r.name for r in receivers]
    if len(set(names)) != len(names):
        raise reader.fail("receiver names must be unique", data, "receivers")
    rules: list[Rule] = []
    for raw in raw_rules:
        rule = _rule(reader, reader.mapping(raw, "each rule", data, "rules"), set(names))
        if any(r.name == rule.name for r in rules):
            raise reader.fail(f"rule name {rule.name!r} is used twice", raw, "name")
        rules.append(rule)
    inhibitions = DEFAULT_INHIBITIONS
    if "inhibit" in data:
        inhibitions = tuple(_inhibition(reader, i, data) for i in data["inhibit"] or ())
    return RuleSet(
        rules=tuple(rules),
        receivers=receivers,
        inhibitions=inhibitions,
        evaluation_interval_s=reader.duration(data, "evaluation_interval", 60.0) or 60.0,
        repeat_interval_s=reader.duration(data, "repeat_interval", 4 * 3600.0) or 4 * 3600.0,
        path=path,
    )


def _rule(reader: _Reader, raw: Mapping[str, Any], receivers: set[str]) -> Rule:
    for key in raw:
        if key not in _RULE_KEYS:
            raise reader.fail(f"unknown key {key!r} in a rule", raw, key)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise reader.fail("every rule needs a 'name'", raw, "name")
    try:
        kind = RuleKind(str(raw.get("kind")))
    except ValueError:
        known = ", ".join(k.value for k in RuleKind)
        raise reader.fail(
            f"rule {name!r}: unknown kind {raw.get('kind')!r}; known: {known}", raw, "kind"
        ) from None
    measure = str(raw.get("measure", "oldest_age"))
    if measure not in ("oldest_age", "items_older_than") or (
        "measure" in raw and kind is not RuleKind.QUEUE_AGING
    ):
        raise reader.fail(
            f"rule {name!r}: 'measure' is oldest_age or items_older_than, "
            "for queue_aging rules only",
            raw,
            "measure",
        )
    durations = kind is RuleKind.DEAD_MAN or (
        kind is RuleKind.QUEUE_AGING and measure == "oldest_age"
    )
    rates = kind in (RuleKind.SLA_BREACH_RATE, RuleKind.RETRY_RATE)

    def threshold(where: Mapping[str, Any], key: str) -> float | None:
        if durations:
            return reader.duration(where, key, None)
        return reader.number(where, key, percent=rates)

    queues: list[tuple[str, float]] = []
    raw_queues = raw.get("queues")
    if raw_queues is not None:
        if kind is RuleKind.DEAD_MAN or not isinstance(raw_queues, dict):
            raise reader.fail(
                f"rule {name!r}: 'queues' maps queue names to thresholds", raw, "queues"
            )
        for queue in raw_queues:
            queues.append((str(queue), threshold(raw_queues, queue) or 0.0))
    default = threshold(raw, "threshold")
    if default is None and not queues:
        raise reader.fail(f"rule {name!r}: missing 'threshold'", raw)
    older_than = reader.duration(raw, "older_than", None)
    if (measure == "items_older_than") != (older_than is not None):
        raise reader.fail(
            f"rule {name!r}: 'older_than' goes with measure: items_older_than",
            raw,
            "older_than" if older_than is not None else "measure",
        )
    severity = str(raw.get("severity", "warning"))
    if severity not in SEVERITIES:
        raise reader.fail(
            f"rule {name!r}: severity {severity!r} is not one of {', '.join(SEVERITIES)}",
            raw,
            "severity",
        )
    labels = reader.strings(raw, "labels")
    for key, _ in labels:
        if key.lower() in FORBIDDEN_LABELS or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise reader.fail(
                f"rule {name!r}: label {key!r} is not allowed (labels name "
                "queues and teams, never cases or patients)",
                raw,
                "labels",
            )
    notify = raw.get("notify")
    if notify is not None:
        if not isinstance(notify, list) or any(n not in receivers for n in notify):
            raise reader.fail(
                f"rule {name!r}: 'notify' lists receivers defined under "
                f"'receivers' ({', '.join(sorted(receivers)) or 'none'})",
                raw,
                "notify",
            )
        notify = tuple(str(n) for n in notify)
    rule = Rule(
        name=name.strip(),
        kind=kind,
        threshold=default,
        queues=tuple(queues),
        measure=measure,
        older_than_s=older_than,
        window_s=reader.duration(raw, "window", 3600.0) or 3600.0,
        baseline_s=reader.duration(raw, "baseline", None),
        factor=reader.number(raw, "factor"),
        min_items=int(reader.number(raw, "min_items") or 1),
        for_s=reader.duration(raw, "for", 0.0) or 0.0,
        keep_firing_for_s=reader.duration(raw, "keep_firing_for", 0.0) or 0.0,
        severity=severity,
        labels=labels,
        summary=str(raw.get("summary", Rule.summary)),
        notify=notify,
        repeat_interval_s=reader.duration(raw, "repeat_interval", None),
        workflow=str(raw["workflow"]) if raw.get("workflow") else None,
        service=str(raw.get("service", Rule.service)),
        line=getattr(raw, "line", None),
    )
    if (rule.baseline_s is None) != (rule.factor is None) or (
        rule.baseline_s is not None and kind is not RuleKind.RETRY_RATE
    ):
        raise reader.fail(
            f"rule {name!r}: 'baseline' and 'factor' go together, on retry_rate rules",
            raw,
            "baseline" if "baseline" in raw else "factor",
        )
    _check_template(reader, rule, raw)
    return rule


def template_fields(rule: Rule) -> dict[str, str]:
    """Every field a summary template may use, with a placeholder value."""
    fields = {
        "alertname": "",
        "severity": "",
        "value": "",
        "threshold": "",
        "value_human": "",
        "threshold_human": "",
        "items": "",
    }
    fields.update({k: "" for k in KIND_LABELS[rule.kind]})
    fields.update({k: "" for k, _ in rule.labels})
    return fields


def _check_template(reader: _Reader, rule: Rule, raw: Mapping[str, Any]) -> None:
    fields = template_fields(rule)
    try:
        names = [f for _, f, _, _ in string.Formatter().parse(rule.summary) if f is not None]
    except ValueError as exc:
        raise reader.fail(f"rule {rule.name!r}: summary: {exc}", raw, "summary") from None
    for field in names:
        if field.split(".")[0].split("[")[0] not in fields:
            known = ", ".join(sorted(fields))
            raise reader.fail(
                f"rule {rule.name!r}: summary uses {{{field}}}, which is not one of {known}",
                raw,
                "summary",
            )


def _receiver(reader: _Reader, raw: Any, parent: Any) -> Receiver:
    raw = reader.mapping(raw, "each receiver", parent, "receivers")
    name = raw.get("name")
    kinds = [k for k in ("webhook", "email", "log") if k in raw]
    if not isinstance(name, str) or len(kinds) != 1 or set(raw) - {"name", *kinds}:
        raise reader.fail("a receiver is {name, and one of webhook, email or log}", raw)
    kind = kinds[0]
    options = reader.mapping(raw[kind] or {}, f"receiver {name!r}: {kind}", raw, kind)
    if kind == "webhook" and not str(options.get("url", "")).startswith(("http://", "https://")):
        raise reader.fail(f"receiver {name!r}: webhook needs an http(s) 'url'", raw, kind)
    if kind == "email":
        for key in ("host", "from", "to"):
            if not options.get(key):
                raise reader.fail(f"receiver {name!r}: email needs '{key}'", raw, kind)
    return Receiver(name, kind, tuple(sorted(options.items())))


def _inhibition(reader: _Reader, raw: Any, parent: Any) -> Inhibition:
    raw = reader.mapping(raw, "each inhibit entry", parent, "inhibit")
    if set(raw) - {"source", "target", "equal"} or "source" not in raw or "target" not in raw:
        raise reader.fail("an inhibit entry is {source: {...}, target: {...}, equal: [...]}", raw)
    equal = raw.get("equal") or []
    if not isinstance(equal, list):
        raise reader.fail("'equal' is a list of label names", raw, "equal")
    return Inhibition(
        reader.strings(raw, "source"), reader.strings(raw, "target"), tuple(str(e) for e in equal)
    )
