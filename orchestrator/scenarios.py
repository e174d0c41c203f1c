"""Scenarios of the clinic simulator: what goes wrong, and when.

A scenario changes the world, never the code under test: a payer's portal hangs, or the
workbench is short of staff, and the same orchestrator, telemetry and mining show the effect.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from baton.errors import ConfigError
from orchestrator.clinic import Outage
from orchestrator.engine import Workbench


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A named variation of the sample clinic."""

    name: str
    description: str
    outages: tuple[Outage, ...] = ()
    workbench: Workbench = dataclasses.field(default_factory=lambda: Workbench(staff=3))


def _next_weekday_morning(start: datetime, days_after: int) -> datetime:
    moment = (start + timedelta(days=days_after)).replace(hour=9, minute=0, second=0,
                                                          microsecond=0)  # fmt: skip
    while moment.weekday() >= 5:
        moment += timedelta(days=1)
    return moment


def scenario(name: str, start: datetime) -> Scenario:
    """The scenario called ``name`` for a simulation starting at ``start``."""
    if name == "normal":
        return Scenario("normal", "an ordinary stretch of weeks")
    if name == "payer-outage":
        begin = _next_weekday_morning(start, 1)
        return Scenario(
            "payer-outage",
            "Summit Mutual's portal hangs for 30 hours from the second weekday morning: "
            "eligibility and prior-authorization calls time out, retries exhaust, the "
            "prior-authorization queue ages and escalations pile up at the workbench",
            outages=(Outage("Summit Mutual", begin, begin + timedelta(hours=30)),),
        )
    if name == "staff-shortage":
        return Scenario(
            "staff-shortage",
            "one person at the workbench, 10:00 to 15:00: escalated items wait for days",
            workbench=Workbench(staff=1, open_hour=10, close_hour=15),
        )
    raise ConfigError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")


SCENARIOS = ("normal", "payer-outage", "staff-shortage")
