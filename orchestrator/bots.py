"""Bots: plain Python callables registered by name.

A bot receives a :class:`BotContext` and returns an outcome string (used for routing), or
raises :class:`~orchestrator.errors.BusinessException` (route, no retry) or
:class:`~orchestrator.errors.ApplicationException` (retry). Any other exception counts as an
application exception named after its class, so a crashing bot is retried, not fatal.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from orchestrator.clock import Clock

Bot = Callable[["BotContext"], str | None]


@dataclasses.dataclass
class BotContext:
    """What a bot may see of its work item.

    ``payload`` holds the identified details (name, member id) and stays inside the
    orchestrator: nothing a bot puts in its outcome leaves as telemetry except the outcome
    string itself, so bots must return codes, never identifiers.
    """

    case_id: str
    step: str
    attempt: int
    payer: str
    site: str
    priority: int
    payload: Mapping[str, Any]
    clock: Clock
    rng: random.Random
    elapsed_s: float = 0.0

    def elapse(self, seconds: float) -> None:
        """Spend ``seconds`` working: real sleep on a wall clock, virtual time in simulation."""
        self.elapsed_s += seconds
        self.clock.sleep(seconds)


@dataclasses.dataclass
class BotRegistry:
    """Bots by name, with the version each reports in telemetry."""

    bots: dict[str, Bot] = dataclasses.field(default_factory=dict)
    versions: dict[str, str] = dataclasses.field(default_factory=dict)

    def register(self, name: str, version: str = "1.0.0") -> Callable[[Bot], Bot]:
        """Decorator registering a bot under ``name``."""

        def decorate(func: Bot) -> Bot:
            self.bots[name] = func
            self.versions[name] = version
            return func

        return decorate

    def __getitem__(self, name: str) -> Bot:
        return self.bots[name]

    def __contains__(self, name: object) -> bool:
        return name in self.bots

    def __iter__(self) -> Iterator[str]:
        return iter(self.bots)

    def __len__(self) -> int:
        return len(self.bots)
