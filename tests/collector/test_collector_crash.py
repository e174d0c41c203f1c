"""Real processes: a collector SIGKILLed under load loses nothing it acknowledged.

A load generator (``loadgen.py``) sends spans and work-item events with the SDK's protobuf
exporters and writes down every id the collector answered 200 for. Meanwhile the collector
process (with a decode worker) is killed with SIGKILL and restarted on the same port and file,
three times. Afterwards every acknowledged span and event is stored exactly once, and
nothing at all is stored twice (retries of unacknowledged batches are de-duplicated).

The overload test floods a collector with a small queue bound: it answers 503 with
``Retry-After`` and its memory stays bounded, while everything it answered 200 for is stored.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from collector import open_readonly

pytestmark = pytest.mark.slow

_SERVE = "from collector.cli import app; app()"
LOADGEN = Path(__file__).with_name("loadgen.py")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_collector(
    db: Path, port: int, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", _SERVE, "serve", "--db", str(db), "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--decode-workers", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("collector listening on"), line
    return proc


def test_sigkill_under_load_loses_no_acknowledged_item(tmp_path: Path) -> None:
    db, acks, port = tmp_path / "baton.duckdb", tmp_path / "acks.txt", _free_port()
    url = f"http://127.0.0.1:{port}"
    collector = _start_collector(db, port)
    stop = tmp_path / "stop"
    loadgen = subprocess.Popen(
        [
            sys.executable,
            str(LOADGEN),
            url,
            str(acks),
            "--batches",
            "1000",
            "--size",
            "40",
            "--stop-file",
            str(stop),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    rng = random.Random(7)
    kills = 0
    try:
        for _ in range(3):
            _wait_for_acks(acks, loadgen)  # kill while the load is flowing
            time.sleep(rng.uniform(0.1, 0.5))
            collector.send_signal(signal.SIGKILL)
            collector.wait(timeout=10)
            kills += 1
            collector = _start_collector(db, port)
        _wait_for_acks(acks, loadgen)
        stop.touch()
        out, _ = loadgen.communicate(timeout=120)
        assert loadgen.returncode == 0 and "done" in out
    finally:
        loadgen.kill()
        collector.send_signal(signal.SIGTERM)
        collector.wait(timeout=30)
    assert kills == 3

    acked = acks.read_text().splitlines()
    acked_spans = {tuple(line.split()[1:]) for line in acked if line.startswith("span ")}
    acked_events = {line.split()[1] for line in acked if line.startswith("event ")}
    assert len(acked_spans) == len(acked_events) >= 4 * 40
    con = open_readonly(db)
    try:
        spans = con.execute("SELECT trace_id, span_id FROM spans").fetchall()
        events = con.execute("SELECT event_id FROM events WHERE event_id LIKE 'ev-%'").fetchall()
    finally:
        con.close()
    assert len(spans) == len(set(spans)), "a span is stored twice"
    assert len(events) == len(set(events)), "an event is stored twice"
    assert acked_spans <= set(spans), "an acknowledged span is missing"
    assert acked_events <= {e for (e,) in events}, "an acknowledged event is missing"


def _wait_for_acks(acks: Path, loadgen: subprocess.Popen[str], timeout: float = 60) -> None:
    """Until the load generator has a new batch acknowledged since the last call."""
    seen = acks.stat().st_size if acks.exists() else 0
    deadline = time.monotonic() + timeout
    while not acks.exists() or acks.stat().st_size <= seen:
        assert loadgen.poll() is None, "the load generator stopped early"
        assert time.monotonic() < deadline, "no batch was acknowledged"
        time.sleep(0.05)


def _peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def test_overload_answers_503_and_memory_stays_bounded(tmp_path: Path, otlp) -> None:
    db, port = tmp_path / "baton.duckdb", _free_port()
    env = {
        "BATON_COLLECTOR_QUEUE_MAX_BYTES": str(2 * 1024 * 1024),
        "BATON_COLLECTOR_QUEUE_MAX_REQUESTS": "4",
    }
    collector = _start_collector(db, port, env)
    url = f"http://127.0.0.1:{port}/v1/traces"
    bodies = [_spans_body(otlp, i) for i in range(200)]  # ~120 kB each, unique span ids
    baseline = _peak_rss_mb(collector.pid)
    statuses: list[int] = []
    retry_after: set[str] = set()
    lock = threading.Lock()

    def send(worker: int) -> None:
        session = requests.Session()
        for body in bodies[worker::16]:
            response = session.post(
                url, data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=30
            )
            with lock:
                statuses.append(response.status_code)
                if response.status_code == 503:
                    retry_after.add(response.headers.get("retry-after", ""))

    try:
        threads = [threading.Thread(target=send, args=(w,)) for w in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        peak = _peak_rss_mb(collector.pid)
        stats = requests.get(f"http://127.0.0.1:{port}/api/v1/stats", timeout=10).json()
    finally:
        collector.send_signal(signal.SIGTERM)
        collector.wait(timeout=30)

    offered_mb = sum(len(b) for b in bodies) / 1e6
    assert set(statuses) <= {200, 503}
    assert statuses.count(503) > 0, "the flood never filled the queue"
    assert retry_after == {"1"}
    # The queue bound (2 MiB of bodies) caps what is held, whatever is offered ...
    assert stats["queue"]["pending_bytes_peak"] <= 2 * 1024 * 1024 + max(map(len, bodies))
    assert stats["counters"]["overloaded"] == statuses.count(503)
    # ... and so the process's memory: decoded rows are a small multiple of the bodies.
    assert peak - baseline < 150, (
        f"peak RSS grew {peak - baseline:.0f} MB (offered {offered_mb:.0f} MB)"
    )
    con = open_readonly(db)
    try:
        stored = con.execute("SELECT count(*) FROM spans").fetchall()[0][0]
    finally:
        con.close()
    assert stored == statuses.count(200) * 200


def _spans_body(otlp, index: int) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    for i in range(200):
        span = spans.add(
            trace_id=(index + 1).to_bytes(8, "big") + i.to_bytes(8, "big"),
            span_id=(index * 1000 + i + 1).to_bytes(8, "big"),
            name=f"op {i % 7}",
            start_time_unix_nano=1_772_442_000_000_000_000 + index * 1_000_000 + i,
            end_time_unix_nano=1_772_442_000_000_000_000 + index * 1_000_000 + i + 500,
        )
        for k in range(10):
            span.attributes.add(key=f"attr.{k}", value=otlp.any_value(f"value-{k}-{i}"))
    return request.SerializeToString()
