import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta

from opentelemetry.trace import SpanKind, StatusCode

from baton.contract import WORKBENCH_QUEUE, Attr, trace_id_for_case
from orchestrator.bots import BotContext, BotRegistry
from orchestrator.errors import ApplicationException, BusinessException

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # as in conftest: a Monday, workbench open

TWO_STEPS = """\
workflow: wf
version: "3"
steps:
  - name: check
    bot: checker
    queue: q_check
    timeout: 5m
    retry: {max_attempts: 3, initial_interval: 1m, backoff_coefficient: 2,
            maximum_interval: 10m, non_retryable: [Fatal]}
    next: book
    routes:
      inactive: end
      fast_track: book
  - name: book
    bot: booker
    queue: q_book
"""


def bots_with(checker) -> BotRegistry:
    bots = BotRegistry()
    bots.register("checker")(checker)

    @bots.register("booker", "2.0")
    def booker(ctx: BotContext) -> str:
        ctx.elapse(30)
        return "booked"

    return bots


def fails_then_succeeds(failures: int, error: str = "PortalTimeout"):
    def checker(ctx: BotContext) -> str:
        ctx.elapse(10)
        if ctx.attempt <= failures:
            raise ApplicationException(error)
        return "ok"

    return checker


def lifecycles(run, step=None):
    return [
        (e[Attr.LIFECYCLE], e[Attr.ATTEMPT])
        for e in run.events()
        if step is None or e[Attr.STEP] == step
    ]


def test_success_path_emits_one_send_span_per_handoff_and_linked_process_spans(make_run):
    run = make_run(TWO_STEPS, bots_with(fails_then_succeeds(0)))
    run.engine.submit(START, "REF-1", {"payer": "P", "site": "S"})
    stats = run.engine.run()
    spans = run.spans()
    sends = [s for s in spans if s.kind is SpanKind.PRODUCER]
    processes = [s for s in spans if s.kind is SpanKind.CONSUMER]
    assert [s.name for s in sends] == ["send q_check", "send q_book"]
    assert [s.name for s in processes] == ["process q_check", "process q_book"]
    assert stats.handoffs == 2 and stats.attempts == 2 and stats.cases_closed == 1
    # One trace per case, derived from the pseudonymous case id; no parent spans.
    case_id = run.events()[0][Attr.CASE_ID]
    assert {s.context.trace_id for s in spans} == {trace_id_for_case(case_id)}
    assert all(s.parent is None for s in spans)
    # Each process span links to the send span of its handoff.
    for send, process in zip(sends, processes, strict=True):
        assert [link.context.span_id for link in process.links] == [send.context.span_id]
    assert lifecycles(run) == [
        ("enqueued", 1),
        ("started", 1),
        ("completed", 1),
        ("enqueued", 1),
        ("started", 1),
        ("completed", 1),
    ]
    assert processes[1].attributes[Attr.BOT_VERSION] == "2.0"


def test_application_exception_retries_with_backoff_and_links_previous_attempt(make_run):
    run = make_run(TWO_STEPS, bots_with(fails_then_succeeds(2)))
    run.engine.submit(START, "REF-1", {"payer": "P", "site": "S"})
    stats = run.engine.run()
    assert lifecycles(run, "check") == [
        ("enqueued", 1),
        ("started", 1),
        ("failed", 1),
        ("retried", 2),
        ("started", 2),
        ("failed", 2),
        ("retried", 3),
        ("started", 3),
        ("completed", 3),
    ]
    assert stats.retries == 2
    events = [e for e in run.events() if e[Attr.STEP] == "check"]
    retried = [e for e in events if e[Attr.LIFECYCLE] == "retried"]
    started = [e for e in events if e[Attr.LIFECYCLE] == "started"]
    # attempt 2 waits 1 min after the failure, attempt 3 waits 2 min (coefficient 2)
    assert started[1]["ts_ns"] - retried[0]["ts_ns"] == 60 * 10**9
    assert started[2]["ts_ns"] - retried[1]["ts_ns"] == 120 * 10**9
    failed = [e for e in events if e[Attr.LIFECYCLE] == "failed"]
    assert {e[Attr.EXCEPTION_TYPE] for e in failed} == {"application"}
    assert {e[Attr.ERROR_TYPE] for e in failed} == {"PortalTimeout"}
    processes = [s for s in run.spans() if s.name == "process q_check"]
    assert [s.attributes[Attr.ATTEMPT] for s in processes] == [1, 2, 3]
    assert processes[0].status.status_code is StatusCode.ERROR
    assert processes[0].attributes[Attr.ERROR_TYPE] == "PortalTimeout"
    for previous, current in itertools.pairwise(processes):
        assert [link.context.span_id for link in current.links] == [previous.context.span_id]
    # Retries are not handoffs: still one send span per step.
    assert [s.name for s in run.spans() if s.kind is SpanKind.PRODUCER] == [
        "send q_check",
        "send q_book",
    ]


