"""The Alerts page, run by Streamlit's AppTest: firing, pending, silenced and history, read
from a file's alert tables or from a real collector's evaluator; silencing from the page."""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import requests
from streamlit.testing.v1 import AppTest

from alerts.clock import FixedClock
from alerts.evaluator import Evaluator
from alerts.rulefile import parse_rules
from alerts.sources import DuckDBSource
from alerts.state import DuckDBAlertStore
from tests.alerts.helpers import T0, H, Log, M
from tests.conftest import baton_cmd, child_env, free_port, wait_for

pytestmark = pytest.mark.usefixtures("fresh_caches")

PAGE = Path(__file__).resolve().parents[2] / "dashboard" / "app_pages" / "alerts.py"
RULES = """
rules:
  - {name: prior-auth-aging, kind: queue_aging, queues: {prior_auth: 2h},
     summary: "{queue}: oldest item waiting {value_human}"}
  - {name: slow-scheduling, kind: queue_aging, queues: {scheduling: 20m}, for: 1h,
     summary: "{queue}: oldest item waiting {value_human}"}
"""


def clinic_log(path: Path, start: datetime) -> Log:
    log = Log(duckdb.connect(str(path)))
    log.wait("c1", "prior_auth", start)
    log.wait("c2", "scheduling", start + 2 * H + 30 * M)
    return log


def run_page(monkeypatch: pytest.MonkeyPatch, **env: str) -> AppTest:
    for name, value in env.items():
        monkeypatch.setenv(f"BATON_DASHBOARD_{name.upper()}", value)
    at = AppTest.from_file(str(PAGE), default_timeout=60).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def silence_first(at: AppTest) -> AppTest:
    at.text_input[0].input("payer portal down, on it")
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def test_alerts_page_from_a_file_and_silencing_there(tmp_path: Path, monkeypatch):
    db = tmp_path / "baton.duckdb"
    log = clinic_log(db, T0)
    rules = parse_rules(RULES)
    evaluator = Evaluator(rules, DuckDBSource(log.con.cursor), DuckDBAlertStore(log.con.cursor),
                          FixedClock(T0 + 3 * H))  # fmt: skip
    evaluator.tick()
    log.con.close()

    at = run_page(monkeypatch, db=str(db))
    assert metrics(at) == {"Firing": "1", "Pending": "1", "Silenced or inhibited": "0"}
    shown = " ".join(str(frame.value.to_dict()) for frame in at.dataframe)
    assert "prior_auth: oldest item waiting 3h 0m" in shown
    assert "normal → firing" in shown and "normal → pending" in shown
    assert "2026-03-03 12:00" in at.caption[0].value  # the evaluator's clock, not the wall's

    at = silence_first(at)
    assert metrics(at)["Silenced or inhibited"] == "1"
    con = duckdb.connect(str(db), read_only=True)
    silences = con.execute("SELECT matchers, ends_at, comment FROM alert_silences").fetchall()
    con.close()
    assert len(silences) == 1 and '"queue": "prior_auth"' in silences[0][0]
    assert silences[0][1] == T0 + 4 * H and silences[0][2] == "payer portal down, on it"


def test_alerts_page_through_a_running_collector(tmp_path: Path, monkeypatch):
    db = tmp_path / "baton.duckdb"
    now = datetime.now(UTC).replace(tzinfo=None)
    clinic_log(db, now - 3 * H).con.close()
    rules = tmp_path / "alerts.yaml"
    rules.write_text(RULES, encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        baton_cmd("collector", "serve", "--db", str(db), "--port", str(port), "--alerts",
                  str(rules), "--alerts-interval", "0.5"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=child_env(), cwd=tmp_path,
    )  # fmt: skip
    try:
        wait_for(f"{url}/healthz", proc)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = [a["state"] for a in requests.get(f"{url}/api/v1/alerts", timeout=5)
                      .json()["alerts"]]  # fmt: skip
            if sorted(states) == ["firing", "pending"]:
                break
            time.sleep(0.2)
        at = run_page(monkeypatch, collector=url)
        assert metrics(at) == {"Firing": "1", "Pending": "1", "Silenced or inhibited": "0"}
        at = silence_first(at)
        assert metrics(at)["Silenced or inhibited"] == "1"
        snapshot = requests.get(f"{url}/api/v1/alerts", timeout=5).json()
        (silence,) = snapshot["silences"]
        assert silence["matchers"]["queue"] == "prior_auth" and silence["active"]
        ends = datetime.fromisoformat(silence["ends_at"])
        assert abs(ends - (now + timedelta(hours=1))) < timedelta(minutes=2)
        assert [a["silenced"] for a in snapshot["alerts"] if a["state"] == "firing"] == [True]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
