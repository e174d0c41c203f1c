"""The evaluator: samples in, states and notifications out.

:func:`advance` is the state machine, pure and clock-free (``now`` is given)::

    normal ──condition──▶ pending ──held for `for`──▶ firing ──clear for keep_firing_for──▶ resolved
       ▲                    │ condition gone                                                  │
       └────────────────────┘◀──────────────────────────── condition again ─── pending ◀─────┘

:func:`deliveries` decides who must hear what: a firing alert once per receiver (again after
``repeat_interval``), a resolved one once, to receivers that heard it fire. Silenced and
inhibited alerts keep their state but stay quiet. :class:`Evaluator` runs one tick: measure,
advance, persist, notify, then record what was delivered, so a restart never re-pages.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

import polars as pl

from alerts.clock import Clock
from alerts.measure import measure
from alerts.model import Alert, AlertState, Sample, Silence, Transition, alert_key, humanize
from alerts.model import matches as labels_match
from alerts.rules import Rule, RuleSet
from alerts.sources import FigureSource
from alerts.state import AlertStore

log = logging.getLogger(__name__)


def labels_of(rule: Rule, sample: Sample) -> dict[str, str]:
    """Every label of an alert: name, severity, the rule's labels, the sample's (queue)."""
    return {
        "alertname": rule.name,
        "severity": rule.severity,
        **dict(rule.labels),
        **dict(sample.labels),
    }


def summary(rule: Rule, labels: Mapping[str, str], sample: Sample | None) -> str:
    """The rule's summary template filled in from labels and numbers (never case data)."""
    value = sample.value if sample else None
    threshold = sample.threshold if sample else rule.threshold

    def human(x: float | None) -> str:
        if x is None:
            return "n/a"
        if rule.is_duration:
            return humanize(x)
        if rule.kind.value.endswith("_rate"):
            return f"{x:.0%}"
        return f"{x:g}"

    fields = {
        **labels,
        "value": "n/a" if value is None else f"{value:g}",
        "threshold": "n/a" if threshold is None else f"{threshold:g}",
        "value_human": human(value),
        "threshold_human": human(threshold),
        "items": "n/a" if sample is None or sample.items is None else str(sample.items),
    }
    return rule.summary.format_map(fields)


def advance(
    alerts: Mapping[str, Alert], samples: Sequence[Sample], rules: RuleSet, now: datetime
) -> tuple[dict[str, Alert], list[Transition]]:
    """Move every alert one tick forward; alerts whose sample is missing count as clear.

    Returns the new alerts (normal ones dropped) and the transitions, in key order.
    """
    current = {k: dataclasses.replace(a, notified=dict(a.notified)) for k, a in alerts.items()}
    seen: dict[str, Sample] = {}
    by_name = {r.name: r for r in rules.rules}
    for measured in samples:
        labels = labels_of(by_name[measured.rule], measured)
        key = alert_key(measured.rule, labels)
        seen[key] = measured
        if key not in current:
            current[key] = Alert(key, measured.rule, labels)
    out: dict[str, Alert] = {}
    transitions: list[Transition] = []
    for key in sorted(current):
        alert = current[key]
        rule = by_name.get(alert.rule)
        if rule is None:  # the rule was removed from the file: forget its alerts
            continue
        sample = seen.get(key)
        before = alert.state
        _step(alert, rule, sample, now)
        alert.evaluated_at = now
        if sample is not None:
            alert.value, alert.threshold = sample.value, sample.threshold
        alert.summary = summary(rule, alert.labels, sample)
        if alert.state is not before:
            transitions.append(
                Transition(
                    now,
                    key,
                    rule.name,
                    tuple(sorted(alert.labels.items())),
                    before,
                    alert.state,
                    alert.value,
                    alert.summary,
                )
            )
        if alert.state is not AlertState.NORMAL:
            out[key] = alert
    return out, transitions


def _step(alert: Alert, rule: Rule, sample: Sample | None, now: datetime) -> None:
    active = sample is not None and sample.active
    state = alert.state
    if active:
        alert.last_active = now
        if state in (AlertState.NORMAL, AlertState.RESOLVED):
            alert.active_since, alert.fired_at, alert.resolved_at = now, None, None
            state = AlertState.PENDING
        if state is AlertState.PENDING and now - alert.active_since >= timedelta(  # type: ignore[operator]
            seconds=rule.for_s
        ):
            state, alert.fired_at = AlertState.FIRING, now
    elif state is AlertState.PENDING:
        state, alert.active_since = AlertState.NORMAL, None
    elif state is AlertState.FIRING:
        quiet_since = alert.last_active or now
        if now - quiet_since >= timedelta(seconds=rule.keep_firing_for_s):
            state, alert.resolved_at = AlertState.RESOLVED, now
    alert.state = state


