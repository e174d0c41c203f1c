"""The production runtime: workers that lease items from a shared state store.

Where the simulator's engine keeps queues in memory on a virtual clock, the runtime keeps
everything in the state store, so any number of worker processes can share one file (or,
later, one PostgreSQL database), a killed worker loses nothing (its lease expires and the item
goes back to its queue), and the human workbench, triggers and workers can all be separate
processes. Every state change is written with its event record in one transaction.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from baton.contract import (
    MESSAGING_SYSTEM,
    WORKBENCH_QUEUE,
    Attr,
    EventName,
    Lifecycle,
    ResourceKind,
    SpanOp,
    process_span_name,
    send_span_name,
    trace_id_for_case,
)
from orchestrator import transitions
from orchestrator.bots import BotContext, BotRegistry
from orchestrator.clock import Clock, WallClock, to_ns, to_us
from orchestrator.errors import OrchestratorError
from orchestrator.playbook import Playbook, Step, validate_handoffs
from orchestrator.records import build_record, encode_attributes, event_id, span_id_for
from orchestrator.spans import SpanEmitter
from orchestrator.states import ItemState
from orchestrator.store import StateBackend
from orchestrator.transitions import Result, Then


@dataclasses.dataclass
class WorkItem:
    """A work item as the state store holds it, with its case's dimensions."""

    item_id: int
    case_id: str
    item_no: int
    workflow: str
    step: str
    queue: str
    state: str
    attempt: int
    priority: int
    due_us: int | None
    available_us: int
    enqueued_us: int
    link_span: str | None
    payer: str | None = None
    site: str | None = None
    version: str = ""

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> WorkItem:
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in fields})

    def row(self, state: ItemState, now_us: int, **changes: Any) -> dict[str, Any]:
        """The store row for this item in ``state`` (not ``asdict``: this is a hot path)."""
        values = dict(self.__dict__)
        values.update(state=state, updated_us=now_us, lease_owner=None, lease_expires_us=None)
        values.update(changes)
        return values


class _LazyPayload(Mapping[str, Any]):
    """The case's identified details, read from the state store only if a bot asks."""

    def __init__(self, store: StateBackend, case_id: str) -> None:
        self._store, self._case_id = store, case_id
        self._data: Mapping[str, Any] | None = None

    def _load(self) -> Mapping[str, Any]:
        if self._data is None:
            case = self._store.case(self._case_id)
            self._data = case["payload"] if case else {}
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


#: Record attributes whose values do not repeat: encoding them skips the wire cache.
_ONCE = frozenset({Attr.ITEM_ID, Attr.DUE_TS})


def item_id_for(case_id: str, item_no: int) -> int:
    """Item ids known before the insert, so records can be built outside the write lock."""
    return span_id_for("item", case_id, item_no) & 0x7FFF_FFFF_FFFF_FFFF


@dataclasses.dataclass
class Writes:
    """What one batch changes, applied in one transaction."""

    items: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    events: list[tuple[str, bytes, int]] = dataclasses.field(default_factory=list)
    closed: list[tuple[str, str, int]] = dataclasses.field(default_factory=list)

    def apply(self, store: StateBackend) -> None:
        store.put_items(self.items)
        store.append_events(self.events)
        store.close_cases(self.closed)
        store.commit()


