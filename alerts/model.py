"""The records alerts are made of: states, samples, alerts, silences, transitions.

Plain data, no I/O: the evaluator moves :class:`Alert` records from state to state, the
store persists them, notifiers render them. Times are naive UTC, like DuckDB's ``TIMESTAMP``,
and always the evaluator's clock (the simulator's virtual time in a simulation).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum


class AlertState(StrEnum):
    """Where one alert (a rule and one label set) stands, Prometheus and Grafana style."""

    NORMAL = "normal"
    """The condition does not hold."""
    PENDING = "pending"
    """The condition holds, but not yet for the rule's ``for`` period; nobody is told."""
    FIRING = "firing"
    """The condition held for ``for`` (or stopped less than ``keep_firing_for`` ago)."""
    RESOLVED = "resolved"
    """It fired, and the condition no longer holds; receivers hear that it is over."""


@dataclasses.dataclass(frozen=True)
class Sample:
    """One rule's measurement for one label set at one instant."""

    rule: str
    labels: tuple[tuple[str, str], ...]
    value: float | None
    threshold: float | None
    active: bool
    items: int | None = None


@dataclasses.dataclass
class Alert:
    """The state of one rule for one label set; ``key`` is the dedupe key."""

    key: str
    rule: str
    labels: dict[str, str]
    state: AlertState = AlertState.NORMAL
    value: float | None = None
    threshold: float | None = None
    summary: str = ""
    active_since: datetime | None = None
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    last_active: datetime | None = None
    evaluated_at: datetime | None = None
    #: Per receiver: the last state it was told about, and when (for repeat_interval).
    notified: dict[str, tuple[str, datetime]] = dataclasses.field(default_factory=dict)

    def notified_json(self) -> str:
        return json.dumps(
            {r: [s, t.isoformat()] for r, (s, t) in self.notified.items()}, sort_keys=True
        )

    @staticmethod
    def parse_notified(text: str | None) -> dict[str, tuple[str, datetime]]:
        raw = json.loads(text or "{}")
        return {r: (s, datetime.fromisoformat(t)) for r, (s, t) in raw.items()}


@dataclasses.dataclass(frozen=True)
class Transition:
    """One change of state, for the history table and the backtest report."""

    ts: datetime
    key: str
    rule: str
    labels: tuple[tuple[str, str], ...]
    from_state: AlertState
    to_state: AlertState
    value: float | None
    summary: str


@dataclasses.dataclass(frozen=True)
class Silence:
    """Mutes alerts whose labels include all ``matchers``, from ``starts_at`` to ``ends_at``."""

    id: str
    matchers: tuple[tuple[str, str], ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str = ""
    comment: str = ""

    def active(self, now: datetime) -> bool:
        """Whether the silence applies at ``now`` (it expires by itself at ``ends_at``)."""
        return self.starts_at <= now < self.ends_at

    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool:
        return self.active(now) and matches(self.matchers, labels)


def matches(matchers: tuple[tuple[str, str], ...], labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` carry every ``name = value`` of ``matchers``.

    Example:
        >>> matches((("queue", "prior_auth"),), {"queue": "prior_auth", "severity": "page"})
        True
    """
    return all(labels.get(name) == value for name, value in matchers)


def alert_key(rule: str, labels: Mapping[str, str]) -> str:
    """The dedupe key of an alert: the same rule and label set always give the same key.

    Example:
        >>> alert_key("aging", {"queue": "a"}) == alert_key("aging", {"queue": "a"})
        True
    """
    text = json.dumps([rule, sorted(labels.items())], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def humanize(seconds: float | None) -> str:
    """A duration the way an on-call person reads it.

    Example:
        >>> humanize(90), humanize(3 * 3600 + 600), humanize(2 * 86400)
        ('1m 30s', '3h 10m', '2d 0h')
    """
    if seconds is None:
        return "n/a"
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"
