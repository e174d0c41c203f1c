"""The whole path, live: a payer outage in the simulator ages the prior-authorization queue;
the collector's evaluator (on the simulator's published clock) pages a real webhook receiver
and a real SMTP server once, survives a restart without paging again, and says once that it
is over."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import duckdb
import pytest
import requests

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


def oldest_prior_auth(url: str) -> float | None:
    """What the collector itself says, at the simulator's "now"; None while unknown."""
    try:
        clock = requests.get(f"{url}/api/v1/figures/published_clock",
                             params={"format": "json"}, timeout=5).json()  # fmt: skip
        if not clock or clock[0]["now"] is None:
            return None
        rows = requests.get(
            f"{url}/api/v1/figures/queue_items_older_than",
            params={"format": "json", "at": clock[0]["now"]}, timeout=5,
        ).json()  # fmt: skip
    except (requests.RequestException, ValueError):
        return None
    ages = [r["oldest_age_s"] for r in rows if r["queue"] == "prior_auth"]
    return float(ages[0]) if ages else 0.0


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
            began = time.monotonic()
            crossed = None
            while time.monotonic() - began < 60 and len(hook.received) < 1:
                age = oldest_prior_auth(url)
                if crossed is None and age is not None and age > THRESHOLD_S:
                    crossed = time.monotonic()
                time.sleep(0.2)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not smtp.received:
                time.sleep(0.1)
            assert crossed is not None, "the outage never aged prior_auth past the threshold"
            assert hook.statuses() == ["firing"] and len(smtp.received) == 1
            for arrived in (hook.received[0][0], smtp.received[0][0]):
                assert -1.5 < arrived - crossed <= 2 * INTERVAL_S, arrived - crossed

            # Restart the collector while the alert fires: nothing is sent again.
            stop(collector)
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
