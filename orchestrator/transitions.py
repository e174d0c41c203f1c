"""What finishing a bot's attempt does to a work item: the one rule, shared.

The simulator's engine (queues in memory, virtual clock) and the production runtime (leases
in the state store, wall clock) must agree on every lifecycle decision, or the simulator
stops predicting production: which exception retries, when retries are exhausted, where a
business outcome routes, what a span's status and an event's attributes say. So the
decisions live here, as pure functions of the step, the attempt and the bot's result; each
caller only applies them to its own storage and clock.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from opentelemetry.trace import StatusCode

from baton.contract import Attr, ExceptionType, Lifecycle
from orchestrator.bots import Bot, BotContext
from orchestrator.errors import ApplicationException, BusinessException
from orchestrator.playbook import END, HANDOFF, OnExhausted, Playbook, Step
from orchestrator.states import ItemState

log = logging.getLogger(__name__)

#: A bot's result: (kind, outcome, error type); kind is ``"ok"`` or an :class:`ExceptionType`.
Result = tuple[str, str | None, str | None]

OK = "ok"


def call_bot(bot: Bot, ctx: BotContext, name: str = "") -> Result:
    """Run ``bot`` and classify what happened, as the playbook's retry rules need it.

    A business exception routes without retry; an application exception, or any crash (named
    after its class), is retried.
    """
    try:
        return (OK, bot(ctx), None)
    except BusinessException as exc:
        return (ExceptionType.BUSINESS, exc.code, exc.code)
    except ApplicationException as exc:
        return (ExceptionType.APPLICATION, None, exc.error_type)
    except Exception as exc:  # a crashing bot is an application failure, retried
        log.warning("bot %s failed on case %s: %s", name, ctx.case_id, type(exc).__name__)
        return (ExceptionType.APPLICATION, None, type(exc).__name__)


def timed_out(result: Result, elapsed_s: float, step: Step) -> Result:
    """``result``, or a timeout failure when the attempt ran past the step's timeout."""
    if elapsed_s > step.timeout_s:
        return (ExceptionType.TIMEOUT, None, "Timeout")
    return result


class Then(StrEnum):
    """Where the work item goes after its attempt."""

    ADVANCE = "advance"
    """Route on: ``target`` names the next step, ``end`` or ``@workflow``."""
    RETRY = "retry"
    """A new attempt after ``retry_delay_s``, linked to this one."""
    FAIL_CASE = "fail_case"
    """Retries exhausted and the step says ``fail``: close the case as failed."""
    ESCALATE = "escalate"
    """Retries exhausted: hand the item to the human workbench."""


@dataclasses.dataclass(frozen=True, slots=True)
class Finish:
    """Everything finishing one attempt decides, before anything is written."""

    state: ItemState
    """The attempt's item state: successful or failed."""
    lifecycle: Lifecycle
    """The event the attempt's end records: completed or failed."""
    then: Then
    outcome: str | None
    status: StatusCode
    status_description: str | None
    span_attributes: Mapping[str, Any]
    """Attributes the attempt's ``process`` span gains at its end."""
    event_attributes: Mapping[str, Any]
    """Attributes of the completed/failed event (``None`` values are left out on the wire)."""
    target: str = END
    retry_delay_s: float = 0.0


def finish(step: Step, attempt: int, result: Result) -> Finish:
    """Decide what the end of attempt ``attempt`` of ``step`` with ``result`` does."""
    kind, outcome, error_type = result
    if kind == OK:
        return Finish(
            state=ItemState.SUCCESSFUL,
            lifecycle=Lifecycle.COMPLETED,
            then=Then.ADVANCE,
            outcome=outcome,
            status=StatusCode.OK,
            status_description=None,
            span_attributes={Attr.OUTCOME: outcome or "done"},
            event_attributes={Attr.OUTCOME: outcome},
            target=step.route(outcome),
        )
    failure = {Attr.EXCEPTION_TYPE: kind, Attr.ERROR_TYPE: error_type, Attr.OUTCOME: outcome}
    common = {
        "state": ItemState.FAILED,
        "lifecycle": Lifecycle.FAILED,
        "outcome": outcome,
        "status": StatusCode.ERROR,
        "status_description": error_type or kind,
        "span_attributes": {k: v for k, v in failure.items() if v is not None},
        "event_attributes": failure,
    }
    if kind == ExceptionType.BUSINESS:
        return Finish(then=Then.ADVANCE, target=step.routes.get(outcome or "", END), **common)
    policy = step.retry
    if error_type not in policy.non_retryable and attempt < policy.max_attempts:
        delay = policy.delay_before(attempt + 1)
        return Finish(then=Then.RETRY, retry_delay_s=delay, **common)
    if step.on_exhausted is OnExhausted.FAIL:
        return Finish(then=Then.FAIL_CASE, **common)
    return Finish(then=Then.ESCALATE, **common)


def next_step(
    playbooks: Mapping[str, Playbook], playbook: Playbook, target: str
) -> tuple[Playbook, Step] | None:
    """The playbook and step ``target`` leads to; ``None`` when it ends the case."""
    if target == END:
        return None
    if target.startswith(HANDOFF):
        other = playbooks[target[1:]]
        return other, other.first
    return playbook, playbook.step(target)
