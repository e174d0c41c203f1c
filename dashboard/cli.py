"""``baton dashboard``: serve the Streamlit app in a child process.

Streamlit runs scripts, not functions, so the command starts ``streamlit run`` on
``app.py`` and hands the settings over through ``BATON_DASHBOARD_*`` variables, which the
app reads back with :func:`dashboard.config.load_settings`. It listens on loopback only:
the pages show pseudonymized operational data, and exposing them is a deliberate choice
made with a reverse proxy, not a default.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Final

import typer

from dashboard.config import DashboardSettings, load_settings
from dashboard.errors import SourceNotFound

#: The Streamlit script the command serves.
APP_PATH: Final = Path(__file__).resolve().parent / "app.py"
#: Settings handed to the child through the environment, by field name.
_ENV: Final = {
    "collector": "BATON_DASHBOARD_COLLECTOR",
    "db": "BATON_DASHBOARD_DB",
    "port": "BATON_DASHBOARD_PORT",
    "refresh_s": "BATON_DASHBOARD_REFRESH_S",
    "token": "BATON_DASHBOARD_TOKEN",
    "user_roles": "BATON_DASHBOARD_USER_ROLES",
    "orchestrator": "BATON_DASHBOARD_ORCHESTRATOR",
    "orchestrator_token": "BATON_DASHBOARD_ORCHESTRATOR_TOKEN",
    "playbooks": "BATON_DASHBOARD_PLAYBOOKS",
}


def streamlit_command(settings: DashboardSettings, *, headless: bool = True) -> list[str]:
    """The ``python -m streamlit run`` command line that serves ``settings``."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP_PATH),
        "--server.port",
        str(settings.port),
        "--server.headless",
        "true" if headless else "false",
        "--browser.gatherUsageStats",
        "false",
        "--server.address",
        "127.0.0.1",
        "--client.toolbarMode",
        "minimal",  # no "Deploy" button: this app is not for a public cloud
    ]


def child_environment(settings: DashboardSettings) -> dict[str, str]:
    """This process's environment with the dashboard's settings replacing any inherited ones."""
    env = {k: v for k, v in os.environ.items() if k not in _ENV.values()}
    for field, name in _ENV.items():
        value = getattr(settings, field)
        if value is not None:
            env[name] = str(value)
    return env


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_dashboard(settings: DashboardSettings, *, headless: bool = True) -> subprocess.Popen[bytes]:
    """Start the dashboard server and return its process; the caller waits or stops it."""
    return subprocess.Popen(
        streamlit_command(settings, headless=headless), env=child_environment(settings)
    )


def dashboard_command(
    collector: Annotated[
        str | None,
        typer.Option(help="Collector base URL to read figures from (default local collector)."),
    ] = None,
    db: Annotated[
        Path | None,
        typer.Option(help="DuckDB file to read offline instead of a collector."),
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to serve on (default 8501).")] = None,
    refresh: Annotated[
        int | None, typer.Option(help="Live mode: reload figures every N seconds (0: off).")
    ] = None,
    orchestrator: Annotated[
        str | None, typer.Option(help="Orchestrator API base URL, for the workbench page.")
    ] = None,
) -> None:
    """Serve the dashboard on http://127.0.0.1:PORT until Ctrl-C."""
    settings = load_settings(
        collector=collector, db=db, port=port, refresh_s=refresh, orchestrator=orchestrator
    )
    if settings.db is not None and not settings.db.is_file():
        raise SourceNotFound(f"--db {settings.db}: no such file")
    source = f"file {settings.db}" if settings.db is not None else f"collector {settings.collector}"
    typer.echo(f"Baton dashboard on http://127.0.0.1:{settings.port} reading {source}")
    process = run_dashboard(settings, headless=True)
    signal.signal(signal.SIGTERM, _interrupt)  # a stopped command stops its server too
    try:
        code = process.wait()
    except KeyboardInterrupt:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return
    if code:
        raise typer.Exit(code)
