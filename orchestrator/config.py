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
    the pseudonym key when ``BATON_PSEUDONYM_KEY`` is not set. ``span_exporter`` is ``fast``
    (Baton's span processor, the default) or ``otlp`` (the SDK's own batch processor and
    OTLP/HTTP exporter).
    """

    endpoint: str = DEFAULT_ENDPOINT
    days: float = 14.0
    seed: int = 7
    per_weekday: float = 120.0
    start: str = DEFAULT_START
    state: Path | None = None
    key_file: Path = Path(".baton/pseudonym.key")
    scenario: str = "normal"
    live: bool = False
    speed: float = 60.0
    span_exporter: str = "fast"


def load_simulation_settings(**overrides: Any) -> SimulationSettings:
    return load(SimulationSettings, "simulate", overrides)


@dataclasses.dataclass(frozen=True)
class OrchestratorSettings:
    """How ``baton orchestrator run`` and ``baton workbench`` reach their state and peers.

    ``token`` protects the orchestrator's HTTP API (case triggers, the workbench's identified
    view); when unset, a random one is written next to the state file on first run.
    ``bots`` names a ``module:attribute`` that is a bot registry or a function returning one.
    ``span_exporter`` is ``fast`` (Baton's span processor) or ``otlp`` (the SDK's batch
    processor and OTLP/HTTP exporter), as for ``baton simulate``.
    """

    state: Path = Path(".baton/orchestrator.sqlite")
    endpoint: str = DEFAULT_ENDPOINT
    workers: int = 2
    api_host: str = "127.0.0.1"
    api_port: int = 8600
    token: str | None = None
    watch: Path | None = None
    bots: str = "orchestrator.clinic:clinic_bots"
    lease_s: float = 300.0
    heartbeat_s: float = 10.0
    offline_after_s: float = 60.0
    poll_s: float = 0.2
    key_file: Path = Path(".baton/pseudonym.key")
    span_exporter: str = "fast"


def load_orchestrator_settings(**overrides: Any) -> OrchestratorSettings:
    settings = load(OrchestratorSettings, "orchestrator", overrides)
    if settings.workers < 1:
        from baton.errors import ConfigError

        raise ConfigError(f"workers must be at least 1, not {settings.workers}")
    return settings
