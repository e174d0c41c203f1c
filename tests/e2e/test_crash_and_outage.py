"""Durability with real processes: ``baton simulate`` killed with SIGKILL and resumed, and a
collector that goes away mid-run. Nothing may be lost or counted twice."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import duckdb
import pytest
import requests

from ..conftest import Collector, baton_cmd, child_env, free_port, wait_for

pytestmark = pytest.mark.slow

DAYS, SEED = "3", "5"


def simulate(url: str, state: Path, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        baton_cmd("simulate", "--days", DAYS, "--seed", SEED, "--endpoint", url,
                  "--state", str(state), "--json"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(), cwd=cwd,
    )  # fmt: skip


def start_collector(db: Path, cwd: Path, port: int | None = None) -> Collector:
    port = port or free_port()
    proc = subprocess.Popen(
        baton_cmd("collector", "serve", "--db", str(db), "--port", str(port)),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=child_env(), cwd=cwd,
    )  # fmt: skip
    collector = Collector(f"http://127.0.0.1:{port}", db, proc)
    wait_for(f"{collector.url}/healthz", proc)
    return collector


def finish(proc: subprocess.Popen[str]) -> dict[str, object]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return dict(json.loads(out))


def stored(db: Path) -> dict[str, object]:
    con = duckdb.connect(str(db), read_only=True)
    events = con.execute("SELECT event_id FROM events").fetchall()
    spans = con.execute("SELECT trace_id, span_id FROM spans").fetchall()
    completions = con.execute(
        "SELECT case_id, count(*) FROM events WHERE lifecycle = 'completed'"
        " AND activity = 'submit_claim' GROUP BY case_id"
    ).fetchall()
    con.close()
    return {
        "events": [r[0] for r in events],
        "spans": [tuple(r) for r in spans],
        "completions": dict(completions),
    }


def outbox_size(state: Path) -> int:
    if not state.exists():
        return 0
    try:
        con = sqlite3.connect(state, timeout=1)
        try:
            return int(con.execute("SELECT count(*) FROM outbox").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def closed_cases(state: Path) -> set[str]:
    con = sqlite3.connect(state)
    rows = con.execute("SELECT case_id FROM cases WHERE status = 'closed'").fetchall()
    con.close()
    return {r[0] for r in rows}


def test_sigkilled_simulation_resumes_to_the_same_result(tmp_path: Path):
    reference = start_collector(tmp_path / "reference.duckdb", tmp_path)
    try:
        expected_report = finish(simulate(reference.url, tmp_path / "reference.sqlite", tmp_path))
    finally:
        reference.stop()
    expected = stored(reference.db)

    crashed = start_collector(tmp_path / "crashed.duckdb", tmp_path)
    state = tmp_path / "crashed.sqlite"
    rng = random.Random(20261122)
    total = len(expected["events"])
    kills = 0
    try:
        for round_ in range(4):
            proc = simulate(crashed.url, state, tmp_path)
            # Kill at a random point of the run, measured in events written, not in seconds,
            # so a fast or a loaded machine both crash it mid-way.
            threshold = int(total * rng.uniform(0.1 + 0.2 * round_, 0.25 + 0.2 * round_))
            while proc.poll() is None and outbox_size(state) < threshold:
                time.sleep(0.02)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait()
        report = finish(simulate(crashed.url, state, tmp_path))
    finally:
        crashed.stop()
    assert kills >= 3, "the simulation finished before it could be killed"
    got = stored(crashed.db)

    assert len(got["events"]) == len(set(got["events"])), "an event was stored twice"
    assert set(got["events"]) == set(expected["events"])
    assert len(got["spans"]) == len(set(got["spans"]))
    assert set(got["spans"]) == set(expected["spans"])
    assert got["completions"] == expected["completions"]
    assert set(got["completions"].values()) == {1}
    assert closed_cases(state) == closed_cases(tmp_path / "reference.sqlite")
    for key in ("cases", "cases_closed", "handoffs", "events"):
        assert report[key] == expected_report[key]


def _stored_events(url: str) -> int:
    try:
        return int(requests.get(f"{url}/api/v1/stats", timeout=5).json()["events"])
    except requests.RequestException:
        return 0


def test_events_survive_a_collector_outage(tmp_path: Path):
    port = free_port()
    db = tmp_path / "baton.duckdb"
    collector = start_collector(db, tmp_path, port)
    state = tmp_path / "state.sqlite"
    proc = simulate(collector.url, state, tmp_path)
    # Kill the collector mid-run: once it holds some events, however long the start took.
    deadline = time.monotonic() + 180
    while _stored_events(collector.url) == 0:
        assert proc.poll() is None, "the simulation ended before the collector got anything"
        assert time.monotonic() < deadline, "the collector got no events in 180 s"
        time.sleep(0.1)
    collector.proc.send_signal(signal.SIGKILL)
    collector.proc.wait()
    time.sleep(4)
    restarted = start_collector(db, tmp_path, port)
    try:
        report = finish(proc)
    finally:
        restarted.stop()
    assert report["events_pending"] == 0
    got = stored(db)
    outbox = sqlite3.connect(state)
    sent = {r[0] for r in outbox.execute("SELECT event_id FROM outbox")}
    assert len(got["events"]) == len(set(got["events"])) == report["events"] == len(sent)
    assert set(got["events"]) == sent
