"""Scenarios change the world, and the figures show it: a payer outage ages the
prior-authorization queue; live mode keeps the clinic moving past the backfill."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from mining import queue_summary
from orchestrator.config import DEFAULT_START
from orchestrator.scenarios import scenario

from ..conftest import baton_cmd, child_env

pytestmark = pytest.mark.slow


def simulate_into(start_collector, tmp_path: Path, name: str, *extra: str) -> Path:  # type: ignore[no-untyped-def]
    collector = start_collector(tmp_path / f"{name}.duckdb")
    result = subprocess.run(
        baton_cmd("simulate", "--days", "3", "--seed", "3", "--endpoint", collector.url,
                  "--json", *extra),
        capture_output=True, text=True, env=child_env(), cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    collector.stop()
    return collector.db


def oldest_prior_auth_wait(db: Path, at: datetime) -> float:
    con = duckdb.connect(str(db), read_only=True)
    frame = queue_summary(con, at=at)
    rows = frame.filter(frame["queue"] == "prior_auth")
    return float(rows["oldest_age_s"][0]) if rows.height else 0.0


def test_payer_outage_ages_the_prior_authorization_queue(start_collector, tmp_path: Path):
    normal = simulate_into(start_collector, tmp_path, "normal")
    outage = simulate_into(start_collector, tmp_path, "outage", "--scenario", "payer-outage")
    window = scenario("payer-outage", datetime.fromisoformat(DEFAULT_START)).outages[0]
    during = window.begin + timedelta(hours=8)
    hours = 3600.0
    assert oldest_prior_auth_wait(outage, during) > 3 * hours
    assert oldest_prior_auth_wait(normal, during) < oldest_prior_auth_wait(outage, during) / 2
    con = duckdb.connect(str(outage), read_only=True)
    escalated = con.execute(
        "SELECT count(*) FROM events WHERE lifecycle = 'escalated' AND payer = 'Summit Mutual'"
    ).fetchone()[0]
    assert escalated > 0


def test_live_mode_runs_past_the_backfill_and_publishes_its_clock(start_collector, tmp_path):
    collector = start_collector()
    proc = subprocess.Popen(
        baton_cmd("simulate", "--days", "1", "--live", "--speed", "7200", "--endpoint",
                  collector.url, "--json"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(), cwd=tmp_path,
    )  # fmt: skip
    time.sleep(12)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    report = json.loads(out)
    horizon = datetime.fromisoformat(DEFAULT_START) + timedelta(days=1)
    assert datetime.fromisoformat(report["last_ts"]) > horizon + timedelta(hours=1)
    collector.stop()
    con = duckdb.connect(str(collector.db), read_only=True)
    last_event = con.execute("SELECT max(ts) FROM events").fetchone()[0]
    assert last_event > horizon.replace(tzinfo=None)
    clocks = con.execute(
        "SELECT count(*), max(ts) FROM log_records WHERE event_name = 'baton.clock'"
    ).fetchone()
    assert clocks[0] > 3 and clocks[1] > horizon.replace(tzinfo=None)
