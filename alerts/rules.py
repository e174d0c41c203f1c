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
reference is ``docs/alerts.md``; :mod:`alerts.rulefile` reads and checks files.
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from typing import Any


class RuleKind(StrEnum):
    """What a rule measures; each kind yields one value per label set (queue, service)."""

    QUEUE_AGING = "queue_aging"
    """Oldest open item's age on a queue, or how many open items are older than ``older_than``."""
    SLA_BREACH_RATE = "sla_breach_rate"
    """Share of items due in the last ``window`` whose step had not completed by then."""
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