def test_exhausted_retries_escalate_to_the_workbench_and_resume(make_run):
    run = make_run(TWO_STEPS, bots_with(fails_then_succeeds(99)))
    run.engine.submit(START, "REF-1", {"payer": "P", "site": "S"})
    stats = run.engine.run()
    assert stats.escalations == 1 and stats.cases_closed == 1
    check = lifecycles(run, "check")
    assert check[-2:] == [("escalated", 3), ("resumed", 3)]
    assert [lc for lc, _ in check].count("started") == 3
    escalated = next(e for e in run.events() if e[Attr.LIFECYCLE] == "escalated")
    resumed = next(e for e in run.events() if e[Attr.LIFECYCLE] == "resumed")
    assert escalated[Attr.MESSAGING_DESTINATION] == WORKBENCH_QUEUE
    assert resumed[Attr.RESOURCE_KIND] == "human"
    assert resumed[Attr.RESOURCE].startswith("person_")
    assert resumed["ts_ns"] - escalated["ts_ns"] == 600 * 10**9  # handling time, open hours
    # the case then goes on to the next step
    assert lifecycles(run, "book")[-1] == ("completed", 1)
    names = Counter(s.name for s in run.spans())
    assert names["send workbench"] == 1 and names["process workbench"] == 1


def test_escalation_outside_working_hours_waits_for_the_workbench_to_open(make_run):
    run = make_run(TWO_STEPS, bots_with(fails_then_succeeds(99)))
    saturday = START + timedelta(days=5)
    run.engine.submit(saturday, "REF-1", {"payer": "P", "site": "S"})
    run.engine.run()
    resumed = next(e for e in run.events() if e[Attr.LIFECYCLE] == "resumed")
    monday_8am = (START + timedelta(days=7)).replace(hour=8)
    expected_ns = int((monday_8am + timedelta(seconds=600)).timestamp()) * 10**9
    assert resumed["ts_ns"] == expected_ns


def test_non_retryable_error_escalates_on_the_first_failure(make_run):
    run = make_run(TWO_STEPS, bots_with(fails_then_succeeds(99, error="Fatal")))
    run.engine.submit(START, "REF-1", {"payer": "P", "site": "S"})
    run.engine.run()
    assert lifecycles(run, "check")[:4] == [
        ("enqueued", 1),
        ("started", 1),
        ("failed", 1),
        ("escalated", 1),
    ]


def test_business_exception_routes_without_retry(make_run):
    def checker(ctx: BotContext) -> str:
        ctx.elapse(5)
        raise BusinessException("inactive")

    run = make_run(TWO_STEPS, bots_with(checker))
    run.engine.submit(START, "REF-1", {"payer": "P", "site": "S"})
    stats = run.engine.run()
    assert lifecycles(run) == [("enqueued", 1), ("started", 1), ("failed", 1)]
    failed = run.events()[-1]
    assert failed[Attr.EXCEPTION_TYPE] == "business" and failed[Attr.OUTCOME] == "inactive"
    assert stats.retries == 0 and stats.cases_closed == 1