def inhibited(alert: Alert, alerts: Mapping[str, Alert], rules: RuleSet) -> bool:
    """Whether a firing alert matching an inhibition's source mutes ``alert``."""
    kinds = {r.name: r.kind.value for r in rules.rules}

    def hit(matchers: tuple[tuple[str, str], ...], other: Alert) -> bool:
        labels = {**other.labels, "kind": kinds.get(other.rule, "")}
        return labels_match(matchers, labels)

    for rule in rules.inhibitions:
        if not hit(rule.target, alert):
            continue
        for source in alerts.values():
            if (
                source.key != alert.key
                and source.state is AlertState.FIRING
                and hit(rule.source, source)
                and all(source.labels.get(n) == alert.labels.get(n) for n in rule.equal)
            ):
                return True
    return False


@dataclasses.dataclass(frozen=True)
class Delivery:
    """One alert to tell one receiver about, as ``firing`` or ``resolved``."""

    receiver: str
    status: str
    alert: Alert


def deliveries(
    alerts: Mapping[str, Alert], rules: RuleSet, silences: Sequence[Silence], now: datetime
) -> list[Delivery]:
    """What each receiver must be told now; silenced and inhibited alerts stay quiet."""
    out: list[Delivery] = []
    names = [r.name for r in rules.receivers]
    for key in sorted(alerts):
        alert = alerts[key]
        rule = rules.rule(alert.rule)
        repeat = timedelta(seconds=rule.repeat_interval_s or rules.repeat_interval_s)
        for receiver in rule.notify if rule.notify is not None else names:
            told, told_at = alert.notified.get(receiver, ("", None))
            if alert.state is AlertState.FIRING:
                if muted(alert, alerts, rules, silences, now):
                    continue
                if told != "firing" or (told_at is not None and now - told_at >= repeat):
                    out.append(Delivery(receiver, "firing", alert))
            elif alert.state is AlertState.RESOLVED and told == "firing":
                # Closes what was opened, even if silenced since: a page that never ends
                # is worse than one extra message.
                out.append(Delivery(receiver, "resolved", alert))
    return out


def muted(
    alert: Alert,
    alerts: Mapping[str, Alert],
    rules: RuleSet,
    silences: Sequence[Silence],
    now: datetime,
) -> bool:
    """Silenced (a silence matches now) or inhibited (see :func:`inhibited`)."""
    return any(s.mutes(alert.labels, now) for s in silences) or inhibited(alert, alerts, rules)


#: Sends a batch of deliveries at ``now``; returns the ones receivers accepted.
Notify = Callable[[Sequence[Delivery], datetime], list[Delivery]]


def _nobody(batch: Sequence[Delivery], now: datetime) -> list[Delivery]:
    return []


class _TickCache:
    """A figure source that remembers answers for the length of one tick."""

    def __init__(self, source: FigureSource) -> None:
        self.source = source
        self.seen: dict[tuple[str, tuple[tuple[str, str], ...]], pl.DataFrame] = {}

    def figure(self, name: str, values: dict[str, str]) -> pl.DataFrame:
        key = (name, tuple(sorted(values.items())))
        if key not in self.seen:
            self.seen[key] = self.source.figure(name, values)
        return self.seen[key]


@dataclasses.dataclass
class TickResult:
    """What one evaluation did."""

    now: datetime
    samples: list[Sample]
    alerts: dict[str, Alert]
    transitions: list[Transition]
    sent: list[Delivery]


class Evaluator:
    """One tick at a time: measure every rule, advance, persist, notify, record deliveries."""

    def __init__(
        self,
        rules: RuleSet,
        source: FigureSource,
        store: AlertStore,
        clock: Clock,
        notify: Notify | None = None,
    ) -> None:
        self.rules, self.source, self.store, self.clock = rules, source, store, clock
        self.notify = notify or _nobody

    def tick(self) -> TickResult:
        """Evaluate once at the clock's "now"."""
        now = self.clock.now()
        source = _TickCache(self.source)  # rules sharing a figure compute it once per tick
        samples = [s for rule in self.rules.rules for s in measure(rule, source, now)]
        previous = self.store.load()
        alerts, transitions = advance(previous, samples, self.rules, now)
        self.store.save(alerts, transitions)
        todo = deliveries(alerts, self.rules, self.store.silences(), now)
        sent = self.notify(todo, now) if todo else []
        if sent:
            for delivery in sent:
                alerts[delivery.alert.key].notified[delivery.receiver] = (delivery.status, now)
            self.store.save(alerts, [])
        for t in transitions:
            log.info("alert %s %s -> %s: %s", t.rule, t.from_state, t.to_state, t.summary)
        return TickResult(now, samples, alerts, transitions, sent)
