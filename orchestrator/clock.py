"""Clocks: wall time in production, virtual time in simulation.

Everything time-dependent in the orchestrator asks a clock, so a month of a clinic can run
in seconds with realistic timestamps.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """A source of "now" that may also be told to let time pass."""

    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class WallClock:
    """Real time (UTC)."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class VirtualClock:
    """Simulated time that moves only when told to.

    Example:
        >>> clock = VirtualClock(datetime(2026, 3, 2, tzinfo=UTC))
        >>> clock.sleep(90); clock.now().isoformat()
        '2026-03-02T00:01:30+00:00'
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a virtual clock starts at an aware (UTC) time")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def sleep(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    def advance_to(self, moment: datetime) -> None:
        """Jump to ``moment``; time never goes backwards."""
        if moment > self._now:
            self._now = moment


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ns(moment: datetime) -> int:
    """Nanoseconds since the epoch, exact to the microsecond, as OTLP carries time."""
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch."""
    return to_ns(moment) // 1000