def test_outcome_routes_to_the_named_step(make_run):
    def checker(ctx: BotContext) -> str:
        return "fast_track"

    run = make_run(TWO_STEPS, bots_with(checker))
    run.engine.submit(START, "REF-1", {"payer": "P", "site": "S"})
    run.engine.run()
    assert [e[Attr.STEP] for e in run.events()][-1] == "book"


def test_timeout_is_retried_as_its_own_exception_type(make_run):
    def checker(ctx: BotContext) -> str:
        ctx.elapse(600 if ctx.attempt == 1 else 1)  # step timeout is 5 min
        return "ok"

    run = make_run(TWO_STEPS, bots_with(checker))
    run.engine.submit(START, "REF-1", {"payer": "P", "site": "S"})
    run.engine.run()
    failed = next(e for e in run.events() if e[Attr.LIFECYCLE] == "failed")
    assert failed[Attr.EXCEPTION_TYPE] == "timeout"
    started = next(e for e in run.events() if e[Attr.LIFECYCLE] == "started")
    assert failed["ts_ns"] - started["ts_ns"] == 300 * 10**9


def test_a_crashing_bot_is_retried_as_an_application_failure(make_run):
    def checker(ctx: BotContext) -> str:
        if ctx.attempt == 1:
            raise KeyError("boom")
        return "ok"

    run = make_run(TWO_STEPS, bots_with(checker))
    run.engine.submit(START, "REF-1", {"payer": "P", "site": "S"})
    run.engine.run()
    failed = next(e for e in run.events() if e[Attr.LIFECYCLE] == "failed")
    assert (failed[Attr.EXCEPTION_TYPE], failed[Attr.ERROR_TYPE]) == ("application", "KeyError")


def test_queue_capacity_makes_items_wait_and_priority_goes_first(make_run):
    def checker(ctx: BotContext) -> str:
        ctx.elapse(100)
        return "ok"

    run = make_run(TWO_STEPS, bots_with(checker), capacity={"q_check": 1})
    run.engine.submit(START, "REF-1", {"payer": "P", "site": "S", "priority": 5})
    run.engine.submit(
        START + timedelta(seconds=1), "REF-2", {"payer": "P", "site": "S", "priority": 5}
    )
    run.engine.submit(
        START + timedelta(seconds=2), "REF-3", {"payer": "P", "site": "S", "priority": 1}
    )
    run.engine.run()
    starts = [
        (e[Attr.CASE_ID], e["ts_ns"])
        for e in run.events()
        if e[Attr.LIFECYCLE] == "started" and e[Attr.STEP] == "check"
    ]
    cases = [
        e[Attr.CASE_ID]
        for e in run.events()
        if e[Attr.LIFECYCLE] == "enqueued" and e[Attr.STEP] == "check"
    ]
    # REF-1 first (idle bot), then urgent REF-3 overtakes REF-2
    assert [c for c, _ in starts] == [cases[0], cases[2], cases[1]]
    assert starts[1][1] - starts[0][1] == 100 * 10**9


def test_events_have_unique_deterministic_ids_and_increasing_seq(make_run):
    def run_once():
        run = make_run(TWO_STEPS, bots_with(fails_then_succeeds(1)))
        for i in range(5):
            run.engine.submit(START + timedelta(minutes=i), f"REF-{i}", {"payer": "P", "site": "S"})
        run.engine.run()
        return run.events()

    first, second = run_once(), run_once()
    ids = [e[Attr.EVENT_ID] for e in first]
    assert len(ids) == len(set(ids))
    assert ids == [e[Attr.EVENT_ID] for e in second]
    seqs = [e[Attr.SEQ] for e in first]
    assert seqs == sorted(seqs) == [e["outbox_seq"] for e in first]
    # the raw referral numbers never leave the state store
    assert not any("REF-" in str(v) for e in first for v in e.values())
