"""The whole path, live: a payer outage in the simulator ages the prior-authorization queue;
the collector's evaluator (on the simulator's published clock) pages a real webhook receiver
and a real SMTP server once, survives a restart without paging again, and says once that it
is over."""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import requests

from mining.alert_figures import queue_items_older_than
from tests.conftest import baton_cmd, child_env, free_port, wait_for

from .helpers import write_rules
from .receivers import SmtpReceiver, WebhookReceiver

pytestmark = pytest.mark.slow

#: Wall seconds between evaluations, and simulated seconds per wall second.
INTERVAL_S = 1.0
SPEED = 4000
THRESHOLD_S = 3 * 3600.0


def start_collector(db: Path, port: int, rules: Path, cwd: Path) -> subprocess.Popen[bytes]:
    env = child_env(
        BATON_COLLECTOR_ALERTS_RULES=str(rules),
        BATON_COLLECTOR_ALERTS_INTERVAL_S=str(INTERVAL_S),
        BATON_COLLECTOR_ALERTS_CLOCK="simulation",
        BATON_COLLECTOR_DECODE_WORKERS="0",
    )
    proc = subprocess.Popen(
        baton_cmd("collector", "serve", "--db", str(db), "--port", str(port)),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd,
    )  # fmt: skip
    wait_for(f"http://127.0.0.1:{port}/healthz", proc)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def published_now(url: str) -> datetime | None:
    """The simulator's "now" as the collector has it (None while unknown or unreachable)."""
    try:
        rows = requests.get(f"{url}/api/v1/figures/published_clock",
                            params={"format": "json"}, timeout=5).json()  # fmt: skip
    except (requests.RequestException, ValueError):
        return None
    return datetime.fromisoformat(rows[0]["now"]) if rows and rows[0]["now"] else None


def first_crossing(db: Path, seen: list[tuple[float, datetime]], fired: datetime) -> float:
    """When (wall time) the collector's data first showed prior_auth past the threshold.

    ``seen`` pairs each wall time with the simulator's "now" the collector had then. Events
    travel in the same ordered outbox as the clock records, so the stored data as of a
    published instant is what the collector held when it published it: the first such
    instant at which the queue is past the threshold is the crossing.
    """
    con = duckdb.connect(str(db), read_only=True)
    try:
        for wall, virtual in seen:
            if fired - timedelta(hours=3) <= virtual <= fired:
                frame = queue_items_older_than(con, at=virtual)
                ages = frame.filter(frame["queue"] == "prior_auth")["oldest_age_s"].to_list()
                if ages and ages[0] > THRESHOLD_S:
                    return wall
    finally:
        con.close()
    raise AssertionError(f"no published instant before {fired} shows the crossing")


def test_payer_outage_pages_once_survives_a_restart_and_resolves_once(tmp_path: Path):
    with WebhookReceiver() as hook, SmtpReceiver() as smtp:
        rules = write_rules(tmp_path / "alerts.yaml", f"""
            repeat_interval: 30d
            receivers:
              - {{name: hook, webhook: {{url: "{hook.url}"}}}}
              - {{name: mail, email: {{host: 127.0.0.1, port: {smtp.port},
                  from: baton@clinic.example, to: [ops@clinic.example]}}}}
            rules:
              - name: prior-auth-aging
                kind: queue_aging
                queues: {{prior_auth: {THRESHOLD_S:g}}}
                severity: page
                labels: {{team: authorizations}}
                summary: "{{queue}}: oldest item waiting {{value_human}}"
        """)  # fmt: skip
        db, port = tmp_path / "baton.duckdb", free_port()
        url = f"http://127.0.0.1:{port}"
        collector = start_collector(db, port, rules, tmp_path)
        simulator = subprocess.Popen(
            baton_cmd("simulate", "--scenario", "payer-outage", "--live", "--speed",
                      str(SPEED), "--days", "0.5", "--seed", "3",
                      "--start", "2026-03-02T20:00:00+00:00", "--endpoint", url,
                      "--state", str(tmp_path / "state.sqlite")),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=child_env(), cwd=tmp_path,
        )  # fmt: skip
        try:
            began, seen = time.monotonic(), []
            while time.monotonic() - began < 60 and len(hook.received) < 1:
                virtual = published_now(url)
                if virtual is not None and (not seen or virtual > seen[-1][1]):
                    seen.append((time.monotonic(), virtual))
                time.sleep(0.05)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not smtp.received:
                time.sleep(0.1)
            assert hook.statuses() == ["firing"] and len(smtp.received) == 1
            fired_at = datetime.fromisoformat(hook.received[0][1]["alerts"][0]["startsAt"][:-1])

            # Restart the collector while the alert fires: nothing is sent again.
            stop(collector)
            crossed = first_crossing(db, seen, fired_at)
            for arrived in (hook.received[0][0], smtp.received[0][0]):
                # The lower bound allows for the test's own polling lag (it may see a
                # published instant a moment after the collector did).
                assert -1.0 < arrived - crossed <= 2 * INTERVAL_S, arrived - crossed
            collector = start_collector(db, port, rules, tmp_path)
            time.sleep(4 * INTERVAL_S)
            assert hook.statuses() == ["firing"] and len(smtp.received) == 1

            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(hook.received) < 2:
                time.sleep(0.2)
            time.sleep(3 * INTERVAL_S)  # a few more ticks: still nothing twice
            assert hook.statuses() == ["firing", "resolved"]
            assert [s.split("]")[0] for s in smtp.subjects()] == ["[FIRING:1", "[RESOLVED:1"]
        finally:
            simulator.send_signal(signal.SIGINT)
            try:
                simulator.wait(timeout=60)
            except subprocess.TimeoutExpired:
                simulator.kill()
            stop(collector)

    firing, resolved = hook.received[0][1], hook.received[1][1]
    assert firing["version"] == "4" and firing["groupLabels"] == {"alertname": "prior-auth-aging"}
    alert = firing["alerts"][0]
    assert alert["labels"] == {"alertname": "prior-auth-aging", "queue": "prior_auth",
                               "severity": "page", "team": "authorizations"}  # fmt: skip
    assert float(alert["annotations"]["value"]) > THRESHOLD_S
    assert resolved["alerts"][0]["fingerprint"] == alert["fingerprint"]
    assert resolved["alerts"][0]["endsAt"] > alert["startsAt"]
    # No case id (nor trace id derived from one) in anything sent.
    con = duckdb.connect(str(db), read_only=True)
    cases = [r[0] for r in con.execute("SELECT DISTINCT case_id FROM events").fetchall()]
    traces = [r[0] for r in con.execute("SELECT DISTINCT trace_id FROM events").fetchall()]
    history = con.execute("SELECT to_state FROM alert_history ORDER BY ts").fetchall()
    con.close()
    assert len(cases) > 50
    sent = " ".join([str(b) for _, b in hook.received] + [m.as_string() for _, m in smtp.received])
    assert not [c for c in cases + traces if c and c in sent]
    assert [h[0] for h in history] == ["firing", "resolved"]
