"""``baton alerts`` as a user runs it: JSON that parses, one ``error:`` line on bad input,
no pm4py banner, and the same answer through a running collector as from the file."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import baton_cmd, child_env

from .helpers import write_rules

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "alerts.yaml"
AT = "2026-03-03T16:30:00"


def baton(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(baton_cmd(*args), capture_output=True, text=True, env=child_env(),
                          cwd=cwd, timeout=120)  # fmt: skip


def assert_one_error_line(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.stderr


def test_check_json_parses_and_carries_no_banner(copy_of: Callable[[str], Path], tmp_path: Path):
    db = copy_of("outage")
    result = baton("alerts", "check", "--rules", str(EXAMPLE), "--db", str(db), "--at", AT,
                   "--json", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "pm4py" not in result.stdout.lower() and "license" not in result.stdout.lower()
    assert result.stderr == ""
    tick = json.loads(result.stdout)
    assert tick["now"] == AT
    states = {(a["rule"], a["labels"].get("queue")): a["state"] for a in tick["alerts"]}
    assert states[("prior-auth-aging", "prior_auth")] == "pending"  # for: 15m not yet over
    again = baton("alerts", "check", "--rules", str(EXAMPLE), "--db", str(db), "--at",
                  "2026-03-03T16:45:00", "--json", cwd=tmp_path)  # fmt: skip
    states = {(a["rule"], a["labels"].get("queue")): a["state"]
              for a in json.loads(again.stdout)["alerts"]}  # fmt: skip
    assert states[("prior-auth-aging", "prior_auth")] == "firing"  # state kept in the file


def test_backtest_json_and_text(imported: dict[str, Path], tmp_path: Path):
    result = baton("alerts", "backtest", "--rules", str(EXAMPLE), "--db",
                   str(imported["outage"]), "--since", "30d", "--step", "2h", "--json",
                   cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["step_s"] == 7200 and report["evaluations"] == 24
    assert "prior-auth-aging" in {e["rule"] for e in report["episodes"] if e["fired_at"]}
    text = baton("alerts", "backtest", "--rules", str(EXAMPLE), "--db",
                 str(imported["normal"]), "--step", "2h", cwd=tmp_path)  # fmt: skip
    assert text.returncode == 0 and "no rule would have fired" in text.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--db", "missing.duckdb"), "no DuckDB file at missing.duckdb"),
        ((), "give exactly one of --db PATH or --collector URL"),
        (("--db", "x.duckdb", "--collector", "http://127.0.0.1:1"), "exactly one of"),
        (("--collector", "http://127.0.0.1:1"), "unreachable"),
        (("--db", "x.duckdb", "--clock", "sundial"), "--clock must be wall or simulation"),
    ],
)
def test_check_bad_input_is_one_line(tmp_path: Path, args: tuple[str, ...], fragment: str):
    (tmp_path / "x.duckdb").write_bytes(b"")
    result = baton("alerts", "check", "--rules", str(EXAMPLE), *args, cwd=tmp_path)
    assert_one_error_line(result, fragment)


def test_a_bad_rules_file_is_one_line_with_file_and_line(imported, tmp_path: Path):
    rules = write_rules(tmp_path / "bad.yaml", """
        rules:
          - name: aging
            kind: queue_aging
            threshold: three hours
    """)  # fmt: skip
    result = baton("alerts", "backtest", "--rules", str(rules), "--db",
                   str(imported["normal"]), cwd=tmp_path)  # fmt: skip
    assert_one_error_line(result, f"{rules}:4: 'threshold': 'three hours' is not")
    served = baton("collector", "serve", "--db", str(tmp_path / "c.duckdb"), "--alerts",
                   str(rules), cwd=tmp_path)  # fmt: skip
    assert_one_error_line(served, f"{rules}:4:")


def test_check_through_a_running_collector(start_collector, copy_of, tmp_path: Path):
    db = copy_of("outage")
    collector = start_collector(db)
    held = baton("alerts", "check", "--rules", str(EXAMPLE), "--db", str(db), cwd=tmp_path)
    assert_one_error_line(held, "held by a running collector; use --collector URL")
    result = baton("alerts", "check", "--rules", str(EXAMPLE), "--collector", collector.url,
                   "--at", "2026-03-03T18:00:00", "--json", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    tick = json.loads(result.stdout)
    states = {(a["rule"], a["labels"].get("queue")): a["state"] for a in tick["alerts"]}
    # No state through a collector: a condition that holds shows as pending (for: 15m).
    assert states[("prior-auth-aging", "prior_auth")] == "pending"
