"""The store: schema, idempotent writes, arrival order, and who may open the file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from collector import (
    CollectorError,
    DatabaseLocked,
    Store,
    StoreNotFound,
    decode_logs,
    open_readonly,
)
from collector.otlp import SPAN_SCHEMA

# Holds the file read-write until its stdin closes, like a running collector would.
_HOLDER = """
import sys
from pathlib import Path
from collector import Store
store = Store.open(Path(sys.argv[1]))
print("holding", flush=True)
sys.stdin.read()
store.close()
"""


def _spans(*ids: tuple[str, str]) -> pa.Table:
    rows = [
        {"trace_id": trace, "span_id": span, "name": f"span {span}", "attributes": []}
        for trace, span in ids
    ]
    return pa.Table.from_pylist(rows, schema=SPAN_SCHEMA)


@pytest.fixture
def store(tmp_path: Path):
    store = Store.open(tmp_path / "nested" / "baton.duckdb")
    yield store
    store.close()


def test_open_creates_parent_dir_and_tables(store: Store) -> None:
    assert store.path.is_file()
    assert store.counts() == {"spans": 0, "events": 0, "log_records": 0}


def test_spans_are_deduplicated_within_and_across_batches(store: Store) -> None:
    assert store.write_spans(_spans(("t1", "a"), ("t1", "b"), ("t1", "a"))) == 2
    assert store.write_spans(_spans(("t1", "b"), ("t2", "b"))) == 1
    assert store.write_spans(_spans()) == 0
    cur = store.cursor()
    rows = cur.execute("SELECT trace_id, span_id, seq FROM spans ORDER BY seq").fetchall()
    assert rows == [("t1", "a", 1), ("t1", "b", 2), ("t2", "b", 3)]


def test_span_seq_continues_after_reopen(tmp_path: Path) -> None:
    path = tmp_path / "baton.duckdb"
    store = Store.open(path)
    store.write_spans(_spans(("t1", "a"), ("t1", "b")))
    store.close()
    store = Store.open(path)
    try:
        store.write_spans(_spans(("t1", "c")))
        row = store.cursor().execute("SELECT max(seq), count(*) FROM spans").fetchone()
        assert row == (3, 3)
    finally:
        store.close()


def test_events_are_deduplicated_by_event_id(store: Store, otlp, case_records) -> None:
    events, log_records = decode_logs(otlp.logs_body(case_records))
    doubled = pa.concat_tables([events, events])

    assert store.write_events(doubled, log_records) == 7 + 1
    assert store.write_events(events, log_records.slice(0, 0)) == 0
    assert store.counts() == {"spans": 0, "events": 7, "log_records": 1}


def test_a_failed_write_leaves_nothing_behind(store: Store, otlp, case_records) -> None:
    events, _ = decode_logs(otlp.logs_body(case_records))
    broken = pa.table({"ts": pa.array(["not a time"])})
    with pytest.raises(duckdb.Error):
        store.write_events(events, broken)
    assert store.counts()["events"] == 0


def test_open_readonly_of_missing_file_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "nope.duckdb"
    with pytest.raises(StoreNotFound, match="does not exist") as info:
        open_readonly(missing)
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, CollectorError)
    assert not missing.exists()


def test_open_readonly_reads_a_closed_store(tmp_path: Path) -> None:
    path = tmp_path / "baton.duckdb"
    Store.open(path).close()
    con = open_readonly(path)
    try:
        assert con.execute("SELECT count(*) FROM events").fetchone() == (0,)
    finally:
        con.close()


def test_file_held_by_another_process_raises_database_locked(tmp_path: Path) -> None:
    path = tmp_path / "baton.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(DatabaseLocked, match="held by another process") as info:
            Store.open(path)
        assert "collector's URL" in str(info.value)
        assert f"PID {holder.pid}" in str(info.value)
        with pytest.raises(DatabaseLocked):
            open_readonly(path)
    finally:
        holder.communicate("", timeout=20)
    assert holder.returncode == 0
