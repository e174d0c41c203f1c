"""The hash-chained audit trail: appended on ingest, verified by a real ``baton audit verify``.

Tampering is done the way an insider would: plain SQL on the DuckDB file, then the CLI runs
as a subprocess and must name the first bad row and exit non-zero.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import requests

from collector import Store, audit
from collector.otlp_logs import EVENT_SCHEMA

NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None)


def events(ids: range, *, days_ago: float = 0.0) -> pa.Table:
    """Work-item events ``e<i>`` with ``seq = i``, one minute apart, ``days_ago`` old."""
    base = NOW - dt.timedelta(days=days_ago)
    rows: list[dict[str, Any]] = [
        {
            "event_id": f"e{i}",
            "seq": i,
            "case_id": f"case{i % 3}",
            "activity": "verify",
            "lifecycle": "completed",
            "ts": base + dt.timedelta(minutes=i),
            "attributes": [("note", f"n{i}")],
        }
        for i in ids
    ]
    return pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A closed store file holding ten events in two group commits."""
    path = tmp_path / "baton.duckdb"
    store = Store.open(path)
    store.write([{"events": events(range(1, 6))}])
    store.write([{"events": events(range(6, 11))}])
    store.close()
    return path


def baton(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "baton", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def tamper(path: Path, *statements: str) -> None:
    con = duckdb.connect(str(path))
    try:
        for sql in statements:
            con.execute(sql)
    finally:
        con.close()


def test_ingest_through_the_server_chains_each_stored_event_once(
    collector: Any, otlp: Any, case_records: list[Any]
) -> None:
    for _ in range(2):  # the re-send is de-duplicated and must not be chained again
        response = requests.post(
            f"{collector.url}/v1/logs",
            data=otlp.logs_body(case_records),
            headers={"Content-Type": "application/x-protobuf"},
            timeout=10,
        )
        assert response.status_code == 200
    cur = collector.store.cursor()
    try:
        result = audit.verify(cur, None)
        trail = cur.execute("SELECT seq, event_id FROM audit ORDER BY seq").fetchall()
    finally:
        cur.close()
    assert result.intact, result.summary()
    assert result.rows == 7
    assert trail == [(i, f"e{i}") for i in range(1, 8)]


def test_intact_chain_verifies_and_exports(db: Path, tmp_path: Path) -> None:
    done = baton("audit", "verify", "--db", db)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("10 rows, chain intact")
    out = tmp_path / "trail.jsonl"
    assert baton("audit", "export", "--db", db, out).returncode == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["record"] for r in records] == ["row"] * 10 + ["head"]
    assert records[-1]["chain_hash"] == records[-2]["chain_hash"]
    con = duckdb.connect(str(db), read_only=True)
    head = audit.export(con, tmp_path / "trail.csv")
    con.close()
    with (tmp_path / "trail.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows[-1] == {**rows[-1], "record": "head", "chain_hash": head.chain_hash}


#: Tampering of the issue's Must-show, each checked by a real ``baton audit verify`` process.
CLI_TAMPERING = {
    "event-changed": (
        ["UPDATE events SET activity = 'approve' WHERE event_id = 'e4'"],
        "audit row 4 (event e4): content changed",
    ),
    "audit-row-deleted": (["DELETE FROM audit WHERE seq = 5"], "audit row 5: row missing"),
    "swapped": (
        ["UPDATE audit SET seq = CASE seq WHEN 3 THEN 6 ELSE 3 END WHERE seq IN (3, 6)"],
        "audit row 3 (event e6): order changed",
    ),
}

#: More ways to tamper, checked in-process (a subprocess costs ~2 s).
LIBRARY_TAMPERING = {
    "hash-changed": (
        ["UPDATE audit SET content_hash = repeat('0', 64) WHERE seq = 7"],
        "audit row 7 (event e7): content changed",
    ),
    "event-deleted": (
        ["DELETE FROM events WHERE event_id = 'e8'"],
        "audit row 8 (event e8): row missing",
    ),
    "chain-edited": (
        ["UPDATE audit SET chain_hash = repeat('a', 64) WHERE seq = 2"],
        "audit row 2 (event e2): chain hash changed",
    ),
    "moved-to-the-end": (
        ["UPDATE audit SET seq = 11 WHERE seq = 4"],
        "audit row 4: row missing",
    ),
}


@pytest.mark.parametrize(("statements", "expected"), CLI_TAMPERING.values(), ids=CLI_TAMPERING)
def test_tampering_names_the_first_bad_row(db: Path, statements: list[str], expected: str) -> None:
    tamper(db, *statements)
    done = baton("audit", "verify", "--db", db)
    assert done.returncode == 1
    assert expected in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("statements", "expected"), LIBRARY_TAMPERING.values(), ids=LIBRARY_TAMPERING
)
def test_more_tampering_is_caught(db: Path, statements: list[str], expected: str) -> None:
    tamper(db, *statements)
    con = duckdb.connect(str(db), read_only=True)
    try:
        result = audit.verify(con, None)
    finally:
        con.close()
    assert not result.intact
    assert expected in str(result.finding)


