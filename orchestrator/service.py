"""``baton orchestrator run``: workers, triggers, the API and the shipper, until stopped.

Workers are separate processes sharing the state file (a killed one loses nothing: its
leases expire and the reaper puts its items back); this process runs the API, the folder
watcher, the scheduler, the reaper and the event shipper.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import multiprocessing as mp
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn

from baton.errors import ConfigError
from baton.pseudonym import Pseudonymizer, load_key
from orchestrator.api import create_api
from orchestrator.bots import BotRegistry
from orchestrator.config import OrchestratorSettings
from orchestrator.errors import PlaybookError
from orchestrator.playbook import Playbook, load_playbook, validate
from orchestrator.runtime import Runtime
from orchestrator.shipper import Shipper
from orchestrator.store import StateStore
from orchestrator.telemetry import tracer_provider
from orchestrator.triggers import FolderWatcher, Scheduler, load_schedules

log = logging.getLogger(__name__)

TRIGGERS_FILE = "triggers.yaml"


def load_bots(spec: str) -> BotRegistry:
    """The bot registry named by ``module:attribute`` (a registry or a function making one)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"bots: {spec!r} must look like 'package.module:attribute'")
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"bots: cannot load {spec!r}: {exc}") from None
    registry = target() if callable(target) and not isinstance(target, BotRegistry) else target
    if not isinstance(registry, BotRegistry):
        raise ConfigError(f"bots: {spec!r} is not a bot registry")
    return registry


def load_playbooks(folder: Path, bots: BotRegistry) -> list[Playbook]:
    """Every playbook in ``folder`` (``*.yaml``/``*.yml`` but ``triggers.yaml``), validated."""
    if not folder.is_dir():
        raise PlaybookError("no such playbook folder", folder)
    files = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml"))
    playbooks = [load_playbook(p) for p in files if p.name != TRIGGERS_FILE]
    if not playbooks:
        raise PlaybookError("holds no playbook (*.yaml)", folder)
    seen: dict[str, str] = {}
    for playbook in playbooks:
        validate(playbook, bots=set(bots))
        if playbook.workflow in seen:
            raise PlaybookError(
                f"workflow {playbook.workflow!r} is also defined in {seen[playbook.workflow]}",
                playbook.path,
            )
        seen[playbook.workflow] = str(playbook.path)
    return playbooks


def api_token(settings: OrchestratorSettings) -> tuple[str, Path | None]:
    """The API token from settings, else the one kept (or created) beside the state file."""
    if settings.token:
        return settings.token, None
    path = settings.state.parent / "api.token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32) + "\n")
        path.chmod(0o600)
    return path.read_text().strip(), path


def _runtime(settings: OrchestratorSettings, playbook_dir: Path, worker_id: str,
             tracer: Any) -> Runtime:  # fmt: skip
    bots = load_bots(settings.bots)
    return Runtime(
        load_playbooks(playbook_dir, bots),
        bots,
        StateStore(settings.state),
        worker_id=worker_id,
        pseudonymize=Pseudonymizer(load_key(settings.key_file)),
        tracer=tracer,
        lease_s=settings.lease_s,
    )


