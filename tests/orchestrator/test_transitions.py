"""The one set of lifecycle decisions the engine and the runtime share."""

from __future__ import annotations

import random

import pytest
from opentelemetry.trace import StatusCode

from baton.contract import Attr, ExceptionType, Lifecycle
from orchestrator import transitions
from orchestrator.bots import BotContext
from orchestrator.clock import VirtualClock
from orchestrator.errors import ApplicationException, BusinessException
from orchestrator.playbook import END, OnExhausted, RetryPolicy, Step, parse_playbook
from orchestrator.states import ItemState
from orchestrator.transitions import Then

STEP = Step(
    name="check", bot="checker", queue="q", next="book",
    routes={"manual_ok": "book", "denied": "appeal"},
    retry=RetryPolicy(max_attempts=3, initial_interval_s=10, backoff_coefficient=3,
                      non_retryable=("BadCredentials",)),
    timeout_s=60,
)  # fmt: skip


def test_success_routes_by_outcome():
    done = transitions.finish(STEP, 1, ("ok", "manual_ok", None))
    assert (done.state, done.lifecycle, done.then, done.target) == (
        ItemState.SUCCESSFUL, Lifecycle.COMPLETED, Then.ADVANCE, "book")  # fmt: skip
    assert done.status is StatusCode.OK and done.span_attributes == {Attr.OUTCOME: "manual_ok"}
    plain = transitions.finish(STEP, 1, ("ok", None, None))
    assert plain.target == "book" and plain.span_attributes == {Attr.OUTCOME: "done"}


def test_business_exception_routes_without_retry():
    done = transitions.finish(STEP, 1, (ExceptionType.BUSINESS, "denied", "denied"))
    assert (done.state, done.then, done.target) == (ItemState.FAILED, Then.ADVANCE, "appeal")
    unrouted = transitions.finish(STEP, 1, (ExceptionType.BUSINESS, "other", "other"))
    assert unrouted.target == END
    assert unrouted.status is StatusCode.ERROR and unrouted.status_description == "other"


def test_application_failures_retry_with_backoff_then_escalate():
    failure = (ExceptionType.APPLICATION, None, "PortalTimeout")
    first, second = (transitions.finish(STEP, n, failure) for n in (1, 2))
    assert (first.then, first.retry_delay_s) == (Then.RETRY, 10.0)
    assert (second.then, second.retry_delay_s) == (Then.RETRY, 30.0)
    last = transitions.finish(STEP, 3, failure)
    assert last.then is Then.ESCALATE and last.lifecycle is Lifecycle.FAILED
    # None values stay off the span but are part of the event's attribute set
    expected = {Attr.EXCEPTION_TYPE: ExceptionType.APPLICATION, Attr.ERROR_TYPE: "PortalTimeout"}
    assert last.span_attributes == expected
    assert last.event_attributes[Attr.OUTCOME] is None


def test_non_retryable_errors_and_fail_policy():
    assert transitions.finish(STEP, 1, ("application", None, "BadCredentials")).then is (
        Then.ESCALATE
    )
    failing = Step(name="s", bot="b", queue="q", on_exhausted=OnExhausted.FAIL,
                   retry=RetryPolicy(max_attempts=1))  # fmt: skip
    assert transitions.finish(failing, 1, ("timeout", None, "Timeout")).then is Then.FAIL_CASE


def _ctx() -> BotContext:
    from datetime import UTC, datetime

    return BotContext(case_id="c", step="s", attempt=1, payer="P", site="S", priority=5,
                      payload={}, clock=VirtualClock(datetime(2026, 1, 1, tzinfo=UTC)),
                      rng=random.Random(1))  # fmt: skip


@pytest.mark.parametrize(
    ("raises", "expected"),
    [
        (None, ("ok", "fine", None)),
        (BusinessException("denied"), (ExceptionType.BUSINESS, "denied", "denied")),
        (ApplicationException("PortalDown"), (ExceptionType.APPLICATION, None, "PortalDown")),
        (KeyError("x"), (ExceptionType.APPLICATION, None, "KeyError")),
    ],
)
def test_call_bot_classifies_what_happened(raises: Exception | None, expected: tuple):
    def bot(ctx: BotContext) -> str:
        if raises is not None:
            raise raises
        return "fine"

    assert transitions.call_bot(bot, _ctx(), "b") == expected


def test_timeout_overrides_the_result():
    assert transitions.timed_out(("ok", "x", None), 61, STEP) == ("timeout", None, "Timeout")
    assert transitions.timed_out(("ok", "x", None), 60, STEP) == ("ok", "x", None)


def test_next_step_follows_steps_handoffs_and_end():
    first = parse_playbook(
        "workflow: a\nversion: '1'\nsteps:\n"
        "  - {name: s1, bot: b, queue: q1, next: s2}\n"
        "  - {name: s2, bot: b, queue: q2, next: '@b'}\n"
    )
    second = parse_playbook(
        "workflow: b\nversion: '1'\nsteps:\n  - {name: t1, bot: b, queue: q3}\n"
    )
    books = {"a": first, "b": second}
    assert transitions.next_step(books, first, "s2") == (first, first.step("s2"))
    assert transitions.next_step(books, first, "@b") == (second, second.first)
    assert transitions.next_step(books, first, END) is None
