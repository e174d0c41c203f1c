"""The shipper against a real local HTTP server that fails, throttles, then accepts."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from orchestrator.records import build_record
from orchestrator.shipper import Shipper
from orchestrator.store import StateStore


class Receiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.script: list[tuple[int, dict[str, str]]] = []
        self.accepted: list[str] = []
        self.calls = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.calls += 1
        status, headers = self.server.script.pop(0) if self.server.script else (200, {})
        if status == 200:
            request = ExportLogsServiceRequest.FromString(body)
            for rl in request.resource_logs:
                for sl in rl.scope_logs:
                    for record in sl.log_records:
                        attrs = {kv.key: kv.value for kv in record.attributes}
                        self.server.accepted.append(attrs["baton.event_id"].string_value)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def fill(path: Path, count: int) -> list[str]:
    store = StateStore(path)
    ids = []
    for i in range(count):
        eid = f"event-{i}"
        store.append_event(
            eid,
            build_record(ts_ns=i, event_id=eid, lifecycle="started", attributes={}),
        )
        ids.append(eid)
    store.close()
    return ids


def test_records_are_marked_shipped_only_after_a_200(tmp_path: Path, receiver: Receiver):
    ids = fill(tmp_path / "s.sqlite", 5)
    receiver.script = [(500, {})]
    shipper = Shipper(tmp_path / "s.sqlite", receiver.url, batch_size=3)
    assert shipper.ship_once() == (0, 1.0)
    assert shipper.pending() == 5
    assert shipper.drain(deadline_s=20) == 0
    assert receiver.accepted == ids
    shipper.close()


def test_retry_after_is_honoured(tmp_path: Path, receiver: Receiver):
    fill(tmp_path / "s.sqlite", 2)
    receiver.script = [(503, {"Retry-After": "7"})]
    shipper = Shipper(tmp_path / "s.sqlite", receiver.url)
    sent, wait = shipper.ship_once()
    assert (sent, wait) == (0, 7.0)
    assert shipper.pending() == 2
    shipper.close()


def test_nothing_is_lost_while_the_collector_is_down(tmp_path: Path):
    ids = fill(tmp_path / "s.sqlite", 4)
    down = Shipper(tmp_path / "s.sqlite", "http://127.0.0.1:9", timeout_s=0.5)
    assert down.drain(deadline_s=1.5) == 4
    down.close()
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        up = Shipper(tmp_path / "s.sqlite", server.url)
        assert up.drain(deadline_s=10) == 0
        assert server.accepted == ids
        up.close()
    finally:
        server.shutdown()
        server.server_close()


def test_background_shipping_sends_new_records(tmp_path: Path, receiver: Receiver):
    path = tmp_path / "s.sqlite"
    fill(path, 0)
    shipper = Shipper(path, receiver.url)
    shipper.start(interval_s=0.05)
    ids = fill(path, 3)
    import time

    deadline = time.monotonic() + 10
    while len(receiver.accepted) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    shipper.close()
    assert receiver.accepted == ids


def test_a_restarted_shipper_resumes_after_the_last_acknowledged_batch(
    tmp_path: Path, receiver: Receiver
):
    ids = fill(tmp_path / "s.sqlite", 5)
    first = Shipper(tmp_path / "s.sqlite", receiver.url, batch_size=3)
    assert first.ship_once() == (3, None)
    first.close()  # as if the process stopped here
    again = Shipper(tmp_path / "s.sqlite", receiver.url, batch_size=3)
    assert again.pending() == 2
    assert again.drain(deadline_s=10) == 0
    assert receiver.accepted == ids  # each record once, in seq order
    again.close()


def test_a_store_with_per_record_flags_resumes_after_the_flagged_records(
    tmp_path: Path, receiver: Receiver
):
    ids = fill(tmp_path / "s.sqlite", 5)
    con = sqlite3.connect(tmp_path / "s.sqlite")
    con.execute("UPDATE outbox SET shipped = 1 WHERE seq <= 2")  # the earlier shipper's marks
    con.commit()
    con.close()
    shipper = Shipper(tmp_path / "s.sqlite", receiver.url)
    assert shipper.drain(deadline_s=10) == 0
    assert receiver.accepted == ids[2:]
    shipper.close()


def test_a_partial_batch_lingers_so_records_travel_many_to_a_request(
    tmp_path: Path, receiver: Receiver
):
    fill(tmp_path / "s.sqlite", 5)
    shipper = Shipper(tmp_path / "s.sqlite", receiver.url, batch_size=3, linger_s=0.2)
    sent, _ = shipper.ship_once()
    assert shipper.pause_after(sent) == 0.0  # a full batch: more is probably waiting
    sent, _ = shipper.ship_once()
    assert sent == 2 and shipper.pause_after(sent) == 0.2
    sent, _ = shipper.ship_once()
    assert sent == 0 and shipper.pause_after(sent, idle_s=1.5) == 1.5
    shipper.close()
