"""Fixtures for collector tests: a real server on a free port and OTLP message builders."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from baton.contract import ORCHESTRATOR_SERVICE, Attr, EventName
from collector import CollectorSettings, Store, create_app

#: 2026-03-02T09:00:00Z, the base of every test timestamp.
T0_NS = 1_772_442_000_000_000_000


@dataclasses.dataclass(frozen=True)
class RunningCollector:
    """A collector serving ``store`` at ``url`` in a background thread."""

    url: str
    store: Store
    settings: CollectorSettings
    app: Any = None


def serve_in_thread(settings: CollectorSettings) -> Iterator[RunningCollector]:
    """Run a real uvicorn server for ``settings`` in a thread until the generator closes."""
    store = Store.open(settings.db)
    app = create_app(store, settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("collector did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield RunningCollector(f"http://127.0.0.1:{port}", store, settings, app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()


#: Decoding in-process keeps each test's collector quick to start; the subprocess tests
#: exercise the worker processes.
TEST_SETTINGS = {"port": 0, "max_body_bytes": 64 * 1024, "decode_workers": 0}


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[RunningCollector]:
    """A real uvicorn server on an OS-chosen port, with a small body limit for 413 tests."""
    yield from serve_in_thread(CollectorSettings(db=tmp_path / "baton.duckdb", **TEST_SETTINGS))


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., RunningCollector]]:
    """Start collectors with settings of the test's choosing; all are stopped afterwards."""
    running: list[Iterator[RunningCollector]] = []

    def start(**settings: Any) -> RunningCollector:
        values = {"db": tmp_path / f"baton{len(running)}.duckdb", **TEST_SETTINGS, **settings}
        generator = serve_in_thread(CollectorSettings(**values))
        running.append(generator)
        return next(generator)

    yield start
    for generator in running:
        generator.close()


class Otlp:
    """Builders of real OTLP protobuf messages; a fixture hands them to tests.

    A fixture rather than an importable module, so tests work under any pytest import mode.
    """

    @staticmethod
    def any_value(value: Any) -> AnyValue:
        """An OTLP ``AnyValue`` holding ``value`` the way an SDK would encode it."""
        if isinstance(value, bool):
            return AnyValue(bool_value=value)
        if isinstance(value, int):
            return AnyValue(int_value=value)
        if isinstance(value, float):
            return AnyValue(double_value=value)
        if isinstance(value, bytes):
            return AnyValue(bytes_value=value)
        return AnyValue(string_value=str(value))

    @staticmethod
    def log_record(
        attrs: Mapping[str, Any],
        *,
        event_name: str = "",
        time_ns: int = T0_NS,
        trace_id: bytes = b"",
        span_id: bytes = b"",
        body: str | None = None,
    ) -> LogRecord:
        record = LogRecord(
            time_unix_nano=time_ns, event_name=event_name, trace_id=trace_id, span_id=span_id
        )
        record.attributes.extend(KeyValue(key=k, value=Otlp.any_value(v)) for k, v in attrs.items())
        if body is not None:
            record.body.string_value = body
        return record

    @staticmethod
    def logs_request(
        records: list[LogRecord], service: str = ORCHESTRATOR_SERVICE
    ) -> ExportLogsServiceRequest:
        """An ``ExportLogsServiceRequest`` with one resource and one scope."""
        request = ExportLogsServiceRequest()
        resource_logs = request.resource_logs.add()
        resource_logs.resource.attributes.add(key=Attr.SERVICE_NAME, value=Otlp.any_value(service))
        resource_logs.scope_logs.add().log_records.extend(records)
        return request

    @staticmethod
    def logs_body(records: list[LogRecord], service: str = ORCHESTRATOR_SERVICE) -> bytes:
        """A serialized ``ExportLogsServiceRequest`` with one resource and one scope."""
        return Otlp.logs_request(records, service).SerializeToString()

    @staticmethod
    def work_item(
        event_id: str,
        seq: int,
        lifecycle: str,
        *,
        case_id: str = "case_a",
        step: str = "verify",
        minutes: int = 0,
        **extra: Any,
    ) -> LogRecord:
        """A ``baton.work_item`` record as the orchestrator's shipper sends it."""
        attrs: dict[str, Any] = {
            Attr.EVENT_ID: event_id,
            Attr.SEQ: seq,
            Attr.CASE_ID: case_id,
            Attr.WORKFLOW: "referral",
            Attr.WORKFLOW_VERSION: "3",
            Attr.STEP: step,
            Attr.LIFECYCLE: lifecycle,
            Attr.MESSAGING_DESTINATION: step,
            Attr.ATTEMPT: 1,
            Attr.PRIORITY: 2,
            Attr.PAYER: "acme",
            Attr.SITE: "north",
            Attr.RESOURCE: "bot-7",
            Attr.RESOURCE_KIND: "bot",
            Attr.ITEM_ID: f"item-{case_id}",
            **extra,
        }
        return Otlp.log_record(
            attrs,
            event_name=EventName.WORK_ITEM,
            time_ns=T0_NS + minutes * 60_000_000_000,
            trace_id=bytes(range(16)),
            span_id=bytes(range(8)),
        )


@pytest.fixture
def otlp() -> type[Otlp]:
    return Otlp


@pytest.fixture
def case_records() -> list[LogRecord]:
    """One case through two steps, plus a heartbeat: seven work-item events, one other record."""
    return [
        Otlp.work_item("e1", 1, "enqueued", step="verify", minutes=0),
        Otlp.work_item("e2", 2, "started", step="verify", minutes=5),
        Otlp.work_item("e3", 3, "completed", step="verify", minutes=7),
        Otlp.work_item("e4", 4, "enqueued", step="submit", minutes=7),
        Otlp.work_item("e5", 5, "started", step="submit", minutes=30),
        Otlp.work_item("e6", 6, "completed", step="submit", minutes=31),
        Otlp.work_item("e7", 7, "enqueued", case_id="case_b", step="verify", minutes=40),
        Otlp.log_record({Attr.BOT_ID: "bot-7"}, event_name=EventName.HEARTBEAT, body="alive"),
    ]