def test_prune_keeps_the_chain_verifiable_and_a_forged_checkpoint_fails(tmp_path: Path) -> None:
    path = tmp_path / "baton.duckdb"
    store = Store.open(path)
    store.write([{"events": events(range(1, 5), days_ago=40)}])  # audit rows 1-4: old
    store.write([{"events": events(range(5, 7))}])  # 5-6: new
    store.write([{"events": events(range(7, 9), days_ago=40)}])  # 7-8: old, after new ones
    store.close()

    done = baton("collector", "prune", "--db", path, "--older-than", "30")
    assert done.returncode == 0, done.stderr
    assert "events: 6 deleted" in done.stdout
    assert "signed checkpoint at audit row 4" in done.stdout
    key_file = Path(f"{path}{audit.KEY_SUFFIX}")
    assert key_file.stat().st_mode & 0o777 == 0o600
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT count(*) FROM events").fetchone() == (2,)
    assert con.execute("SELECT min(seq), count(*) FROM audit").fetchone() == (5, 4)
    con.close()

    done = baton("audit", "verify", "--db", path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 rows, chain intact (from checkpoint at row 4)" in done.stdout

    # New events after a prune chain on; a second prune moves the checkpoint.
    store = Store.open(path)
    store.write([{"events": events(range(9, 11))}])
    key = audit.audit_key(path, None, create=False)
    con = store.cursor()
    assert audit.verify(con, key).rows == 6
    # Deleting an unpruned event is still caught after the prune.
    con.execute("DELETE FROM events WHERE event_id = 'e9'")
    assert "audit row 9 (event e9): row missing" in str(audit.verify(con, key).finding)
    con.close()
    store.close()
    tamper(path, "DELETE FROM audit WHERE seq >= 9", "DELETE FROM events WHERE event_id = 'e10'")

    tamper(path, "UPDATE audit_checkpoints SET seq = 6, chain_hash = repeat('b', 64)")
    done = baton("audit", "verify", "--db", path)
    assert done.returncode == 1
    assert "checkpoint signature invalid" in done.stdout


def test_a_hole_claimed_without_a_signature_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "baton.duckdb"
    store = Store.open(path)
    store.write([{"events": events(range(1, 3), days_ago=40)}])
    store.write([{"events": events(range(3, 6))}])
    store.prune(NOW - dt.timedelta(days=30), b"k" * 32)
    con = store.cursor()
    con.execute("DELETE FROM events WHERE event_id = 'e4'")
    con.execute("INSERT INTO audit_pruned VALUES (4)")  # pretend a prune removed it
    result = audit.verify(con, b"k" * 32)
    con.close()
    store.close()
    assert result.finding is not None
    assert result.finding.problem is audit.Problem.CHECKPOINT_FORGED


def test_prune_refuses_a_broken_chain(db: Path) -> None:
    tamper(db, "UPDATE events SET activity = 'x' WHERE event_id = 'e2'")
    store = Store.open(db)
    try:
        with pytest.raises(audit.AuditError, match="does not verify"):
            store.prune(NOW, b"k" * 32)
    finally:
        store.close()


def test_allowlist_drops_unlisted_attributes_before_storage(
    serve: Any, otlp: Any, case_records: list[Any]
) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import KeyValue

    running = serve(attribute_allowlist=("http.*", "tenant"), case_attribute="order.id")
    secret = otlp.work_item("e9", 9, "started", **{"patient.name": "Jane Roe", "tenant": "t1"})
    heartbeat = otlp.log_record({"baton.bot.id": "b1", "user.email": "x@y"}, body="alive")
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name", value=otlp.any_value("shop"))
    span = resource_spans.scope_spans.add().spans.add(
        trace_id=bytes(range(1, 17)),
        span_id=bytes(range(1, 9)),
        name="GET /cart",
        start_time_unix_nano=1_772_442_000_000_000_000,
        end_time_unix_nano=1_772_442_001_000_000_000,
    )
    span.attributes.extend(
        KeyValue(key=k, value=otlp.any_value(v))
        for k, v in {"http.method": "GET", "order.id": "o-7", "patient.ssn": "123"}.items()
    )
    for path, body in (
        ("/v1/logs", otlp.logs_body([*case_records[:2], secret, heartbeat])),
        ("/v1/traces", request.SerializeToString()),
    ):
        response = requests.post(
            f"{running.url}{path}",
            data=body,
            headers={"Content-Type": "application/x-protobuf"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
    cur = running.store.cursor()
    try:
        event = cur.execute("SELECT attributes FROM events WHERE event_id = 'e9'").fetchone()
        record = cur.execute("SELECT attributes FROM log_records").fetchone()
        stored = cur.execute("SELECT attributes FROM spans").fetchone()
        mapped = cur.execute("SELECT DISTINCT case_id FROM events WHERE workflow = 'shop'")
        case_ids = mapped.fetchall()
    finally:
        cur.close()
    assert event is not None and record is not None and stored is not None
    assert event[0] == {"baton.item_id": "item-case_a", "tenant": "t1"}
    assert record[0] == {"baton.bot.id": "b1"}
    assert {kv["key"] for kv in stored[0]} == {"http.method", "order.id"}
    assert case_ids == [("o-7",)]


def test_allowlist_on_sliced_tables_and_from_the_environment() -> None:
    from collector.allowlist import filter_attributes, key_regex
    from collector.config import load_settings

    maps = pa.array(
        [[("a", "1"), ("x", "2")], None, [("x", "3")], [("ab", "4")]],
        pa.map_(pa.string(), pa.string()),
    )
    table = pa.table({"attributes": maps}).slice(1)
    kept = filter_attributes(table, key_regex(("a*",)))
    assert kept.column("attributes").to_pylist() == [None, [], [("ab", "4")]]
    settings = load_settings(db=None, attribute_allowlist="http.*, tenant")
    assert settings.attribute_allowlist == ("http.*", "tenant")
    assert load_settings(db=None).attribute_allowlist is None


def test_imported_events_are_chained_after_ingested_ones(db: Path, tmp_path: Path) -> None:
    from collector.transfer import import_file

    log = tmp_path / "log.csv"
    log.write_text(
        "case_id,activity,ts\nc1,register,2026-03-01T09:00:00Z\nc1,check,2026-03-01T10:00:00Z\n"
    )
    store = Store.open(db)
    con = store.cursor()
    try:
        assert import_file(con, log).inserted == 2
        assert import_file(con, log).inserted == 0  # re-import: nothing new, nothing chained
        result = audit.verify(con, None)
    finally:
        con.close()
        store.close()
    assert result.intact, result.summary()
    assert result.rows == 12
