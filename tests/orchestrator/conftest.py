"""A small engine on a virtual clock, with real SQLite state and the SDK's in-memory exporter."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from baton.pseudonym import Pseudonymizer
from orchestrator.bots import BotRegistry
from orchestrator.clock import VirtualClock
from orchestrator.engine import Engine, Workbench
from orchestrator.playbook import parse_playbook
from orchestrator.records import seq_suffix
from orchestrator.store import StateStore
from orchestrator.telemetry import CaseIdGenerator

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, workbench open


@dataclasses.dataclass
class Run:
    engine: Engine
    store: StateStore
    exporter: InMemorySpanExporter
    path: Path

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def events(self) -> list[dict[str, object]]:
        import sqlite3

        con = sqlite3.connect(self.path)
        rows = con.execute("SELECT seq, record FROM outbox ORDER BY seq").fetchall()
        con.close()
        out = []
        for seq, blob in rows:
            record = LogRecord.FromString(blob + seq_suffix(seq))  # as the shipper sends it
            attrs = {
                kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in record.attributes
            }
            out.append(
                {
                    "outbox_seq": seq,
                    "ts_ns": record.time_unix_nano,
                    "trace_id": record.trace_id.hex(),
                    "span_id": record.span_id.hex(),
                    **attrs,
                }
            )
        return out


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Run]:
    counter = iter(range(1000))

    def make(
        playbook_yaml: str,
        bots: BotRegistry,
        capacity: dict[str, int] | None = None,
        workbench: Workbench | None = None,
    ) -> Run:
        path = tmp_path / f"state-{next(counter)}.sqlite"
        store = StateStore(path)
        exporter = InMemorySpanExporter()
        provider = TracerProvider(id_generator=CaseIdGenerator())
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        engine = Engine(
            parse_playbook(playbook_yaml, "test.yaml"),
            bots,
            store,
            VirtualClock(START),
            capacity=capacity or {},
            seed=1,
            tracer=provider.get_tracer("test"),
            workbench=workbench or Workbench(staff=1, handling_s=lambda rng: 600.0),
            pseudonymize=Pseudonymizer(b"test-key-0123456789abcdef"),
        )
        return Run(engine, store, exporter, path)

    return make
