"""Where the evaluator's "now" comes from: the wall, the simulator, or a chosen instant.

Every decision the evaluator makes (how old an item is, whether ``for`` has passed, when a
silence expires) uses this one clock, so a simulated month behaves like a real one and a
backtest at instant T sees exactly what a live evaluation at T saw.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from alerts.errors import ClockUnavailable
from alerts.sources import FigureSource


class ClockKind(StrEnum):
    """The clock a running evaluator uses (setting ``alerts_clock``)."""

    WALL = "wall"
    """Real time: production."""
    SIMULATION = "simulation"
    """The newest ``baton.clock`` record the collector stored (``baton simulate --live``)."""


class Clock(Protocol):
    """Tells the evaluator what time it is, as naive UTC."""

    def now(self) -> datetime: ...


class WallClock:
    """Real time."""

    def now(self) -> datetime:
        return datetime.now(UTC).replace(tzinfo=None)


@dataclasses.dataclass(frozen=True)
class FixedClock:
    """Always the same instant: ``check --at`` and each step of a backtest.

    Example:
        >>> FixedClock(datetime(2026, 3, 3, 9, 0, tzinfo=UTC)).now()
        datetime.datetime(2026, 3, 3, 9, 0)
    """

    at: datetime

    def now(self) -> datetime:
        if self.at.tzinfo is not None:
            return self.at.astimezone(UTC).replace(tzinfo=None)
        return self.at


@dataclasses.dataclass(frozen=True)
class PublishedClock:
    """The simulator's virtual time, read through the same source as the figures."""

    source: FigureSource

    def now(self) -> datetime:
        frame = self.source.figure("published_clock", {})
        value = frame["now"][0] if frame.height else None
        if value is None:
            raise ClockUnavailable("no simulator has published its clock (baton.clock) yet")
        return value  # type: ignore[no-any-return]


def make_clock(kind: ClockKind | str, source: FigureSource) -> Clock:
    """The clock ``kind`` names, reading the simulator's time from ``source`` if asked."""
    if ClockKind(kind) is ClockKind.SIMULATION:
        return PublishedClock(source)
    return WallClock()
