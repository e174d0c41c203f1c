"""``baton demo``: collector, a simulated clinic and the dashboard, on one machine, one command.

The collector and the dashboard run as child processes (the collector owns the DuckDB file;
the dashboard reads through it), the simulation runs here; Ctrl-C stops all of it.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
import webbrowser
from pathlib import Path
from typing import Annotated

import requests
import typer

from baton.errors import BatonError, UnreachableError

STATE_DIR = Path(".baton")


def _port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_http(url: str, proc: subprocess.Popen[bytes], what: str, timeout_s: float = 60) -> None:
    """Wait until ``url`` answers 200; fail early, with its output, if ``proc`` exits."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            output = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            last = output.strip().splitlines()[-1:] or ["(no output)"]
            raise BatonError(f"{what} exited with code {proc.returncode}: {last[0]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise UnreachableError(f"{what} did not answer at {url} within {timeout_s:.0f} s")


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def demo(
    days: Annotated[float, typer.Option(help="Simulated days of the clinic.")] = 14,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Do not open a browser.")
    ] = False,
    port: Annotated[int, typer.Option(help="Dashboard port.")] = 8501,
    collector_port: Annotated[int, typer.Option(help="Collector port.")] = 4318,
    seed: Annotated[int, typer.Option(help="Simulation seed.")] = 7,
) -> None:
    """Start the collector on .baton/baton.duckdb, simulate a clinic, serve the dashboard."""
    from dashboard.cli import run_dashboard
    from dashboard.config import load_settings as load_dashboard_settings
    from orchestrator.config import load_simulation_settings
    from orchestrator.simulate import run_simulation

    for name, number in (("collector", collector_port), ("dashboard", port)):
        if not _port_free(number):
            raise BatonError(f"port {number} for the {name} is in use; pick another with --help")
    signal.signal(signal.SIGTERM, _interrupt)
    STATE_DIR.mkdir(exist_ok=True)
    db = STATE_DIR / "baton.duckdb"
    collector_url = f"http://127.0.0.1:{collector_port}"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        collector = subprocess.Popen(
            [sys.executable, "-m", "baton", "collector", "serve", "--db", str(db),
             "--port", str(collector_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        procs.append(collector)
        wait_http(f"{collector_url}/healthz", collector, "the collector")
        typer.echo(f"collector: {collector_url} (db: {db})")
        settings = load_simulation_settings(
            days=days, seed=seed, endpoint=collector_url, key_file=STATE_DIR / "pseudonym.key"
        )
        report = run_simulation(settings)
        typer.echo(f"simulated: {report.summary()}")
        dashboard = run_dashboard(load_dashboard_settings(collector=collector_url, port=port))
        procs.append(dashboard)
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/_stcore/health", dashboard, "the dashboard")
        typer.echo(f"dashboard: {url}  (Ctrl-C stops the demo)", color=False)
        sys.stdout.flush()
        if not no_browser:
            webbrowser.open(url)
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        raise BatonError("a demo process stopped unexpectedly")
    except KeyboardInterrupt:
        typer.echo("stopping the demo")
    finally:
        _stop(procs)
