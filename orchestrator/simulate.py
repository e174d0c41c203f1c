"""``baton simulate``: the sample clinic through the real engine, telemetry and shipper.

Spans go through the OpenTelemetry SDK's OTLP/HTTP exporter and events through the outbox
and Baton's shipper, exactly as in production; only the clock and the bots are simulated.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from opentelemetry.sdk.trace import TracerProvider

from baton.errors import ConfigError, UnreachableError
from baton.pseudonym import Pseudonymizer, load_key
from orchestrator.bots import BotRegistry
from orchestrator.clinic import CAPACITY, arrivals, clinic_bots, clinic_playbooks
from orchestrator.clock import VirtualClock
from orchestrator.config import SimulationSettings
from orchestrator.engine import Engine, EngineStats
from orchestrator.errors import StateError
from orchestrator.playbook import Playbook, validate
from orchestrator.scenarios import Scenario, scenario
from orchestrator.shipper import Shipper
from orchestrator.store import StateStore
from orchestrator.telemetry import SPAN_EXPORTERS, tracer_provider

Progress = Callable[[float, float], None]


@dataclasses.dataclass(frozen=True)
class SimulationReport:
    """What one simulation emitted and what reached the collector.

    ``attempts`` counts attempts started; ``attempts_finished`` those that ended before the
    horizon, each of which is one ``process`` span (a span is exported when it ends).
    """

    cases: int
    cases_closed: int
    handoffs: int
    attempts: int
    attempts_finished: int
    spans: int
    spans_sent: int
    events: int
    events_shipped: int
    events_pending: int
    retries: int
    escalations: int
    first_ts: datetime
    last_ts: datetime

    def summary(self) -> str:
        return (
            f"{self.cases} cases ({self.cases_closed} closed), {self.handoffs} handoffs, "
            f"{self.attempts} attempts, {self.spans_sent}/{self.spans} spans and "
            f"{self.events_shipped}/{self.events} events sent"
            + (
                f" ({self.events_pending} events kept for the next run)"
                if self.events_pending
                else ""
            )
        )


def check_collector(endpoint: str, timeout_s: float = 3.0) -> None:
    """Fail fast, with one clear line, when nothing answers at ``endpoint``."""
    try:
        requests.get(endpoint.rstrip("/") + "/healthz", timeout=timeout_s).raise_for_status()
    except requests.RequestException as exc:
        reason = type(exc).__name__ if not str(exc) else str(exc).split(":")[0]
        raise UnreachableError(
            f"collector unreachable at {endpoint} ({reason}); start one with "
            "'baton collector serve --db PATH'"
        ) from None


def _parse_start(text: str) -> datetime:
    try:
        start = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"start: {text!r} is not an ISO-8601 time") from None
    if start.tzinfo is None:
        raise ConfigError(f"start: {text!r} needs a UTC offset, e.g. {text}+00:00")
    return start


@contextlib.contextmanager
def _state_path(given: Path | None) -> Iterator[Path]:
    if given is not None:
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="baton-sim-") as tmp:
        yield Path(tmp) / "state.sqlite"


def _describe(run_id: str) -> str:
    try:
        run = json.loads(run_id)
    except ValueError:
        return "unreadable"
    return f"seed {run.get('seed')}, {run.get('days')} days from {run.get('start')}"


def _simulate(
    settings: SimulationSettings,
    start: datetime,
    world: Scenario,
    playbooks: list[Playbook],
    bots: BotRegistry,
    store: StateStore,
    clock: VirtualClock,
    provider: TracerProvider,
    progress: Progress | None,
) -> EngineStats:
    engine = Engine(
        playbooks,
        bots,
        store,
        clock,
        capacity=CAPACITY,
        seed=settings.seed,
        tracer=provider.get_tracer("baton.orchestrator"),
        workbench=world.workbench,
        pseudonymize=Pseudonymizer(load_key(settings.key_file)),
    )
    # Arrivals are generated lazily so a live run can go on past the backfill; the first
    # ``days`` of them do not depend on how far the generator is allowed to run.
    horizon = start + timedelta(days=settings.days)
    feed = _Feed(
        engine,
        arrivals(start, settings.days + (3650 if settings.live else 0), settings.per_weekday,
                 settings.seed),
    )  # fmt: skip
    # The clinic is observed at the horizon, like a real one today: items still on a
    # queue or with a bot stay open, so queue aging has something to show.
    day = 0
    while day < settings.days:
        day += 1
        until = min(start + timedelta(days=day), horizon)
        feed.until(until)
        engine.run(until=until)
        if progress:
            progress(min(day, settings.days), settings.days)
    clock.advance_to(horizon)
    if settings.live:
        _live(engine, feed, clock, store, settings.speed)
    return engine.stats


class _Feed:
    """Submits arrivals to the engine up to a moment, keeping the rest for later."""

    def __init__(self, engine: Engine, source: Iterator[tuple[datetime, str, dict[str, Any]]]):
        self.engine, self.source = engine, source
        self.pending = next(self.source, None)

    def until(self, moment: datetime) -> None:
        while self.pending is not None and self.pending[0] <= moment:
            self.engine.submit(*self.pending)
            self.pending = next(self.source, None)


def _live(
    engine: Engine, feed: _Feed, clock: VirtualClock, store: StateStore, speed: float
) -> None:
    """Go on in accelerated real time until Ctrl-C, publishing the virtual time."""
    if speed <= 0:
        raise ConfigError(f"speed must be positive, not {speed:g}")
    wall0, virtual0 = time.monotonic(), clock.now()
    try:
        while True:
            target = virtual0 + timedelta(seconds=(time.monotonic() - wall0) * speed)
            feed.until(target)
            engine.run(until=target)
            clock.advance_to(target)
            engine.publish_clock()
            store.commit()
            time.sleep(0.25)
    except KeyboardInterrupt:
        return


def run_simulation(
    settings: SimulationSettings, progress: Progress | None = None
) -> SimulationReport:
    """Simulate ``settings.days`` of the clinic and ship all telemetry to the collector."""
    if settings.days <= 0:
        raise ConfigError(f"days must be positive, not {settings.days:g}")
    if settings.span_exporter not in SPAN_EXPORTERS:
        raise ConfigError(
            f"span exporter must be one of {', '.join(SPAN_EXPORTERS)}, not "
            f"{settings.span_exporter!r}"
        )
    start = _parse_start(settings.start)
    world = scenario(settings.scenario, start)
    check_collector(settings.endpoint)
    playbooks = clinic_playbooks()
    bots = clinic_bots(settings.seed, world.outages)
    for playbook in playbooks:
        validate(playbook, bots=set(bots))
    key = load_key(settings.key_file)
    run_id = json.dumps(
        {
            "workflows": [p.workflow for p in playbooks],
            "scenario": settings.scenario,
            "days": settings.days,
            "seed": settings.seed,
            "per_weekday": settings.per_weekday,
            "start": start.isoformat(),
            "key": hashlib.sha256(key).hexdigest()[:16],
        },
        sort_keys=True,
    )
    with _state_path(settings.state) as state_path:
        store = StateStore(state_path)
        stored_run = store.get_meta("run")
        if stored_run is not None and stored_run != run_id:
            store.close()
            raise StateError(
                f"{state_path} holds a different simulation ({_describe(stored_run)}); "
                "run with the same arguments and key to resume it, or give a new --state"
            )
        finished = store.get_meta("finished") is not None
        store.set_meta("run", run_id)
        store.commit()
        provider, exporter = tracer_provider(settings.endpoint, exporter=settings.span_exporter)
        shipper = Shipper(state_path, settings.endpoint)
        shipper.start()
        clock = VirtualClock(start)
        if finished:
            stats = EngineStats(**json.loads(store.get_meta("stats") or "{}"))
            clock.advance_to(datetime.fromisoformat(store.get_meta("finished") or ""))
        else:
            # A killed run resumes by replaying the deterministic simulation from the start:
            # events the outbox already holds are skipped, spans are re-sent with the same
            # ids (the collector keeps one of each), so the result equals an unbroken run.
            stats = _simulate(
                settings, start, world, playbooks, bots, store, clock, provider, progress
            )
            store.set_meta("stats", json.dumps(dataclasses.asdict(stats)))
            store.set_meta("finished", clock.now().isoformat())
        store.close()
        provider.force_flush()
        provider.shutdown()
        shipper.stop()
        pending = shipper.drain()
        shipped = shipper.stats.shipped
        shipper.close()
    assert exporter is not None
    return SimulationReport(
        cases=stats.cases,
        cases_closed=stats.cases_closed,
        handoffs=stats.handoffs,
        attempts=stats.attempts,
        attempts_finished=stats.attempts_finished,
        spans=stats.handoffs + stats.attempts_finished,
        spans_sent=exporter.exported,
        events=stats.events,
        events_shipped=shipped,
        events_pending=pending,
        retries=stats.retries,
        escalations=stats.escalations,
        first_ts=start,
        last_ts=clock.now(),
    )
