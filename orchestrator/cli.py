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
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Run the sample clinic and send its telemetry to the collector."""
    from orchestrator.config import load_simulation_settings
    from orchestrator.simulate import run_simulation

    settings = load_simulation_settings(
        days=days, seed=seed, endpoint=endpoint, state=state, per_weekday=per_weekday, start=start
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
