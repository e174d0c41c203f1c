"""The telemetry contract: the only thing the orchestrator and the collector share.

Every name a span, a log record or the ``events`` table carries is written here once, and
``docs/telemetry.md`` explains it. The orchestrator emits these names; the collector maps
them onto the ``events`` table; ``mining`` reads the table. Changing a value here is a
breaking change of the wire format, so add names rather than rename them.
"""

from __future__ import annotations

import functools
import hashlib
from enum import StrEnum
from typing import Final

#: ``service.name`` of the orchestrator's resource.
ORCHESTRATOR_SERVICE: Final = "baton-orchestrator"
#: ``messaging.system`` value on every handoff span.
MESSAGING_SYSTEM: Final = "baton"
#: Instrumentation scope of the orchestrator's spans and log records.
SCOPE_NAME: Final = "baton.orchestrator"
#: Queue that escalated items wait in for a person.
WORKBENCH_QUEUE: Final = "workbench"


class Lifecycle(StrEnum):
    """One state change of a work item, as the ``events`` table records it."""

    ENQUEUED = "enqueued"
    """Put on a step's queue (a handoff)."""
    STARTED = "started"
    """A bot or person picked the item up."""
    COMPLETED = "completed"
    """The attempt ended successfully (a business exception also completes, with its outcome)."""
    FAILED = "failed"
    """The attempt raised an application exception or timed out."""
    RETRIED = "retried"
    """A failed item was put back on its queue for another attempt."""
    ESCALATED = "escalated"
    """Retries were exhausted; the item went to the human workbench."""
    RESUMED = "resumed"
    """A person resolved an escalated item and the case continues."""
    ABANDONED = "abandoned"
    """A lease expired (the worker died) and the item went back to its queue."""


class ExceptionType(StrEnum):
    """Why an attempt did not succeed."""

    BUSINESS = "business"
    """The input is wrong for the process (inactive coverage): route, never retry."""
    APPLICATION = "application"
    """The bot or a system it uses failed: retry per policy."""
    TIMEOUT = "timeout"
    """The attempt ran past its step's timeout: retry per policy."""


class ResourceKind(StrEnum):
    """Who did the work of an event."""

    BOT = "bot"
    HUMAN = "human"
    SYSTEM = "system"


class SpanOp(StrEnum):
    """``messaging.operation.type`` of a handoff span."""

    SEND = "send"
    PROCESS = "process"


class EventName(StrEnum):
    """``event_name`` of an OTLP log record Baton emits."""

    WORK_ITEM = "baton.work_item"
    """A work item's state change: one row of the ``events`` table."""
    HEARTBEAT = "baton.heartbeat"
    """A bot reporting that it is alive."""
    CLOCK = "baton.clock"
    """The simulator publishing its virtual "now" (its record's time)."""


class Attr:
    """Attribute keys on spans and log records.

    OpenTelemetry semantic-convention names where one exists, ``baton.*`` otherwise.
    """

    SERVICE_NAME: Final = "service.name"
    MESSAGING_SYSTEM: Final = "messaging.system"
    MESSAGING_DESTINATION: Final = "messaging.destination.name"
    MESSAGING_OPERATION: Final = "messaging.operation.type"
    ERROR_TYPE: Final = "error.type"

    CASE_ID: Final = "baton.case_id"
    WORKFLOW: Final = "baton.workflow"
    WORKFLOW_VERSION: Final = "baton.workflow_version"
    STEP: Final = "baton.step"
    ATTEMPT: Final = "baton.attempt"
    MAX_ATTEMPTS: Final = "baton.max_attempts"
    EXCEPTION_TYPE: Final = "baton.exception_type"
    PRIORITY: Final = "baton.priority"
    DUE_TS: Final = "baton.due_ts"
    OUTCOME: Final = "baton.outcome"
    BOT_ID: Final = "baton.bot.id"
    BOT_VERSION: Final = "baton.bot.version"
    RESOURCE: Final = "baton.resource"
    RESOURCE_KIND: Final = "baton.resource_kind"
    PAYER: Final = "baton.payer"
    SITE: Final = "baton.site"
    ITEM_ID: Final = "baton.item_id"

    EVENT_ID: Final = "baton.event_id"
    SEQ: Final = "baton.seq"
    LIFECYCLE: Final = "baton.lifecycle"


#: Attributes carried by event records but not by spans: each span attribute costs the SDK a
#: cleaning pass per span, and the events already give every handoff these dimensions.
EVENT_ONLY_ATTRIBUTES: Final = (Attr.PAYER, Attr.SITE, Attr.ITEM_ID)


def send_span_name(queue: str) -> str:
    """Name of the PRODUCER span that puts work on ``queue``."""
    return f"{SpanOp.SEND} {queue}"


def process_span_name(queue: str) -> str:
    """Name of the CONSUMER span of one attempt at an item taken from ``queue``."""
    return f"{SpanOp.PROCESS} {queue}"


@functools.lru_cache(maxsize=65536)
def trace_id_for_case(case_id: str) -> int:
    """The trace id of a case: every span of one case shares it.

    ``case_id`` is already a pseudonym, so the trace id carries no patient data; hashing it
    again spreads ids evenly, as the W3C trace-context spec asks of trace ids.
    """
    digest = hashlib.sha256(f"baton-trace:{case_id}".encode()).digest()
    value = int.from_bytes(digest[:16], "big")
    return value or 1


#: Columns of the ``events`` table, in order, with their DuckDB types.
EVENT_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("event_id", "VARCHAR"),
    ("seq", "BIGINT"),
    ("case_id", "VARCHAR"),
    ("workflow", "VARCHAR"),
    ("workflow_version", "VARCHAR"),
    ("activity", "VARCHAR"),
    ("lifecycle", "VARCHAR"),
    ("ts", "TIMESTAMP"),
    ("resource", "VARCHAR"),
    ("resource_kind", "VARCHAR"),
    ("queue", "VARCHAR"),
    ("attempt", "INTEGER"),
    ("priority", "INTEGER"),
    ("due_ts", "TIMESTAMP"),
    ("payer", "VARCHAR"),
    ("site", "VARCHAR"),
    ("exception_type", "VARCHAR"),
    ("error_type", "VARCHAR"),
    ("outcome", "VARCHAR"),
    ("trace_id", "VARCHAR"),
    ("span_id", "VARCHAR"),
    ("attributes", "MAP(VARCHAR, VARCHAR)"),
)

#: Log-record attribute that fills each ``events`` column (the rest come from the record).
EVENT_COLUMN_ATTRS: Final[dict[str, str]] = {
    "event_id": Attr.EVENT_ID,
    "seq": Attr.SEQ,
    "case_id": Attr.CASE_ID,
    "workflow": Attr.WORKFLOW,
    "workflow_version": Attr.WORKFLOW_VERSION,
    "activity": Attr.STEP,
    "lifecycle": Attr.LIFECYCLE,
    "resource": Attr.RESOURCE,
    "resource_kind": Attr.RESOURCE_KIND,
    "queue": Attr.MESSAGING_DESTINATION,
    "attempt": Attr.ATTEMPT,
    "priority": Attr.PRIORITY,
    "due_ts": Attr.DUE_TS,
    "payer": Attr.PAYER,
    "site": Attr.SITE,
    "exception_type": Attr.EXCEPTION_TYPE,
    "error_type": Attr.ERROR_TYPE,
    "outcome": Attr.OUTCOME,
}
