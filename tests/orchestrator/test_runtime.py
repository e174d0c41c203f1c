"""The production runtime over a real SQLite file: leasing, retries, escalation, the fleet."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from baton.contract import WORKBENCH_QUEUE, Attr
from baton.pseudonym import Pseudonymizer
from orchestrator.bots import BotContext, BotRegistry
from orchestrator.clock import VirtualClock
from orchestrator.errors import ApplicationException, OrchestratorError
from orchestrator.playbook import parse_playbook
from orchestrator.records import seq_suffix
from orchestrator.runtime import Runtime
from orchestrator.store import StateStore
from orchestrator.telemetry import CaseIdGenerator

PLAYBOOK = parse_playbook(
    """\
workflow: wf
version: "1"
steps:
  - name: check
    bot: checker
    queue: q_check
    retry: {max_attempts: 2, initial_interval: 1m}
    next: book
    routes: {manual_ok: book}
  - name: book
    bot: booker
    queue: q_book
""",
    "wf.yaml",
)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def events(path: Path) -> list[dict[str, object]]:
    import sqlite3

    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

    con = sqlite3.connect(path)
    rows = con.execute("SELECT seq, record FROM outbox ORDER BY seq").fetchall()
    out = []
    for seq, blob in rows:
        record = LogRecord.FromString(blob + seq_suffix(seq))
        attrs = {
            kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in record.attributes
        }
        out.append({"name": record.event_name, "ts_ns": record.time_unix_nano, **attrs})
    return out


@pytest.fixture
def world(tmp_path: Path):
    clock = VirtualClock(START)
    exporter = InMemorySpanExporter()
    provider = TracerProvider(id_generator=CaseIdGenerator())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    path = tmp_path / "state.sqlite"
    calls: dict[str, int] = {"checker": 0}

    def make(worker: str, checker: Callable[[BotContext], str] | None = None) -> Runtime:
        bots = BotRegistry()

        @bots.register("checker")
        def default_checker(ctx: BotContext) -> str:
            calls["checker"] += 1
            return "ok"

        if checker is not None:
            bots.register("checker")(checker)
        bots.register("booker")(lambda ctx: "booked")
        return Runtime(
            [PLAYBOOK], bots, StateStore(path), worker_id=worker, clock=clock,
            pseudonymize=Pseudonymizer(b"k" * 16), tracer=provider.get_tracer("t"), lease_s=60,
        )  # fmt: skip

    return make, clock, exporter, path, calls


def drain(runtime: Runtime) -> int:
    total = 0
    while n := runtime.work_once():
        total += n
    return total


def test_a_case_runs_to_the_end_through_the_store(world):
    make, _, exporter, path, _ = world
    runtime = make("w1")
    case_id = runtime.start_case(
        "wf", "REF-1", {"payer": "P", "site": "S", "payload": {"mrn": "1"}}
    )
    assert runtime.start_case("wf", "REF-1", {"payer": "P", "site": "S"}) == case_id
    assert drain(runtime) == 2
    lifecycles = [(e[Attr.STEP], e[Attr.LIFECYCLE]) for e in events(path)]
    assert lifecycles == [
        ("check", "enqueued"), ("check", "started"), ("check", "completed"),
        ("book", "enqueued"), ("book", "started"), ("book", "completed"),
    ]  # fmt: skip
    assert runtime.store.case(case_id)["status"] == "closed"
    spans = exporter.get_finished_spans()
    assert [s.kind for s in spans].count(SpanKind.PRODUCER) == 2
    process = [s for s in spans if s.kind is SpanKind.CONSUMER]
    send = {s.context.span_id: s for s in spans if s.kind is SpanKind.PRODUCER}
    assert all(s.links[0].context.span_id in send for s in process)
    seqs = [e[Attr.SEQ] for e in events(path)]
    assert seqs == sorted(seqs)
    assert not any("REF-1" in str(v) for e in events(path) for v in e.values())


def test_retry_waits_for_its_backoff(world):
    make, clock, _, path, _ = world

    def flaky(ctx: BotContext) -> str:
        if ctx.attempt == 1:
            raise ApplicationException("PortalTimeout")
        return "ok"

    runtime = make("w1", flaky)
    runtime.start_case("wf", "REF-1", {"payer": "P", "site": "S"})
    assert runtime.work_once() == 1
    assert runtime.work_once() == 0  # the retry is not available yet
    clock.sleep(61)
    assert drain(runtime) == 2
    assert [e[Attr.LIFECYCLE] for e in events(path)][:5] == [
        "enqueued", "started", "failed", "retried", "started"]  # fmt: skip


def test_exhausted_retries_escalate_and_a_person_resumes_the_case(world):
    make, clock, exporter, path, _ = world

    def broken(ctx: BotContext) -> str:
        raise ApplicationException("PortalDown")

    runtime = make("w1", broken)
    runtime.start_case("wf", "REF-9", {"payer": "P", "site": "S", "payload": {"name": "Ann"}})
    runtime.work_once()
    clock.sleep(120)
    runtime.work_once()
    waiting = runtime.escalated()
    assert len(waiting) == 1 and waiting[0]["queue"] == WORKBENCH_QUEUE
    assert waiting[0]["reference"] == "REF-9" and waiting[0]["payload"] == {"name": "Ann"}
    with pytest.raises(OrchestratorError, match="no work item"):
        runtime.resolve(123, "manual_ok", "nurse.kim")
    runtime.resolve(waiting[0]["item_id"], "manual_ok", "nurse.kim")
    with pytest.raises(OrchestratorError, match="not waiting at the workbench"):
        runtime.resolve(waiting[0]["item_id"], "manual_ok", "nurse.kim")
    assert drain(runtime) == 1
    trail = [(e[Attr.STEP], e[Attr.LIFECYCLE]) for e in events(path)]
    assert ("check", "escalated") in trail and ("check", "resumed") in trail
    assert trail[-1] == ("book", "completed")
    resumed = next(e for e in events(path) if e[Attr.LIFECYCLE] == "resumed")
    assert resumed[Attr.RESOURCE_KIND] == "human" and "nurse" not in resumed[Attr.RESOURCE]
    names = [s.name for s in exporter.get_finished_spans()]
    assert "send workbench" in names and "process workbench" in names


def test_two_workers_never_lease_the_same_item(world):
    make, _, _, path, calls = world
    a, b = make("a"), make("b")
    for i in range(20):
        a.start_case("wf", f"REF-{i}", {"payer": "P", "site": "S"})
    a.batch = b.batch = 3
    done = 0
    while True:
        n = a.work_once() + b.work_once()
        if not n:
            break
        done += n
    assert done == 40 and calls["checker"] == 20
    started = [e for e in events(path) if e[Attr.LIFECYCLE] == "started"]
    assert len({(e[Attr.CASE_ID], e[Attr.STEP]) for e in started}) == 40
    assert {e[Attr.RESOURCE] for e in started} == {"a", "b"}


def test_a_dead_workers_items_are_abandoned_then_retried(world):
    make, clock, _, path, _ = world
    dead, alive = make("dead"), make("alive")
    dead.start_case("wf", "REF-1", {"payer": "P", "site": "S"})
    dead.heartbeat("checker")
    # the dead worker leases and never finishes
    dead.store.lease("dead", ("q_check",), int(clock.now().timestamp() * 1e6), 3_600_000_000, 5)
    dead.store.commit()
    assert alive.work_once() == 0
    clock.sleep(30)
    alive.heartbeat("checker")
    assert alive.reap(offline_after_s=20) == 1  # silent for 30 s: offline, item returned
    assert alive.store.count("workers", "state = 'offline'") == 1
    assert drain(alive) == 2
    lifecycles = [(e[Attr.LIFECYCLE], e.get(Attr.ATTEMPT)) for e in events(path)
                  if e["name"] == "baton.work_item" and e[Attr.STEP] == "check"]  # fmt: skip
    assert lifecycles == [("enqueued", 1), ("abandoned", 1), ("retried", 2), ("started", 2),
                          ("completed", 2)]  # fmt: skip
    heartbeats = [e for e in events(path) if e["name"] == "baton.heartbeat"]
    assert {e[Attr.RESOURCE] for e in heartbeats} == {"dead", "alive"}


def test_expired_lease_without_heartbeats(world):
    make, clock, _, _, _ = world
    runtime = make("w")
    runtime.start_case("wf", "REF-1", {"payer": "P", "site": "S"})
    runtime.store.lease("ghost", ("q_check",), int(clock.now().timestamp() * 1e6), 10_000_000, 1)
    runtime.store.commit()
    assert runtime.reap(offline_after_s=3600) == 0
    clock.sleep(11)
    assert runtime.reap(offline_after_s=3600) == 1
    assert drain(runtime) == 2


def test_unknown_workflow_is_a_clear_error(world):
    make, *_ = world
    with pytest.raises(OrchestratorError, match="unknown workflow 'nope' \\(known: wf\\)"):
        make("w").start_case("nope", "REF-1", {})


def test_started_before_now_counts_for_timeouts(world):
    make, _, _, path, _ = world

    def slow(ctx: BotContext) -> str:
        ctx.elapse(timedelta(hours=1).total_seconds())
        return "ok"

    runtime = make("w", slow)
    runtime.start_case("wf", "REF-1", {"payer": "P", "site": "S"})
    runtime.work_once()
    failed = [e for e in events(path) if e[Attr.LIFECYCLE] == "failed"]
    assert failed and failed[0][Attr.EXCEPTION_TYPE] == "timeout"
