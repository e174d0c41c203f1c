"""What each rule kind measures: one :class:`~alerts.model.Sample` per label set, as of ``at``.

Every number comes from a :mod:`mining` figure asked for by name, so the rule, the dashboard
and the query API agree on what "oldest item" or "retry rate" means. A rule fires when its
value is **above** its threshold.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import polars as pl

from alerts.model import Sample
from alerts.rules import Rule, RuleKind
from alerts.sources import FigureSource, as_param
from baton.contract import WORKBENCH_QUEUE


def measure(rule: Rule, source: FigureSource, at: datetime) -> list[Sample]:
    """The samples of ``rule`` at ``at``: one per queue (or one for the service)."""
    values = {"at": as_param(at)}
    if rule.workflow:
        values["workflow"] = rule.workflow
    if rule.kind is RuleKind.QUEUE_AGING:
        return _queue_aging(rule, source, values)
    if rule.kind is RuleKind.ESCALATION_BACKLOG:
        frame = source.figure("queue_items_older_than", values)
        counts = dict(zip(frame["queue"].to_list(), frame["open_items"].to_list(), strict=True))
        queues: dict[str, float | None] = dict(rule.queues) or {WORKBENCH_QUEUE: rule.threshold}
        return [
            _sample(rule, (("queue", q),), float(counts.get(q, 0)), limit, counts.get(q, 0))
            for q, limit in sorted(queues.items())
        ]
    if rule.kind is RuleKind.SLA_BREACH_RATE:
        frame = source.figure("sla_breach_rate", {**values, "window_s": str(rule.window_s)})
        return _per_queue(rule, frame, "breach_rate", "due_items")
    if rule.kind is RuleKind.RETRY_RATE:
        frame = source.figure("retry_rate_window", {**values, "window_s": str(rule.window_s)})
        samples = _per_queue(rule, frame, "retry_rate", "attempts")
        if rule.baseline_s is None or rule.factor is None:
            return samples
        earlier = {
            **values,
            "at": as_param(at - timedelta(seconds=rule.window_s)),
            "window_s": str(rule.baseline_s),
        }
        base = source.figure("retry_rate_window", earlier)
        rates = dict(zip(base["queue"].to_list(), base["retry_rate"].to_list(), strict=True))
        return [
            s
            if not s.active
            else _sample(
                rule,
                s.labels,
                s.value,
                s.threshold,
                s.items,
                also=(s.value or 0.0) > rule.factor * float(rates.get(dict(s.labels)["queue"], 0)),
            )
            for s in samples
        ]
    if rule.kind is RuleKind.DEAD_MAN:
        frame = source.figure("last_telemetry", {**values, "service": rule.service})
        silent = frame["silent_s"][0] if frame.height else None
        # Without any log record of its own (heartbeats, clock ticks) the service was never
        # watched live: a quiet night in an imported log is not a dead orchestrator.
        if not frame.height or frame["last_record_ts"][0] is None:
            silent = None
        value = None if silent is None or math.isnan(silent) else float(silent)
        return [_sample(rule, (("service", rule.service),), value, rule.threshold, None)]
    raise AssertionError(rule.kind)


def _queue_aging(rule: Rule, source: FigureSource, values: dict[str, str]) -> list[Sample]:
    params = {**values, "older_than_s": str(rule.older_than_s or 0.0)}
    frame = source.figure("queue_items_older_than", params)
    column = "oldest_age_s" if rule.measure == "oldest_age" else "older_items"
    return _per_queue(rule, frame, column, "open_items")


def _per_queue(rule: Rule, frame: pl.DataFrame, column: str, items: str) -> list[Sample]:
    samples = []
    for row in frame.iter_rows(named=True):
        limit = rule.threshold_for(row["queue"])
        count = int(row[items] or 0)
        if limit is None or row["queue"] is None or count < rule.min_items:
            continue
        value = row[column]
        samples.append(
            _sample(
                rule,
                (("queue", row["queue"]),),
                None if value is None else float(value),
                limit,
                count,
            )
        )
    return samples


def _sample(
    rule: Rule,
    labels: tuple[tuple[str, str], ...],
    value: float | None,
    threshold: float | None,
    items: int | None,
    *,
    also: bool = True,
) -> Sample:
    active = value is not None and threshold is not None and value > threshold and also
    return Sample(rule.name, labels, value, threshold, active, items)
