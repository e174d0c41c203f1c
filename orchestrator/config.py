"""Settings of the orchestrator and the clinic simulator (``BATON_SIMULATE_*``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from baton.settings import load

DEFAULT_ENDPOINT = "http://127.0.0.1:4318"
#: A Monday afternoon: with whole days simulated, the clinic is observed mid-afternoon
#: on a weekday, when its queues are busiest.
DEFAULT_START = "2026-03-02T14:30:00+00:00"


@dataclasses.dataclass(frozen=True)
class SimulationSettings:
    """How ``baton simulate`` runs the sample clinic.

    ``state`` is the SQLite state file (a temporary one when not given); ``key_file`` holds
    the pseudonym key when ``BATON_PSEUDONYM_KEY`` is not set.
    """

    endpoint: str = DEFAULT_ENDPOINT
    days: float = 14.0
    seed: int = 7
    per_weekday: float = 120.0
    start: str = DEFAULT_START
    state: Path | None = None
    key_file: Path = Path(".baton/pseudonym.key")


def load_simulation_settings(**overrides: Any) -> SimulationSettings:
    return load(SimulationSettings, "simulate", overrides)
