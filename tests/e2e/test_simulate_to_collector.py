"""End to end with real processes: collector subprocess, ``baton simulate`` subprocess, then
the DuckDB file checked against what the simulator says it sent, and the DFG against pm4py."""

from __future__ import annotations

import json
import sqlite3
import subprocess

import duckdb
import pytest

from baton.contract import EVENT_COLUMNS
from mining import dfg
from mining.pm4py_bridge import instances_for_pm4py

from ..conftest import baton_cmd, child_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory):
    """Two simulated days through a real collector; yields (report, db path, state path)."""
    import tests.conftest as shared

    tmp = tmp_path_factory.mktemp("e2e")
    db, state = tmp / "baton.duckdb", tmp / "state.sqlite"
    port = shared.free_port()
    env = child_env()
    proc = subprocess.Popen(
        baton_cmd("collector", "serve", "--db", str(db), "--port", str(port)),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=tmp,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    collector = shared.Collector(url, db, proc)
    try:
        shared.wait_for(f"{url}/healthz", proc)
        result = subprocess.run(
            # the SDK's own OTLP/HTTP exporter here; the other end-to-end tests use Baton's
            baton_cmd("simulate", "--days", "2", "--seed", "11", "--endpoint", url,
                      "--state", str(state), "--span-exporter", "otlp", "--json"),
            capture_output=True, text=True, env=env, cwd=tmp, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    finally:
        collector.stop()
    assert "pm4py" not in result.stdout.lower()
    return json.loads(result.stdout), db, state


def test_collector_holds_every_span_and_event_the_simulator_reports(simulated):
    report, db, state = simulated
    assert report["cases"] > 100 and report["retries"] > 0
    con = duckdb.connect(str(db), read_only=True)
    sends = con.execute("SELECT count(*) FROM spans WHERE name LIKE 'send %'").fetchone()[0]
    processes = con.execute("SELECT count(*) FROM spans WHERE name LIKE 'process %'").fetchone()[0]
    kinds = dict(con.execute("SELECT kind, count(*) FROM spans GROUP BY kind").fetchall())
    assert sends == report["handoffs"] == kinds["PRODUCER"]
    assert processes == report["attempts_finished"] == kinds["CONSUMER"]
    assert report["spans_sent"] == report["spans"] == sends + processes
    stored = {r[0] for r in con.execute("SELECT event_id FROM events").fetchall()}
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == report["events"]
    outbox = sqlite3.connect(state)
    sent = {r[0] for r in outbox.execute("SELECT event_id FROM outbox").fetchall()}
    shipped_through = outbox.execute(
        "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'shipped_through_seq'"
    ).fetchone()[0]
    assert shipped_through == outbox.execute("SELECT max(seq) FROM outbox").fetchone()[0]
    assert stored == sent and len(sent) == report["events"]
    # every process span links to the span it continues (its send span or previous attempt)
    unlinked = con.execute(
        "SELECT count(*) FROM spans WHERE kind = 'CONSUMER' AND len(links) = 0"
    ).fetchone()[0]
    assert unlinked == 0
    # one trace per case
    traces = con.execute(
        "SELECT count(DISTINCT trace_id), count(DISTINCT case_id) FROM events"
    ).fetchone()
    assert traces[0] == traces[1] == report["cases"]


def test_events_table_has_the_contract_columns(simulated):
    _, db, _ = simulated
    con = duckdb.connect(str(db), read_only=True)
    columns = [r[0] for r in con.execute("DESCRIBE events").fetchall()]
    assert columns == [name for name, _ in EVENT_COLUMNS]


def test_mining_dfg_equals_pm4py_on_the_activity_instance_view(simulated):
    import pm4py

    _, db, _ = simulated
    con = duckdb.connect(str(db), read_only=True)
    ours = {(r["source"], r["target"]): r["frequency"] for r in dfg(con).iter_rows(named=True)}
    frame = instances_for_pm4py(con)
    theirs, _, _ = pm4py.discover_dfg(frame)
    assert ours == dict(theirs)
    assert len(ours) >= 5


def test_no_raw_patient_identifier_reaches_the_collector(simulated):
    _, db, state = simulated
    outbox = sqlite3.connect(state)
    cases = outbox.execute("SELECT reference, payload FROM cases").fetchall()
    references = {reference for reference, _ in cases}
    payloads = [json.loads(payload) for _, payload in cases]
    secrets = references | {p[k] for p in payloads for k in ("mrn", "member_id", "patient_name")}
    assert len(secrets) > 300
    con = duckdb.connect(str(db), read_only=True)
    tables = [r[0] for r in con.execute("SHOW TABLES").fetchall()]
    assert {"spans", "events"} <= set(tables)
    texts = []
    for table in tables:
        # every column of every table, as text (maps and lists included)
        columns = [r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()]
        for column in columns:
            texts.extend(
                str(r[0])
                for r in con.execute(
                    f'SELECT DISTINCT CAST("{column}" AS VARCHAR) FROM "{table}"'
                ).fetchall()
            )
    blob = "\n".join(texts)
    leaked = [secret for secret in secrets if secret in blob]
    assert leaked == []
    assert "MRN" not in blob and "REF-" not in blob
