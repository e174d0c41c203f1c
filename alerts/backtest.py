"""Backtest: when would these rules have fired on past data?

The backtest runs the same evaluator as the collector, tick by tick, with a clock that steps
through the past and state kept in memory; nobody is notified. Each figure looks only at
events up to the tick's instant, so tick T sees what a live evaluation at T saw, and a
``baton alerts check --at T`` on the same file, run at the same instants, lands in the same
states (a test checks this).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from alerts.evaluator import Evaluator
from alerts.model import AlertState, Transition
from alerts.rules import RuleSet
from alerts.sources import FigureSource
from alerts.state import MemoryAlertStore

#: The most ticks one backtest runs; a longer range needs a coarser ``step``.
MAX_STEPS = 50_000


@dataclasses.dataclass
class _SteppingClock:
    at: datetime

    def now(self) -> datetime:
        return self.at


@dataclasses.dataclass(frozen=True)
class Episode:
    """One stretch during which an alert was pending and then (maybe) fired."""

    rule: str
    labels: dict[str, str]
    pending_at: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    peak_value: float | None
    summary: str

    def as_dict(self) -> dict[str, Any]:
        def iso(m: datetime | None) -> str | None:
            return m.isoformat() if m else None

        return {
            "rule": self.rule,
            "labels": self.labels,
            "pending_at": iso(self.pending_at),
            "fired_at": iso(self.fired_at),
            "resolved_at": iso(self.resolved_at),
            "peak_value": self.peak_value,
            "summary": self.summary,
        }


@dataclasses.dataclass(frozen=True)
class BacktestReport:
    """Every transition, and the episodes they make up, between ``start`` and ``end``."""

    start: datetime
    end: datetime
    step_s: float
    evaluations: int
    transitions: tuple[Transition, ...]
    episodes: tuple[Episode, ...]

    def fired(self, rule: str) -> list[Episode]:
        """The episodes of ``rule`` that reached firing."""
        return [e for e in self.episodes if e.rule == rule and e.fired_at is not None]


def instants(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """The ticks of a backtest: ``start``, ``start + step``, ... up to ``end`` inclusive.

    Example:
        >>> [t.hour for t in instants(datetime(2026, 3, 3, 9), datetime(2026, 3, 3, 11),
        ...                           timedelta(hours=1))]
        [9, 10, 11]
    """
    if step <= timedelta(0):
        raise ValueError("step must be positive")
    count = int((end - start) / step) + 1
    if count > MAX_STEPS:
        raise ValueError(f"{count} steps is too many (at most {MAX_STEPS}); use a larger step")
    return [start + i * step for i in range(max(count, 0))]


def backtest(
    rules: RuleSet,
    source: FigureSource,
    start: datetime,
    end: datetime,
    step: timedelta,
    progress: Callable[[int, int], None] | None = None,
) -> BacktestReport:
    """Evaluate ``rules`` at every instant from ``start`` to ``end``; nothing is sent."""
    ticks = instants(start, end, step)
    store = MemoryAlertStore()
    clock = _SteppingClock(start)
    evaluator = Evaluator(rules, source, store, clock)
    peaks: dict[str, float] = {}
    for i, moment in enumerate(ticks):
        clock.at = moment
        result = evaluator.tick()
        for alert in result.alerts.values():
            if alert.state in (AlertState.PENDING, AlertState.FIRING) and alert.value is not None:
                peaks[alert.key] = max(peaks.get(alert.key, alert.value), alert.value)
        if progress:
            progress(i + 1, len(ticks))
    return BacktestReport(
        start,
        end,
        step.total_seconds(),
        len(ticks),
        tuple(store.history),
        tuple(_episodes(store.history, peaks)),
    )


def _episodes(history: list[Transition], peaks: dict[str, float]) -> list[Episode]:
    open_: dict[str, dict[str, Any]] = {}
    done: list[Episode] = []

    def close(key: str, resolved: datetime | None) -> None:
        ep = open_.pop(key)
        done.append(
            Episode(
                ep["rule"],
                ep["labels"],
                ep["pending_at"],
                ep["fired_at"],
                resolved,
                peaks.get(key),
                ep["summary"],
            )
        )

    for t in history:
        if t.to_state is AlertState.PENDING:
            open_[t.key] = {
                "rule": t.rule,
                "labels": dict(t.labels),
                "pending_at": t.ts,
                "fired_at": None,
                "summary": t.summary,
            }
        elif t.to_state is AlertState.FIRING and t.key in open_:
            open_[t.key]["fired_at"], open_[t.key]["summary"] = t.ts, t.summary
        elif t.to_state is AlertState.FIRING:  # pending and firing in one tick (for: 0)
            open_[t.key] = {
                "rule": t.rule,
                "labels": dict(t.labels),
                "pending_at": t.ts,
                "fired_at": t.ts,
                "summary": t.summary,
            }
        elif t.to_state in (AlertState.RESOLVED, AlertState.NORMAL) and t.key in open_:
            close(t.key, t.ts if t.to_state is AlertState.RESOLVED else None)
    for key in list(open_):
        close(key, None)
    return sorted(done, key=lambda e: (e.pending_at, e.rule, sorted(e.labels.items())))
