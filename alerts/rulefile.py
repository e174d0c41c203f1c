"""Reading a rules file: YAML with the line of every key, validated into a :class:`RuleSet`.

Every mistake is a :class:`~alerts.errors.RuleFileError` whose message starts with
``FILE:LINE:``. What the fields mean is in :mod:`alerts.rules` and ``docs/alerts.md``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from alerts.errors import RuleFileError
from alerts.rules import (
    DEFAULT_INHIBITIONS,
    FORBIDDEN_LABELS,
    SEVERITIES,
    Inhibition,
    Receiver,
    Rule,
    RuleKind,
    RuleSet,
    template_fields,
)
from baton.durations import parse_duration

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
    inhibitions: tuple[Inhibition, ...] = DEFAULT_INHIBITIONS
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
