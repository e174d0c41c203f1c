"""The ``baton`` console script as a user meets it: one-line errors, no tracebacks, no banner."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ..conftest import baton_cmd, child_env, free_port


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        baton_cmd(*args), capture_output=True, text=True, env=child_env(), cwd=cwd, timeout=120
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0]


def test_missing_playbook_file(tmp_path: Path):
    result = run("orchestrator", "validate", "missing.yaml", cwd=tmp_path)
    assert_one_line_error(result, "missing.yaml", "no such file")


def test_invalid_playbook_names_file_and_line(tmp_path: Path):
    (tmp_path / "bad.yaml").write_text(
        "workflow: x\nsteps:\n  - name: a\n    bot: b\n    next: zz\n"
    )
    result = run("orchestrator", "validate", "bad.yaml", cwd=tmp_path)
    assert_one_line_error(result, "bad.yaml:3:", "unknown step 'zz'")


def test_valid_playbook(tmp_path: Path):
    from orchestrator.clinic import REFERRAL_PLAYBOOK

    result = run("orchestrator", "validate", str(REFERRAL_PLAYBOOK), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ok (referral v2, 2 steps)" in result.stdout


def test_unknown_scenario(tmp_path: Path):
    result = run(
        "simulate", "--scenario", "meteor", "--endpoint", "http://127.0.0.1:9", cwd=tmp_path
    )
    assert_one_line_error(result, "unknown scenario 'meteor'", "payer-outage")


def test_unreachable_collector(tmp_path: Path):
    url = f"http://127.0.0.1:{free_port()}"
    result = run("simulate", "--days", "1", "--endpoint", url, cwd=tmp_path)
    assert_one_line_error(result, "collector unreachable at", url)


def test_dashboard_on_a_missing_database(tmp_path: Path):
    result = run("dashboard", "--db", "nowhere.duckdb", cwd=tmp_path)
    assert_one_line_error(result, "nowhere.duckdb")


@pytest.mark.parametrize("days", ["0", "-3"])
def test_non_positive_days(tmp_path: Path, days: str):
    result = run("simulate", "--days", days, "--endpoint", "http://127.0.0.1:9", cwd=tmp_path)
    assert_one_line_error(result, "days must be positive")


def test_bad_setting_in_the_environment(tmp_path: Path):
    result = subprocess.run(
        baton_cmd("simulate", "--days", "1"),
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
        env=child_env(BATON_SIMULATE_SEED="seven"),
    )  # fmt: skip
    assert_one_line_error(result, "seed", "'seven'")


def test_help_lists_the_commands_and_prints_no_licence_banner(tmp_path: Path):
    result = run("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("collector", "simulate", "dashboard", "demo", "orchestrator"):
        assert command in result.stdout
    assert "pm4py" not in (result.stdout + result.stderr).lower()
    assert "affero" not in (result.stdout + result.stderr).lower()


def test_demo_refuses_a_busy_port(tmp_path: Path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        result = run("demo", "--no-browser", "--collector-port", str(busy), cwd=tmp_path)
    assert_one_line_error(result, f"port {busy}", "in use")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("simulate", "--days", "abc"), "Invalid value for '--days'"),
        (("nosuchcommand",), "No such command"),
    ],
)
def test_usage_errors_show_usage_not_a_traceback(
    tmp_path: Path, args: tuple[str, ...], fragment: str
):
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert fragment in result.stderr and "Usage:" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
