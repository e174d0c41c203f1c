"""Group commit: many requests per transaction, answers after commit, bounded admission."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from collector import Overloaded, Store, decode_logs
from collector.stats import Stats
from collector.writer import GroupWriter


@pytest.fixture
def store(tmp_path: Path):
    store = Store.open(tmp_path / "baton.duckdb")
    yield store
    store.close()


def _writer(store: Store, **limits: int) -> GroupWriter:
    values = {"queue_max_bytes": 1 << 20, "queue_max_requests": 8, "group_max_rows": 1000}
    return GroupWriter(store, stats=Stats(), **{**values, **limits})


def test_queued_requests_share_one_commit(store: Store, otlp) -> None:
    batches = [
        {"events": decode_logs(otlp.logs_body([otlp.work_item(f"e{n}", n, "started")]))[0]}
        for n in range(5)
    ]
    gate = threading.Lock()
    gate.acquire()
    real_write = store.write
    calls: list[int] = []

    def slow_write(group):
        with gate:  # hold the first commit until every request is queued
            calls.append(len(group))
            return real_write(group)

    store.write = slow_write  # type: ignore[method-assign]
    writer = _writer(store)
    futures = [writer.submit(batch) for batch in batches]
    gate.release()
    results = [f.result(timeout=10) for f in futures]
    assert all(isinstance(result, dict) for result in results)
    writer.close()
    assert sum(calls) == 5 and len(calls) <= 2  # the first alone at most, then the rest
    assert store.counts()["events"] == 5


def test_a_bad_batch_fails_alone(store: Store, otlp) -> None:
    good = {"events": decode_logs(otlp.logs_body([otlp.work_item("e1", 1, "started")]))[0]}
    bad = {"log_records": pa.table({"ts": pa.array(["not a time"])})}
    writer = _writer(store)
    gate = threading.Event()
    real_write = store.write

    def gated(group):
        gate.wait(10)
        return real_write(group)

    store.write = gated  # type: ignore[method-assign]
    futures = [writer.submit(good), writer.submit(bad), writer.submit(good)]
    gate.set()
    assert futures[0].result(timeout=10) is not None
    with pytest.raises(duckdb.Error):
        futures[1].result(timeout=10)
    assert futures[2].result(timeout=10) is not None
    writer.close()
    assert store.counts()["events"] == 1


def test_admission_is_bounded_by_requests_and_bytes(store: Store) -> None:
    writer = _writer(store, queue_max_bytes=100, queue_max_requests=2)
    with writer.admit(60):
        with pytest.raises(Overloaded), writer.admit(60):  # bytes
            pass
        with writer.admit(10) as grow:
            with pytest.raises(Overloaded), writer.admit(1):  # requests
                pass
            with pytest.raises(Overloaded):
                grow(50)  # a body that inflates past the bound
    assert writer.depth()["pending_requests"] == 0
    assert writer.depth()["pending_bytes"] == 0
    with writer.admit(10_000):  # alone, a request over the byte bound is still admitted
        pass
    writer.close()


def test_a_cancelled_request_is_skipped_and_the_writer_lives_on(store: Store, otlp) -> None:
    rows = {"events": decode_logs(otlp.logs_body([otlp.work_item("e1", 1, "started")]))[0]}
    gate = threading.Event()
    real_write = store.write

    def gated(group):
        gate.wait(10)
        return real_write(group)

    store.write = gated  # type: ignore[method-assign]
    writer = _writer(store)
    first = writer.submit(rows)  # taken by the writer, held at the gate
    abandoned = writer.submit(rows)
    assert abandoned.cancel()  # its client went away before the commit
    gate.set()
    first.result(timeout=10)
    later = writer.submit(rows)
    assert later.result(timeout=10) == {"events": 0}  # a duplicate; the writer still answers
    assert writer.alive()
    writer.close()
