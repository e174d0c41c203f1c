"""Commands of the orchestrator: ``baton simulate`` and ``baton orchestrator ...``.

Heavy modules (the OpenTelemetry SDK, the engine) are imported inside the commands, so
``baton --help`` stays instant.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

app = typer.Typer(name="orchestrator", help="Run and check playbooks.", no_args_is_help=True)
err = Console(stderr=True)


def simulate(
    days: Annotated[float | None, typer.Option(help="Simulated days of arrivals.")] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed: the same seed gives the same run.")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="Collector URL (default http://127.0.0.1:4318).")
    ] = None,
    state: Annotated[
        Path | None, typer.Option(help="SQLite state file (default: a temporary one).")
    ] = None,
    per_weekday: Annotated[
        float | None, typer.Option(help="Referrals on an average weekday.")
    ] = None,
    start: Annotated[str | None, typer.Option(help="Simulated start time, ISO-8601 UTC.")] = None,
    scenario: Annotated[
        str | None, typer.Option(help="normal, payer-outage or staff-shortage.")
    ] = None,
    live: Annotated[
        bool, typer.Option("--live", help="Go on in accelerated real time after the backfill.")
    ] = False,
    speed: Annotated[
        float | None, typer.Option(help="With --live: simulated seconds per real second.")
    ] = None,
    span_exporter: Annotated[
        str | None, typer.Option(help="fast (Baton's) or otlp (the SDK's OTLP/HTTP exporter).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Run the sample clinic and send its telemetry to the collector."""
    from orchestrator.config import load_simulation_settings
    from orchestrator.simulate import run_simulation

    settings = load_simulation_settings(
        days=days, seed=seed, endpoint=endpoint, state=state, per_weekday=per_weekday,
        start=start, scenario=scenario, live=live or None, speed=speed,
        span_exporter=span_exporter,
    )  # fmt: skip
    if settings.live:
        typer.echo(
            f"backfilling {settings.days:g} days, then running live at {settings.speed:g}x; "
            "Ctrl-C stops",
            err=True,
        )
    with Progress(
        TextColumn("simulating"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} days"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=as_json or not err.is_terminal,
    ) as bar:
        task = bar.add_task("days", total=settings.days)
        report = run_simulation(settings, lambda done, total: bar.update(task, completed=done))
    if as_json:
        typer.echo(json.dumps(report.__dict__, default=str))
    else:
        typer.echo(report.summary())


@app.command("validate")
def validate_command(
    playbook: Annotated[Path, typer.Argument(help="Playbook YAML file.")],
) -> None:
    """Check a playbook; exit 0 when valid, or name the file, line and problem and exit 1."""
    from orchestrator.playbook import load_playbook

    result = load_playbook(playbook)
    typer.echo(f"{playbook}: ok ({result.workflow} v{result.version}, {len(result.steps)} steps)")


@app.command("run")
def run_command(
    playbooks: Annotated[Path, typer.Argument(help="Folder of playbook YAML files.")],
    state: Annotated[Path | None, typer.Option(help="SQLite state file.")] = None,
    endpoint: Annotated[str | None, typer.Option(help="Collector URL.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    api_port: Annotated[int | None, typer.Option(help="Port of the orchestrator API.")] = None,
    watch: Annotated[
        Path | None, typer.Option(help="Folder whose new *.json files start cases.")
    ] = None,
    bots: Annotated[str | None, typer.Option(help="Bot registry as module:attribute.")] = None,
) -> None:
    """Run workers, triggers and the API on PLAYBOOKS until Ctrl-C."""
    import signal
    import threading

    from orchestrator.config import load_orchestrator_settings
    from orchestrator.service import start_service

    settings = load_orchestrator_settings(
        state=state, endpoint=endpoint, workers=workers, api_port=api_port, watch=watch,
        bots=bots,
    )  # fmt: skip
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    service = start_service(settings, playbooks)
    where = f"token in {service.token_file}" if service.token_file else "token from settings"
    typer.echo(
        f"orchestrator running: {settings.workers} workers on {settings.state}, "
        f"API {service.api_url} ({where}); Ctrl-C stops it"
    )
    try:
        while not stopped.wait(0.5) and service.thread.is_alive():
            pass
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()
    typer.echo("orchestrator stopped")


workbench_app = typer.Typer(
    name="workbench", help="Escalated items waiting for a person.", no_args_is_help=True
)


def _workbench_runtime(state: Path | None, playbooks: Path | None):  # type: ignore[no-untyped-def]
    from baton.pseudonym import Pseudonymizer, load_key
    from orchestrator.config import load_orchestrator_settings
    from orchestrator.errors import StateError
    from orchestrator.runtime import Runtime
    from orchestrator.service import load_bots, load_playbooks
    from orchestrator.store import StateStore

    settings = load_orchestrator_settings(state=state)
    if not settings.state.exists():
        raise StateError(f"no state file at {settings.state}")
    store = StateStore(settings.state)
    folder = playbooks or Path(store.get_meta("playbooks") or "")
    if not str(folder):
        raise StateError("this state has no playbooks recorded; give --playbooks DIR")
    registry = load_bots(settings.bots)
    return Runtime(
        load_playbooks(folder, registry), registry, store, worker_id="workbench",
        pseudonymize=Pseudonymizer(load_key(settings.key_file)),
    )  # fmt: skip


@workbench_app.command("list")
def workbench_list(
    state: Annotated[Path | None, typer.Option(help="SQLite state file.")] = None,
    playbooks: Annotated[Path | None, typer.Option(help="Playbook folder.")] = None,
    identified: Annotated[
        bool, typer.Option("--identified", help="Show referral numbers and patient details.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List escalated items, oldest first within priority."""
    from datetime import UTC, datetime

    runtime = _workbench_runtime(state, playbooks)
    items = runtime.escalated()
    runtime.store.close()
    rows = []
    for item in items:
        row = {k: item[k] for k in ("item_id", "case_id", "workflow", "step", "attempt",
                                    "priority", "payer", "site")}  # fmt: skip
        row["escalated_at"] = datetime.fromtimestamp(item["enqueued_us"] / 1e6, UTC).isoformat()
        if identified:
            row["reference"], row["payload"] = item["reference"], item["payload"]
        rows.append(row)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    if not rows:
        typer.echo("no items waiting at the workbench")
    for row in rows:
        extra = f"  {row['reference']} {json.dumps(row['payload'])}" if identified else ""
        typer.echo(
            f"{row['item_id']}  {row['workflow']}/{row['step']}  attempt {row['attempt']}  "
            f"{row['payer']} @ {row['site']}  since {row['escalated_at']}{extra}"
        )


@workbench_app.command("resolve")
def workbench_resolve(
    item: Annotated[int, typer.Argument(help="Item id from 'baton workbench list'.")],
    outcome: Annotated[str, typer.Option(help="Outcome; routes the case like a bot's.")],
    by: Annotated[str, typer.Option(help="Who resolved it (stored as a pseudonym).")],
    state: Annotated[Path | None, typer.Option(help="SQLite state file.")] = None,
    playbooks: Annotated[Path | None, typer.Option(help="Playbook folder.")] = None,
) -> None:
    """Resolve an escalated item and resume its case."""
    runtime = _workbench_runtime(state, playbooks)
    try:
        runtime.resolve(item, outcome, by)
    finally:
        runtime.store.close()
    typer.echo(f"item {item} resolved: {outcome}")
