"""The store: schema, idempotent writes, arrival order, and who may open the file."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
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
from collector._endpoint import endpoint_file
from collector.otlp import SPAN_SCHEMA
from mining import live

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
    assert store.counts() == {
        "spans": 0,
        "events": 0,
        "log_records": 0,
        "metrics": 0,
        "audit_reads": 0,
    }


def test_spans_are_deduplicated_within_and_across_batches(store: Store) -> None:
    assert store.write_spans(_spans(("t1", "a"), ("t1", "b"), ("t1", "a"))) == 2
    assert store.write_spans(_spans(("t1", "b"), ("t2", "b"))) == 1
    assert store.write_spans(_spans()) == 0
    cur = store.cursor()
    rows = cur.execute("SELECT trace_id, span_id FROM spans ORDER BY seq").fetchall()
    assert rows == [("t1", "a"), ("t1", "b"), ("t2", "b")]  # seq: arrival order (gaps allowed)


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
    assert (store.counts()["events"], store.counts()["log_records"]) == (7, 1)


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
        assert "reach it through the collector's URL" in str(info.value)
        assert "http://127.0.0.1:4318" in str(info.value)  # no collector announced itself
        assert f"PID {holder.pid}" in str(info.value)
        with pytest.raises(DatabaseLocked):
            open_readonly(path)
    finally:
        holder.communicate("", timeout=20)
    assert holder.returncode == 0


def _timed_spans(*rows: tuple[str, str, int]) -> pa.Table:
    """Spans with a start time (minutes after 09:00), as the receiver's decoder makes them."""
    base = datetime(2026, 3, 2, 9, 0)
    return pa.Table.from_pylist(
        [
            {"trace_id": t, "span_id": s, "start_ts": base + timedelta(minutes=m), "attributes": []}
            for t, s, m in rows
        ],
        schema=SPAN_SCHEMA,
    )


def test_duplicates_are_found_whatever_time_range_the_batch_spans(store: Store) -> None:
    store.write_spans(_timed_spans(("t1", "a", 0), ("t1", "b", 600)))
    # A late duplicate of an old span, sent beside a new one: the range covers both.
    assert store.write_spans(_timed_spans(("t1", "a", 0), ("t2", "c", 900))) == 1
    # A duplicate alone, whose range holds only itself.
    assert store.write_spans(_timed_spans(("t1", "b", 600))) == 0
    assert store.counts()["spans"] == 3


def test_one_write_of_several_batches_is_one_transaction(store: Store, otlp, case_records) -> None:
    events, log_records = decode_logs(otlp.logs_body(case_records))
    broken = {"log_records": pa.table({"ts": pa.array(["not a time"])})}
    with pytest.raises(duckdb.Error):
        store.write([{"events": events}, {"spans": _timed_spans(("t", "s", 1))}, broken])
    assert sum(store.counts().values()) == 0
    inserted = store.write([{"events": events}, {"events": events, "log_records": log_records}])
    assert inserted == {"events": 7, "log_records": 1}


def test_events_without_seq_are_numbered_in_arrival_order(store: Store, otlp) -> None:
    records = [otlp.work_item(f"e{i}", 10 + i, "started", minutes=i) for i in range(2)]
    events, _ = decode_logs(otlp.logs_body(records))
    foreign = events.set_column(1, "seq", pa.nulls(2, pa.int64()))
    foreign = foreign.set_column(0, "event_id", pa.array(["f1", "f2"]))
    store.write([{"events": events}, {"events": foreign}])
    store.write([{"events": foreign.set_column(0, "event_id", pa.array(["f3", "f4"]))}])
    cur = store.cursor()
    rows = cur.execute("SELECT event_id, seq FROM events ORDER BY event_id").fetchall()
    seqs = dict(rows)
    assert (seqs["e0"], seqs["e1"]) == (10, 11)  # the orchestrator's own numbers stay
    assert seqs["e1"] < seqs["f1"] < seqs["f2"] < seqs["f3"] < seqs["f4"]


def test_unknown_table_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="no table 'nope'"):
        store.write([{"nope": pa.table({"x": [1]})}])


def test_locked_file_names_the_collector_that_announced_itself(tmp_path: Path) -> None:
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
        note = {"url": "http://127.0.0.1:4999", "pid": holder.pid}
        endpoint_file(path).write_text(json.dumps(note))
        with pytest.raises(DatabaseLocked) as info:
            open_readonly(path)
        assert info.value.url == "http://127.0.0.1:4999"
        assert "http://127.0.0.1:4999/api/v1/figures" in str(info.value)
        # A note from another (dead or different) process is not believed.
        endpoint_file(path).write_text(json.dumps({**note, "pid": holder.pid + 100000}))
        with pytest.raises(DatabaseLocked) as info:
            open_readonly(path)
        assert info.value.url is None
    finally:
        holder.communicate("", timeout=20)


def _live_snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[object, ...]]]:
    return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in live.DDL}


def test_live_tables_of_new_and_known_cases_equal_a_full_recomputation(store: Store, otlp) -> None:
    """New cases are summed from the inserted rows, known ones recomputed from their events,
    and tables no case can add to are skipped: batches mixing these (with a duplicate and a
    late event of a known case) must leave the live tables exactly as a rebuild from every
    stored event would."""
    first = [otlp.work_item(f"a{i}", i, lc, minutes=10 + i) for i, lc in enumerate(_STEPS)]
    store.write([{"events": decode_logs(otlp.logs_body(first))[0]}])
    second = [
        otlp.work_item("a1", 1, "started", minutes=11),  # a duplicate: not inserted again
        otlp.work_item("late", 9, "enqueued", minutes=1),  # late, for the known case
        *(
            otlp.work_item(f"b{i}", 20 + i, lc, case_id="case_b", minutes=i)
            for i, lc in enumerate(_STEPS)
        ),
    ]
    inserted = store.write([{"events": decode_logs(otlp.logs_body(second))[0]}])
    assert inserted["events"] == 1 + len(_STEPS)
    # Each case has one instance so far: no edges, and the refresh skipped their statements.
    # A second step of case_a makes its first edge and handoff.
    third = [
        otlp.work_item(f"s{i}", 30 + i, lc, step="submit", minutes=40 + i)
        for i, lc in enumerate(_STEPS)
    ]
    store.write([{"events": decode_logs(otlp.logs_body(third))[0]}])
    cur = store.cursor()
    try:
        incremental = _live_snapshot(cur)
        assert {row[0] for row in incremental["live_cases"]} == {"case_a", "case_b"}
        assert [row[0] for row in incremental["live_edges"]] == ["case_a"]
        assert [row[0] for row in incremental["live_handoffs"]] == ["case_a"]
        cur.begin()
        live.recompute_all(cur)
        assert _live_snapshot(cur) == incremental
        cur.rollback()
    finally:
        cur.close()


_STEPS = ("enqueued", "started", "completed")


def test_store_threads_caps_duckdb_threads(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "threads.duckdb", threads=1)
    try:
        cur = store.cursor()
        assert cur.execute("SELECT current_setting('threads')").fetchall() == [(1,)]
        cur.close()
    finally:
        store.close()