def worker_main(settings: OrchestratorSettings, playbook_dir: Path, worker_id: str,
                stop: Any) -> None:  # fmt: skip
    """One worker process: lease, run, record, until ``stop`` is set or its parent dies.

    Heartbeats come from a thread with its own connection, so a bot that works for minutes
    does not make its worker look dead (which would hand its items to another worker).
    ``stop`` is a raw shared flag, not a ``multiprocessing.Event``: a worker killed while
    waiting on an Event leaves its lock taken and the next ``set()`` hangs forever.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop
    parent = os.getppid()

    def stopping() -> bool:
        return bool(stop.value) or os.getppid() != parent

    # Each incarnation gets its own id: a restarted worker must not keep a dead one's
    # heartbeat fresh, or the dead one's leases would never be reclaimed.
    worker_id = f"{worker_id}.{os.getpid()}"
    provider, _ = tracer_provider(settings.endpoint, exporter=settings.span_exporter)
    runtime = _runtime(settings, playbook_dir, worker_id, provider.get_tracer(__name__))
    beats = _runtime(settings, playbook_dir, worker_id, provider.get_tracer(__name__))

    def beat() -> None:
        while not stopping():
            beats.heartbeat()
            time.sleep(settings.heartbeat_s)

    threading.Thread(target=beat, name="baton-heartbeat", daemon=True).start()
    try:
        while not stopping():
            if not runtime.work_once():
                time.sleep(settings.poll_s)
    finally:
        provider.shutdown()
        runtime.store.close()


@dataclasses.dataclass
class Service:
    """A running orchestrator; :meth:`stop` ends it cleanly."""

    settings: OrchestratorSettings
    token: str
    token_file: Path | None
    api_url: str
    stop_event: threading.Event
    thread: threading.Thread

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=60)


def start_service(
    settings: OrchestratorSettings,
    playbook_dir: Path,
    on_ready: Callable[[Service], None] | None = None,
) -> Service:
    """Start everything in the background and return once the API answers."""
    bots = load_bots(settings.bots)
    load_playbooks(playbook_dir, bots)  # fail fast, in the caller, on a bad playbook
    token, token_file = api_token(settings)
    stop = threading.Event()
    ready = threading.Event()
    errors: list[BaseException] = []
    service = Service(
        settings, token, token_file, f"http://{settings.api_host}:{settings.api_port}", stop,
        threading.Thread(),
    )  # fmt: skip

    def main() -> None:
        try:
            _serve(settings, playbook_dir, token, stop, ready)
        except BaseException as exc:  # reported to the caller, not lost in a thread
            errors.append(exc)
            ready.set()

    service.thread = threading.Thread(target=main, name="baton-orchestrator", daemon=True)
    service.thread.start()
    ready.wait()
    if errors:
        raise errors[0]
    if on_ready:
        on_ready(service)
    return service


def _serve(settings: OrchestratorSettings, playbook_dir: Path, token: str,
           stop: threading.Event, ready: threading.Event) -> None:  # fmt: skip
    provider, _ = tracer_provider(settings.endpoint, exporter=settings.span_exporter)
    runtime = _runtime(settings, playbook_dir, "orchestrator", provider.get_tracer(__name__))
    runtime.store.set_meta("playbooks", str(playbook_dir.resolve()))
    runtime.store.commit()
    api_runtime = _runtime(
        settings, playbook_dir, "orchestrator-api", provider.get_tracer(__name__)
    )
    shipper = Shipper(settings.state, settings.endpoint)
    shipper.start()
    server = uvicorn.Server(
        uvicorn.Config(
            create_api(api_runtime, token), host=settings.api_host, port=settings.api_port,
            log_level="warning", lifespan="off",
        )
    )  # fmt: skip
    api_thread = threading.Thread(target=server.run, name="baton-api", daemon=True)
    api_thread.start()
    ctx = mp.get_context("spawn")
    worker_stop = ctx.RawValue("b", 0)
    workers = [
        ctx.Process(
            target=worker_main, args=(settings, playbook_dir, f"worker-{i + 1}", worker_stop),
            name=f"baton-worker-{i + 1}",
        )
        for i in range(settings.workers)
    ]  # fmt: skip
    for worker in workers:
        worker.start()
    default_workflow = next(iter(runtime.playbooks))
    watcher = (
        FolderWatcher(settings.watch, runtime.start_case, default_workflow)
        if settings.watch
        else None
    )
    triggers = playbook_dir / "triggers.yaml"
    scheduler = Scheduler(
        load_schedules(triggers) if triggers.exists() else [], runtime.start_case,
        datetime.now(UTC),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not server.started and api_thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not server.started:
            raise ConfigError(
                f"the orchestrator API could not listen on {settings.api_host}:{settings.api_port}"
            )
        ready.set()
        last_reap = 0.0
        while not stop.is_set():
            if watcher:
                watcher.poll()
            scheduler.tick(datetime.now(UTC))
            if time.monotonic() - last_reap >= settings.heartbeat_s:
                runtime.reap(settings.offline_after_s)
                last_reap = time.monotonic()
            for i, worker in enumerate(workers):
                if not worker.is_alive() and not stop.is_set():
                    log.warning("worker %s exited (%s); starting it again", worker.name,
                                worker.exitcode)  # fmt: skip
                    workers[i] = ctx.Process(target=worker_main, name=worker.name, args=(
                        settings, playbook_dir, f"worker-{i + 1}", worker_stop))  # fmt: skip
                    workers[i].start()
            stop.wait(max(settings.poll_s, 0.05))
    finally:
        worker_stop.value = 1
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
        server.should_exit = True
        api_thread.join(timeout=10)
        provider.shutdown()
        shipper.stop()
        shipper.drain(deadline_s=10)
        shipper.close()
        runtime.store.close()
        api_runtime.store.close()