class Runtime:
    """Runs playbooks' work items with registered bots on a wall clock (or any clock)."""

    def __init__(
        self,
        playbooks: Sequence[Playbook],
        bots: BotRegistry,
        store: StateBackend,
        *,
        worker_id: str,
        pseudonymize: Callable[[str, str], str],
        tracer: trace.Tracer | None = None,
        clock: Clock | None = None,
        lease_s: float = 300.0,
        batch: int = 16,
        queues: Sequence[str] | None = None,
        events: bool = True,
    ) -> None:
        validate_handoffs(playbooks)
        self.playbooks = {p.workflow: p for p in playbooks}
        self.bots = bots
        self.store = store
        self.worker_id = worker_id
        self.pseudonymize = pseudonymize
        self.tracer = tracer or trace.get_tracer(__name__)
        self.spans = SpanEmitter(self.tracer)
        self.clock = clock or WallClock()
        self.lease_us = int(lease_s * 1e6)
        self.batch = batch
        self.queues = tuple(queues or {q for p in playbooks for q in p.queues})
        self.record_events = events
        self._blobs: dict[tuple[int, int, str, str], bytes] = {}

    # -- helpers ---------------------------------------------------------------------------
    def _now(self) -> tuple[int, int]:
        now = self.clock.now()
        return to_ns(now), to_us(now)

    def _playbook(self, workflow: str) -> Playbook:
        try:
            return self.playbooks[workflow]
        except KeyError:
            known = ", ".join(sorted(self.playbooks))
            raise OrchestratorError(f"unknown workflow {workflow!r} (known: {known})") from None

    def _common(self, item: WorkItem, step: Step) -> dict[str, Any]:
        """Attributes that a work item's spans and event records both carry."""
        attrs: dict[str, Any] = {
            Attr.CASE_ID: item.case_id,
            Attr.WORKFLOW: item.workflow,
            Attr.WORKFLOW_VERSION: item.version,
            Attr.STEP: item.step,
            Attr.MESSAGING_DESTINATION: item.queue,
            Attr.ATTEMPT: item.attempt,
            Attr.MAX_ATTEMPTS: step.retry.max_attempts,
            Attr.PRIORITY: item.priority,
        }
        return attrs

    def _encoded(self, item: WorkItem, step: Step) -> bytes:
        """The item's record attributes, encoded once for all its records of one attempt.

        Enqueued, started and completed of one attempt share them: kept by item, attempt,
        queue and version, for the items of the last few batches.
        """
        key = (item.item_id, item.attempt, item.queue, item.version)
        encoded = self._blobs.get(key)
        if encoded is not None:
            return encoded
        attrs = self._common(item, step)
        attrs[Attr.PAYER] = item.payer
        attrs[Attr.SITE] = item.site
        attrs[Attr.ITEM_ID] = item.item_id
        attrs[Attr.DUE_TS] = item.due_us
        encoded = encode_attributes(attrs, once=_ONCE)
        if len(self._blobs) >= 8 * self.batch + 64:
            self._blobs.clear()
        self._blobs[key] = encoded
        return encoded

    def _event(
        self, writes: Writes, item: WorkItem, step: Step, lifecycle: Lifecycle, ts_ns: int,
        span_id: int, **attrs: Any,
    ) -> None:  # fmt: skip
        if not self.record_events:
            return
        eid = event_id(item.case_id, item.item_no, item.attempt, lifecycle)
        writes.events.append(
            (
                eid,
                build_record(
                    ts_ns=ts_ns,
                    event_id=eid,
                    lifecycle=lifecycle,
                    attributes=attrs,
                    trace_id=trace_id_for_case(item.case_id),
                    span_id=span_id,
                    encoded=self._encoded(item, step),
                ),
                ts_ns // 1000,
            )
        )

    def _span(
        self, item: WorkItem, step: Step, op: SpanOp, start_ns: int, end_ns: int,
        link: str | None, extra: Mapping[str, Any] | None = None,
        status: StatusCode = StatusCode.UNSET, description: str | None = None,
    ) -> int:  # fmt: skip
        """Emit one handoff span; returns its span id (0 if nothing was recorded)."""
        if not self.spans.recording:
            return 0
        name = send_span_name(item.queue) if op is SpanOp.SEND else process_span_name(item.queue)
        # Business dimensions and the item id ride on the events only: the events already
        # carry them per handoff, and every span attribute costs encoding.
        attrs = self._common(item, step)
        if item.due_us is not None:
            attrs[Attr.DUE_TS] = item.due_us
        if extra:
            attrs.update(extra)
        attrs[Attr.MESSAGING_SYSTEM] = MESSAGING_SYSTEM
        attrs[Attr.MESSAGING_OPERATION] = op.value
        return self.spans.emit(
            name,
            SpanKind.PRODUCER if op is SpanOp.SEND else SpanKind.CONSUMER,
            trace_id_for_case(item.case_id),
            span_id_for(item.case_id, item.item_no, item.attempt, name),
            start_ns,
            end_ns,
            attrs,
            int(link, 16) if link else None,
            status,
            description,
        )

    @staticmethod
    def _hex(span_id: int) -> str | None:
        return f"{span_id:016x}" if span_id else None

    # -- handoffs ----------------------------------------------------------------------------
    def _enqueue(
        self, writes: Writes, case: Mapping[str, Any], playbook: Playbook, step: Step,
        item_no: int, link: str | None, ts_ns: int,
    ) -> None:  # fmt: skip
        now_us = ts_ns // 1000
        item = WorkItem(
            item_id=item_id_for(case["case_id"], item_no),
            case_id=case["case_id"],
            item_no=item_no,
            workflow=playbook.workflow,
            step=step.name,
            queue=step.queue,
            state=ItemState.NEW,
            attempt=1,
            priority=int(case.get("priority") or step.priority),
            due_us=now_us + int(step.sla_s * 1e6) if step.sla_s else None,
            available_us=now_us + int(step.delay_s * 1e6),
            enqueued_us=now_us,
            link_span=None,
            payer=case.get("payer"),
            site=case.get("site"),
            version=playbook.version,
        )
        span = self._span(item, step, SpanOp.SEND, ts_ns, ts_ns, link)
        item.link_span = self._hex(span)
        writes.items.append(item.row(ItemState.NEW, now_us))
        kind = {Attr.RESOURCE_KIND: ResourceKind.SYSTEM}
        self._event(writes, item, step, Lifecycle.ENQUEUED, ts_ns, span, **kind)

    def start_case(self, workflow: str, reference: str, fields: Mapping[str, Any]) -> str:
        """Open a case and put it on its first queue; starting it twice is a no-op.

        ``reference`` and ``fields["payload"]`` are identified and stay in the state store;
        the returned case id is the pseudonym everything else uses.
        """
        playbook = self._playbook(workflow)
        case_id = self.pseudonymize("case", reference)
        ts_ns, now_us = self._now()
        case = {
            **fields,
            "case_id": case_id,
            "workflow": playbook.workflow,
            "version": playbook.version,
            "created_us": now_us,
        }
        if not self.store.add_case(case_id, reference, case):
            self.store.commit()
            return case_id
        writes = Writes()
        self._enqueue(writes, case, playbook, playbook.first, 1, None, ts_ns)
        writes.apply(self.store)
        return case_id

    # -- workers -----------------------------------------------------------------------------
    def work_once(self) -> int:
        """Lease a batch of ready items, run their bots, record the results. Returns the count."""
        ts_ns, now_us = self._now()
        rows = self.store.lease(self.worker_id, self.queues, now_us, self.lease_us, self.batch)
        # The lease commits on its own, so the started records are built outside the writer
        # lock, then written in a short transaction of their own before any bot runs. A
        # crash between the two leaves leased items without a start: their lease expires
        # and they are recorded abandoned, then retried, as no bot ever ran them.
        self.store.commit()
        if not rows:
            return 0
        leased: list[tuple[WorkItem, Playbook, Step]] = []
        writes = Writes()
        bot = {Attr.RESOURCE: self.worker_id, Attr.RESOURCE_KIND: ResourceKind.BOT}
        for row in rows:
            item = WorkItem.from_row(row)
            playbook = self._playbook(item.workflow)
            step = playbook.step(item.step)
            # The span id is deterministic, so the started event names the span before it
            # exists.
            name = process_span_name(item.queue)
            span_id = span_id_for(item.case_id, item.item_no, item.attempt, name)
            self._event(writes, item, step, Lifecycle.STARTED, ts_ns, span_id, **bot)
            leased.append((item, playbook, step))
        if writes.events:
            self.store.append_events(writes.events)
            self.store.commit()
        writes = Writes()
        for item, playbook, step in leased:
            self._finish(writes, item, playbook, step, ts_ns, self._run_bot(item, step))
        writes.apply(self.store)
        return len(rows)

    def _run_bot(self, item: WorkItem, step: Step) -> Result:
        ctx = BotContext(
            case_id=item.case_id,
            step=item.step,
            attempt=item.attempt,
            payer=item.payer or "",
            site=item.site or "",
            priority=item.priority,
            payload=_LazyPayload(self.store, item.case_id),
            clock=self.clock,
            rng=random.Random(f"{item.case_id}:{item.item_no}:{item.attempt}"),
        )
        began = time.monotonic()
        result = transitions.call_bot(self.bots[step.bot], ctx, step.bot)
        return transitions.timed_out(result, max(ctx.elapsed_s, time.monotonic() - began), step)

    def _finish(
        self, writes: Writes, item: WorkItem, playbook: Playbook, step: Step, started_ns: int,
        result: Result,
    ) -> None:  # fmt: skip
        """Apply the shared decision (:func:`transitions.finish`) to the state store."""
        ts_ns, now_us = self._now()
        done = transitions.finish(step, item.attempt, result)
        extra = {
            Attr.BOT_ID: self.worker_id,
            Attr.BOT_VERSION: self.bots.versions.get(step.bot, ""),
            **done.span_attributes,
        }
        span = self._span(
            item, step, SpanOp.PROCESS, started_ns, ts_ns, item.link_span, extra, done.status,
            done.status_description,
        )  # fmt: skip
        writes.items.append(item.row(done.state, now_us))
        bot = {Attr.RESOURCE: self.worker_id, Attr.RESOURCE_KIND: ResourceKind.BOT}
        self._event(writes, item, step, done.lifecycle, ts_ns, span, **bot, **done.event_attributes)
        if done.then is Then.ADVANCE:
            self._advance(writes, item, playbook, done.target, span, done.outcome, ts_ns)
        elif done.then is Then.RETRY:
            item.attempt += 1
            item.link_span = self._hex(span)
            available = now_us + int(done.retry_delay_s * 1e6)
            writes.items.append(item.row(ItemState.RETRIED, now_us, available_us=available))
            system = {Attr.RESOURCE_KIND: ResourceKind.SYSTEM}
            self._event(writes, item, step, Lifecycle.RETRIED, ts_ns, span, **system)
        elif done.then is Then.FAIL_CASE:
            writes.closed.append((item.case_id, "failed", now_us))
        else:
            item.queue = WORKBENCH_QUEUE
            send = self._span(item, step, SpanOp.SEND, ts_ns, ts_ns, self._hex(span))
            item.link_span = self._hex(send)
            writes.items.append(item.row(ItemState.ESCALATED, now_us, enqueued_us=now_us))
            system = {Attr.RESOURCE_KIND: ResourceKind.SYSTEM}
            self._event(writes, item, step, Lifecycle.ESCALATED, ts_ns, send, **system)

    def _advance(
        self, writes: Writes, item: WorkItem, playbook: Playbook, target: str, span: int,
        outcome: str | None, ts_ns: int,
    ) -> None:  # fmt: skip
        hop = transitions.next_step(self.playbooks, playbook, target)
        if hop is None:
            writes.closed.append((item.case_id, outcome or "completed", ts_ns // 1000))
            return
        case = {
            "case_id": item.case_id,
            "priority": item.priority,
            "payer": item.payer,
            "site": item.site,
        }
        self._enqueue(writes, case, hop[0], hop[1], item.item_no + 1, self._hex(span), ts_ns)

    # -- the human workbench -----------------------------------------------------------------
    def escalated(self) -> list[dict[str, Any]]:
        """Items waiting at the workbench, oldest first, with their case's identified details.

        This is the identified view: only the orchestrator's own authenticated surfaces
        (its API, the local CLI on the state store) may show it.
        """
        items = self.store.items("state = ?", (ItemState.ESCALATED,))
        for item in items:
            case = self.store.case(item["case_id"]) or {}
            item["reference"] = case.get("reference")
            item["payload"] = case.get("payload", {})
            item["payer"], item["site"] = case.get("payer"), case.get("site")
        return sorted(items, key=lambda i: (i["priority"], i["enqueued_us"]))

    def resolve(self, item_id: int, outcome: str, person: str) -> None:
        """A person resolved an escalated item: record it and resume the case at its route."""
        rows = self.store.items("item_id = ?", (item_id,))
        if not rows:
            raise OrchestratorError(f"no work item {item_id}")
        row = rows[0]
        if row["state"] != ItemState.ESCALATED:
            raise OrchestratorError(
                f"item {item_id} is {row['state']}, not waiting at the workbench"
            )
        case = self.store.case(row["case_id"]) or {}
        item = WorkItem.from_row(
            row
            | {
                "payer": case.get("payer"),
                "site": case.get("site"),
                "version": case.get("version", ""),
            }
        )
        playbook = self._playbook(item.workflow)
        step = playbook.step(item.step)
        ts_ns, now_us = self._now()
        resource = self.pseudonymize("person", person)
        human = {Attr.RESOURCE: resource, Attr.OUTCOME: outcome}
        span = self._span(item, step, SpanOp.PROCESS, ts_ns, ts_ns, item.link_span, human)
        writes = Writes()
        writes.items.append(item.row(ItemState.SUCCESSFUL, now_us))
        self._event(
            writes, item, step, Lifecycle.RESUMED, ts_ns, span,
            **{Attr.RESOURCE: resource, Attr.RESOURCE_KIND: ResourceKind.HUMAN,
               Attr.OUTCOME: outcome},
        )  # fmt: skip
        self._advance(writes, item, playbook, step.route(outcome), span, outcome, ts_ns)
        writes.apply(self.store)

    # -- the fleet ---------------------------------------------------------------------------
    def heartbeat(self, bot: str = "", version: str = "") -> None:
        """Report this worker alive: a row in the state store and a heartbeat log record."""
        ts_ns, now_us = self._now()
        self.store.heartbeat(self.worker_id, bot, version, now_us)
        if self.record_events:
            eid = event_id("heartbeat", self.worker_id, now_us)
            record = build_record(
                ts_ns=ts_ns,
                event_id=eid,
                lifecycle="alive",
                attributes={Attr.RESOURCE: self.worker_id, Attr.BOT_ID: bot or None},
                event_name=EventName.HEARTBEAT,
            )
            self.store.append_event(eid, record, now_us)
        self.store.commit()

    def reap(self, offline_after_s: float) -> int:
        """Mark silent workers offline and put their (and any expired) leased items back.

        Each such item records ``abandoned`` for the lost attempt and ``retried`` for the next.
        """
        ts_ns, now_us = self._now()
        offline = self.store.mark_offline(now_us - int(offline_after_s * 1e6))
        rows = self.store.expired_leases(now_us, offline)
        writes = Writes()
        for row in rows:
            item = WorkItem.from_row(row)
            step = self._playbook(item.workflow).step(item.step)
            system = {Attr.RESOURCE_KIND: ResourceKind.SYSTEM}
            self._event(writes, item, step, Lifecycle.ABANDONED, ts_ns, 0, **system,
                        **{Attr.RESOURCE: row.get("lease_owner")})  # fmt: skip
            item.attempt += 1
            writes.items.append(item.row(ItemState.RETRIED, now_us, available_us=now_us))
            self._event(writes, item, step, Lifecycle.RETRIED, ts_ns, 0, **system)
        writes.apply(self.store)
        return len(rows)
