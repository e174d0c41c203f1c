"""``baton dashboard``: the command line it runs and the one-line errors it gives."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from dashboard.cli import APP_PATH, child_environment, dashboard_command, run_dashboard
from dashboard.config import DashboardSettings
from dashboard.errors import SourceNotFound
from tests.conftest import free_port


def test_missing_db_file_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFound, match=r"^--db .*nope\.duckdb: no such file$"):
        dashboard_command(db=tmp_path / "nope.duckdb")


def test_child_environment_carries_only_the_chosen_source(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BATON_DASHBOARD_COLLECTOR", "http://stale:4318")
    env = child_environment(DashboardSettings(db=tmp_path / "x.duckdb", port=8600))
    assert env["BATON_DASHBOARD_DB"] == str(tmp_path / "x.duckdb")
    assert env["BATON_DASHBOARD_PORT"] == "8600"
    assert "BATON_DASHBOARD_COLLECTOR" not in env


@pytest.mark.slow
def test_run_dashboard_serves_the_app_on_loopback(events_db: Path) -> None:
    port = free_port()
    process = run_dashboard(DashboardSettings(db=events_db, port=port))
    try:
        assert isinstance(process.args, list)
        assert process.args[3:5] == ["run", str(APP_PATH)]
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "streamlit exited"
            try:
                health = requests.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                if health.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "streamlit did not come up"
            time.sleep(0.3)
        assert health.text == "ok"
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.slow
def test_stopping_the_command_stops_the_server(events_db: Path) -> None:
    """SIGTERM to ``baton dashboard`` must not leave an orphaned Streamlit server behind."""
    import signal
    import subprocess
    import sys

    port = free_port()
    command = subprocess.Popen(
        [sys.executable, "-m", "baton", "dashboard", "--db", str(events_db), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/_stcore/health"
    deadline = time.monotonic() + 60
    while True:
        assert command.poll() is None, "baton dashboard exited"
        try:
            if requests.get(url, timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, "streamlit did not come up"
        time.sleep(0.3)
    command.send_signal(signal.SIGTERM)
    command.wait(timeout=30)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
        except requests.ConnectionError:
            return
        time.sleep(0.3)
    pytest.fail("the Streamlit server still answers after baton dashboard was stopped")
