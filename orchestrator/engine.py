"""The orchestration engine on a virtual clock: queues, bots, retries, escalation.

It is a discrete-event loop: arrivals, bot completions, retry timers and the workbench's
opening hours are timed actions on a heap, so a month of a clinic runs in seconds while
every timestamp stays realistic. Each state change is written to the state store with its
event record in the same (grouped) transaction, and each handoff and attempt is a span
through the OpenTelemetry API, exactly as the telemetry contract says.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

from baton.contract import (
    EVENT_ONLY_ATTRIBUTES,
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
from orchestrator.clock import VirtualClock, to_ns, to_us
from orchestrator.playbook import Playbook, Step, validate_handoffs
from orchestrator.records import build_record, event_id, span_id_for
from orchestrator.states import ItemState
from orchestrator.store import StateBackend
from orchestrator.telemetry import case_trace
from orchestrator.transitions import Result, Then

#: Actions between grouped commits of the state store.
COMMIT_EVERY = 256


@dataclasses.dataclass
class Case:
    case_id: str
    reference: str
    payer: str
    site: str
    priority: int
    payload: Mapping[str, Any]
    ordinal: int
    trace_id: int
    items: int = 0


@dataclasses.dataclass
class Item:
    item_id: int
    item_no: int
    case: Case
    playbook: Playbook
    step: Step
    attempt: int
    enqueued_at: datetime
    due: datetime | None
    link: trace.SpanContext | None = None
    queue: str = ""


@dataclasses.dataclass
class Workbench:
    """People who resolve escalated items, during their working hours."""

    staff: int = 2
    open_hour: int = 8
    close_hour: int = 17
    weekdays: frozenset[int] = frozenset(range(5))
    handling_s: Callable[[random.Random], float] = lambda rng: rng.uniform(600, 1800)

    def is_open(self, moment: datetime) -> bool:
        return moment.weekday() in self.weekdays and self.open_hour <= moment.hour < self.close_hour

    def next_open(self, moment: datetime) -> datetime:
        day = moment.replace(hour=self.open_hour, minute=0, second=0, microsecond=0)
        if moment.hour >= self.open_hour:
            day += timedelta(days=1)
        while day.weekday() not in self.weekdays:
            day += timedelta(days=1)
        return day


@dataclasses.dataclass
class EngineStats:
    """What the engine emitted, so a run can be checked against what the collector holds."""

    cases: int = 0
    cases_closed: int = 0
    handoffs: int = 0
    attempts: int = 0
    attempts_finished: int = 0
    events: int = 0
    retries: int = 0
    escalations: int = 0


class Engine:
    """Runs one playbook's cases on a virtual clock."""

    def __init__(
        self,
        playbooks: Playbook | Sequence[Playbook],
        bots: BotRegistry,
        store: StateBackend,
        clock: VirtualClock,
        *,
        capacity: Mapping[str, int],
        seed: int,
        tracer: trace.Tracer | None = None,
        workbench: Workbench | None = None,
        pseudonymize: Callable[[str, str], str],
    ) -> None:
        chain = [playbooks] if isinstance(playbooks, Playbook) else list(playbooks)
        validate_handoffs(chain)
        self.playbooks = {p.workflow: p for p in chain}
        self.playbook = chain[0]  # where arriving cases start
        self.bots = bots
        self.store = store
        self.clock = clock
        self.seed = seed
        self.tracer = tracer or trace.get_tracer(__name__)
        self.workbench = workbench or Workbench()
        self.pseudonymize = pseudonymize
        self.stats = EngineStats()
        self._heap: list[tuple[datetime, int, str, Any]] = []
        self._tick = itertools.count()
        self._item_ids = itertools.count(1)
        self._ready: dict[str, list[tuple[int, datetime, int, Item]]] = {}
        self._free: dict[str, list[str]] = {}
        for step in (s for p in chain for s in p.steps):
            count = capacity.get(step.queue, 1)
            self._free.setdefault(step.queue, [f"{step.bot}#{i + 1}" for i in range(count)])
        staff = [self.pseudonymize("person", f"staff-{i + 1}") for i in range(self.workbench.staff)]
        self._free[WORKBENCH_QUEUE] = staff
        self._workbench_wakeup: datetime | None = None
        self._actions = 0

    # -- scheduling ------------------------------------------------------------------------
    def _at(self, moment: datetime, kind: str, payload: Any) -> None:
        heapq.heappush(self._heap, (moment, next(self._tick), kind, payload))

    def submit(self, at: datetime, reference: str, fields: Mapping[str, Any]) -> None:
        """A case that arrives at ``at`` (a referral, a claim); ``reference`` is identified."""
        self._at(at, "arrival", (reference, dict(fields)))

    def run(self, until: datetime | None = None) -> EngineStats:
        """Process actions in time order until none are left (or ``until``)."""
        handlers: dict[str, Callable[[Any], None]] = {
            "arrival": self._on_arrival,
            "available": self._on_available,
            "finish": self._on_finish,
            "workbench": self._on_workbench_open,
            "human_done": self._on_human_done,
        }
        while self._heap:
            if until is not None and self._heap[0][0] > until:
                break
            moment, _, kind, payload = heapq.heappop(self._heap)
            self.clock.advance_to(moment)
            handlers[kind](payload)
            self._actions += 1
            if self._actions % COMMIT_EVERY == 0:
                self.store.commit()
        self.store.commit()
        return self.stats

    def publish_clock(self) -> None:
        """Record the virtual "now", so alerts and figures can use the simulator's time."""
        now = self.clock.now()
        eid = event_id("clock", to_us(now))
        record = build_record(
            ts_ns=to_ns(now), event_id=eid, lifecycle="tick", attributes={},
            event_name=EventName.CLOCK,
        )  # fmt: skip
        self.store.append_event(eid, record, to_us(now))

    # -- telemetry helpers -----------------------------------------------------------------
    def _attrs(self, item: Item, **extra: Any) -> dict[str, Any]:
        case = item.case
        attrs: dict[str, Any] = {
            Attr.CASE_ID: case.case_id,
            Attr.WORKFLOW: item.playbook.workflow,
            Attr.WORKFLOW_VERSION: item.playbook.version,
            Attr.STEP: item.step.name,
            Attr.MESSAGING_DESTINATION: item.queue,
            Attr.ATTEMPT: item.attempt,
            Attr.MAX_ATTEMPTS: item.step.retry.max_attempts,
            Attr.PRIORITY: case.priority,
            Attr.PAYER: case.payer,
            Attr.SITE: case.site,
            Attr.ITEM_ID: item.item_id,
        }
        if item.due is not None:
            attrs[Attr.DUE_TS] = to_us(item.due)
        attrs.update({k: v for k, v in extra.items() if v is not None})
        return attrs

    def _event(self, item: Item, lifecycle: Lifecycle, span: Span | None, **attrs: Any) -> None:
        now_ns = to_ns(self.clock.now())
        eid = event_id(item.case.case_id, item.item_no, item.attempt, lifecycle)
        ctx = span.get_span_context() if span is not None else None
        record = build_record(
            ts_ns=now_ns,
            event_id=eid,
            lifecycle=lifecycle,
            attributes=self._attrs(item, **attrs),
            trace_id=item.case.trace_id,
            span_id=ctx.span_id if ctx is not None and ctx.is_valid else 0,
        )
        self.store.append_event(eid, record, now_ns // 1000)
        self.stats.events += 1

    def _span(self, item: Item, op: SpanOp, links: list[trace.SpanContext]) -> Span:
        name = send_span_name(item.queue) if op is SpanOp.SEND else process_span_name(item.queue)
        kind = SpanKind.PRODUCER if op is SpanOp.SEND else SpanKind.CONSUMER
        attrs = self._attrs(item)
        for key in EVENT_ONLY_ATTRIBUTES:  # business dimensions ride on the events only
            attrs.pop(key, None)
        attrs[Attr.MESSAGING_SYSTEM] = MESSAGING_SYSTEM
        attrs[Attr.MESSAGING_OPERATION] = str(op)
        span_id = span_id_for(item.case.case_id, item.item_no, item.attempt, name)
        with case_trace(item.case.trace_id, span_id):
            return self.tracer.start_span(
                name,
                context=Context(),
                kind=kind,
                attributes=attrs,
                links=[Link(c) for c in links if c is not None and c.is_valid],
                start_time=to_ns(self.clock.now()),
            )

    def _save(self, item: Item, state: ItemState, defer_until: datetime | None = None) -> None:
        now_us = to_us(self.clock.now())
        self.store.put_item(
            {
                "item_id": item.item_id,
                "case_id": item.case.case_id,
                "item_no": item.item_no,
                "workflow": item.playbook.workflow,
                "step": item.step.name,
                "queue": item.queue,
                "state": state,
                "attempt": item.attempt,
                "priority": item.case.priority,
                "due_us": to_us(item.due) if item.due else None,
                "available_us": to_us(defer_until) if defer_until else now_us,
                "enqueued_us": to_us(item.enqueued_at),
                "updated_us": now_us,
                "link_span": f"{item.link.span_id:016x}" if item.link else None,
            }
        )

    # -- handoffs --------------------------------------------------------------------------
    def _on_arrival(self, payload: tuple[str, dict[str, Any]]) -> None:
        reference, fields = payload
        case_id = self.pseudonymize("case", reference)
        self.stats.cases += 1
        case = Case(
            case_id=case_id,
            reference=reference,
            payer=fields["payer"],
            site=fields["site"],
            priority=int(fields.get("priority", self.playbook.first.priority)),
            payload=fields.get("payload", {}),
            ordinal=self.stats.cases,
            trace_id=trace_id_for_case(case_id),
        )
        self.store.add_case(
            case_id,
            reference,
            {
                **fields,
                "workflow": self.playbook.workflow,
                "version": self.playbook.version,
                "created_us": to_us(self.clock.now()),
            },
        )
        self._enqueue(case, self.playbook, self.playbook.first, previous=None)

    def _enqueue(
        self, case: Case, playbook: Playbook, step: Step, previous: trace.SpanContext | None
    ) -> None:
        now = self.clock.now()
        case.items += 1
        item = Item(
            item_id=next(self._item_ids),
            item_no=case.items,
            case=case,
            playbook=playbook,
            step=step,
            attempt=1,
            enqueued_at=now,
            due=now + timedelta(seconds=step.sla_s) if step.sla_s else None,
            queue=step.queue,
        )
        span = self._span(item, SpanOp.SEND, [previous] if previous else [])
        span.end(end_time=to_ns(now))
        item.link = span.get_span_context()
        self.stats.handoffs += 1
        available = now + timedelta(seconds=step.delay_s) if step.delay_s else None
        self._save(item, ItemState.NEW, defer_until=available)
        self._event(item, Lifecycle.ENQUEUED, span, **{Attr.RESOURCE_KIND: ResourceKind.SYSTEM})
        if available is None:
            self._make_ready(item)
        else:  # deferred (a status poll): waits on its queue until then
            self._at(available, "available", item)

    def _make_ready(self, item: Item) -> None:
        entry = (item.case.priority, item.enqueued_at, item.item_id, item)
        heapq.heappush(self._ready.setdefault(item.queue, []), entry)
        self._dispatch(item.queue)

    def _on_available(self, item: Item) -> None:
        self._make_ready(item)

    def _dispatch(self, queue: str) -> None:
        if queue == WORKBENCH_QUEUE:
            self._dispatch_workbench()
            return
        ready = self._ready.get(queue, [])
        free = self._free[queue]
        while ready and free:
            item = heapq.heappop(ready)[3]
            self._start(item, free.pop(0))

    # -- bot attempts ----------------------------------------------------------------------
    def _rng(self, item: Item) -> random.Random:
        return random.Random(f"{self.seed}:{item.case.ordinal}:{item.item_no}:{item.attempt}")

    def _start(self, item: Item, bot_instance: str) -> None:
        step = item.step
        now = self.clock.now()
        span = self._span(item, SpanOp.PROCESS, [item.link] if item.link else [])
        bot_version = self.bots.versions.get(step.bot, "")
        span.set_attributes({Attr.BOT_ID: bot_instance, Attr.BOT_VERSION: bot_version})
        self.stats.attempts += 1
        self._save(item, ItemState.IN_PROGRESS)
        resource = {Attr.RESOURCE: bot_instance, Attr.RESOURCE_KIND: ResourceKind.BOT}
        self._event(item, Lifecycle.STARTED, span, **resource)
        ctx = BotContext(
            case_id=item.case.case_id,
            step=step.name,
            attempt=item.attempt,
            payer=item.case.payer,
            site=item.case.site,
            priority=item.case.priority,
            payload=item.case.payload,
            clock=VirtualClock(now),
            rng=self._rng(item),
        )
        result = transitions.call_bot(self.bots[step.bot], ctx, step.bot)
        result = transitions.timed_out(result, ctx.elapsed_s, step)
        finish = now + timedelta(seconds=min(ctx.elapsed_s, step.timeout_s))
        self._at(finish, "finish", (item, span, bot_instance, result))

    def _on_finish(self, payload: tuple[Item, Span, str, Result]) -> None:
        """Apply the shared decision (:func:`transitions.finish`) in memory and the store."""
        item, span, bot_instance, result = payload
        now = self.clock.now()
        self.stats.attempts_finished += 1
        self._free[item.queue].append(bot_instance)
        self._free[item.queue].sort()
        done = transitions.finish(item.step, item.attempt, result)
        span.set_attributes(done.span_attributes)
        span.set_status(Status(done.status, done.status_description))
        span.end(end_time=to_ns(now))
        self._save(item, done.state)
        resource = {Attr.RESOURCE: bot_instance, Attr.RESOURCE_KIND: ResourceKind.BOT}
        self._event(item, done.lifecycle, span, **resource, **done.event_attributes)
        if done.then is Then.ADVANCE:
            self._advance(item, done.target, span.get_span_context(), done.outcome)
        elif done.then is Then.RETRY:
            self._retry(item, span, done.retry_delay_s)
        elif done.then is Then.FAIL_CASE:
            self._close(item.case, "failed")
        else:
            self._escalate(item, span)
        self._dispatch(item.queue)

    def _retry(self, item: Item, span: Span, delay_s: float) -> None:
        item.attempt += 1
        item.link = span.get_span_context()
        available = self.clock.now() + timedelta(seconds=delay_s)
        self.stats.retries += 1
        self._save(item, ItemState.RETRIED, defer_until=available)
        self._event(item, Lifecycle.RETRIED, span, **{Attr.RESOURCE_KIND: ResourceKind.SYSTEM})
        item.enqueued_at = available
        self._at(available, "available", item)

    def _escalate(self, item: Item, span: Span) -> None:
        self.stats.escalations += 1
        item.queue = WORKBENCH_QUEUE
        send = self._span(item, SpanOp.SEND, [span.get_span_context()])
        send.end(end_time=to_ns(self.clock.now()))
        self.stats.handoffs += 1
        item.link = send.get_span_context()
        item.enqueued_at = self.clock.now()
        self._save(item, ItemState.ESCALATED)
        self._event(item, Lifecycle.ESCALATED, send, **{Attr.RESOURCE_KIND: ResourceKind.SYSTEM})
        self._make_ready(item)

    def _advance(
        self, item: Item, target: str, previous: trace.SpanContext, outcome: str | None
    ) -> None:
        hop = transitions.next_step(self.playbooks, item.playbook, target)
        if hop is None:
            self._close(item.case, outcome or "completed")
        else:
            self._enqueue(item.case, hop[0], hop[1], previous)

    def _close(self, case: Case, outcome: str) -> None:
        self.store.close_case(case.case_id, outcome, to_us(self.clock.now()))
        self.stats.cases_closed += 1

    # -- the human workbench ---------------------------------------------------------------
    def _dispatch_workbench(self) -> None:
        now = self.clock.now()
        ready = self._ready.get(WORKBENCH_QUEUE, [])
        if not ready:
            return
        if not self.workbench.is_open(now):
            wake = self.workbench.next_open(now)
            if self._workbench_wakeup != wake:
                self._workbench_wakeup = wake
                self._at(wake, "workbench", None)
            return
        free = self._free[WORKBENCH_QUEUE]
        while ready and free:
            item = heapq.heappop(ready)[3]
            person = free.pop(0)
            span = self._span(item, SpanOp.PROCESS, [item.link] if item.link else [])
            span.set_attribute(Attr.RESOURCE, person)
            self.stats.attempts += 1
            self._save(item, ItemState.IN_PROGRESS)
            done = now + timedelta(seconds=self.workbench.handling_s(self._rng(item)))
            self._at(done, "human_done", (item, span, person))

    def _on_workbench_open(self, _: None) -> None:
        self._workbench_wakeup = None
        self._dispatch_workbench()

    def _on_human_done(self, payload: tuple[Item, Span, str]) -> None:
        item, span, person = payload
        now = self.clock.now()
        span.set_attribute(Attr.OUTCOME, "resolved")
        span.set_status(Status(StatusCode.OK))
        span.end(end_time=to_ns(now))
        self.stats.attempts_finished += 1
        self._free[WORKBENCH_QUEUE].append(person)
        self._save(item, ItemState.SUCCESSFUL)
        self._event(
            item,
            Lifecycle.RESUMED,
            span,
            **{
                Attr.RESOURCE: person,
                Attr.RESOURCE_KIND: ResourceKind.HUMAN,
                Attr.OUTCOME: "resolved",
            },
        )
        self._advance(item, item.step.next, span.get_span_context(), "resolved")
        self._dispatch_workbench()
