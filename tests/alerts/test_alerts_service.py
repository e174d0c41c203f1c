"""The evaluator inside a real collector on the wall clock: inhibition shown in its state,
the alerts routes behind the query API's roles, silences created and expired over HTTP."""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import requests

from collector.store import Store
from tests.conftest import baton_cmd, child_env, free_port, wait_for

from .helpers import H, Log, M, write_rules

VIEWER, ANALYST = "viewer-token-0001", "analyst-token-0001"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_alerts_routes_roles_silences_and_inhibition(tmp_path: Path):
    db = tmp_path / "baton.duckdb"
    Store.open(db).close()  # the collector's own schema, log_records included
    now = datetime.now(UTC).replace(tzinfo=None)
    log = Log(duckdb.connect(str(db)))
    log.wait("c1", "prior_auth", now - 2 * H)
    log.con.execute("INSERT INTO log_records (ts, event_name, service_name) VALUES "
                    "(?, 'baton.heartbeat', 'baton-orchestrator')", [now - 30 * M])  # fmt: skip
    log.con.close()
    rules = write_rules(tmp_path / "alerts.yaml", """
        rules:
          - {name: aging, kind: queue_aging, threshold: 1h, labels: {service: baton-orchestrator}}
          - {name: silent, kind: dead_man, threshold: 10m}
    """)  # fmt: skip
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = child_env(BATON_COLLECTOR_TOKENS=f"dash:viewer:{VIEWER},ana:analyst:{ANALYST}")
    proc = subprocess.Popen(
        baton_cmd("collector", "serve", "--db", str(db), "--port", str(port), "--alerts",
                  str(rules), "--alerts-interval", "0.5"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        wait_for(f"{url}/healthz", proc)
        assert requests.get(f"{url}/api/v1/alerts", timeout=5).status_code == 401
        deadline, alerts = time.monotonic() + 30, []
        while time.monotonic() < deadline and len(alerts) < 2:
            alerts = requests.get(f"{url}/api/v1/alerts", headers=auth(VIEWER), timeout=5
                                  ).json()["alerts"]  # fmt: skip
            time.sleep(0.2)
        by_rule = {a["rule"]: a for a in alerts}
        assert by_rule["aging"]["state"] == by_rule["silent"]["state"] == "firing"
        assert by_rule["aging"]["inhibited"] and not by_rule["silent"]["inhibited"]

        body = {"matchers": {"alertname": "silent"}, "duration_s": 3600, "comment": "upgrade"}
        denied = requests.post(f"{url}/api/v1/alerts/silences", json=body,
                               headers=auth(VIEWER), timeout=5)  # fmt: skip
        assert denied.status_code == 403
        bad = requests.post(f"{url}/api/v1/alerts/silences", json={"matchers": {}},
                            headers=auth(ANALYST), timeout=5)  # fmt: skip
        assert bad.status_code == 400 and "at least one label" in bad.json()["error"]
        made = requests.post(f"{url}/api/v1/alerts/silences", json=body,
                             headers=auth(ANALYST), timeout=5)  # fmt: skip
        assert made.status_code == 201
        snap = requests.get(f"{url}/api/v1/alerts", headers=auth(VIEWER), timeout=5).json()
        assert [s["active"] for s in snap["silences"]] == [True]
        assert {a["rule"]: a["silenced"] for a in snap["alerts"]} == {"aging": False,
                                                                     "silent": True}  # fmt: skip
        sid = made.json()["id"]
        expired = requests.post(f"{url}/api/v1/alerts/silences/{sid}/expire",
                                headers=auth(ANALYST), timeout=5)  # fmt: skip
        assert expired.status_code == 200
        snap = requests.get(f"{url}/api/v1/alerts", headers=auth(VIEWER), timeout=5).json()
        assert [s["active"] for s in snap["silences"]] == [False]
        unknown = requests.post(f"{url}/api/v1/alerts/silences/nope/expire",
                                headers=auth(ANALYST), timeout=5)  # fmt: skip
        assert unknown.status_code == 400

        # ``baton alerts check --collector`` presents a token from the environment.
        check = baton_cmd("alerts", "check", "--rules", str(rules), "--collector", url, "--json")
        refused = subprocess.run(check, capture_output=True, text=True, env=child_env(),
                                 cwd=tmp_path, timeout=60)  # fmt: skip
        assert refused.returncode == 1 and refused.stderr.startswith("error: collector refused")
        with_token = child_env(BATON_ALERTS_TOKEN=VIEWER)
        checked = subprocess.run(check, capture_output=True, text=True, timeout=60,
                                 env=with_token, cwd=tmp_path)  # fmt: skip
        assert checked.returncode == 0, checked.stderr
        assert '"rule": "aging"' in checked.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
