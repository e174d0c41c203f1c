"""The orchestrator: playbooks of bot steps, work queues, retries, escalation, telemetry.

It knows OpenTelemetry, not DuckDB: every handoff leaves as a span and every state change as
an OTLP log record shipped from a durable outbox. Heavy pieces (the SDK wiring, the clinic
simulator) are imported from their modules, not here.
"""

from orchestrator.bots import BotContext, BotRegistry
from orchestrator.errors import (
    ApplicationException,
    BusinessException,
    OrchestratorError,
    PlaybookError,
    StateError,
)
from orchestrator.playbook import OnExhausted, Playbook, RetryPolicy, Step, load_playbook
from orchestrator.states import ItemState

__all__ = [
    "ApplicationException",
    "BotContext",
    "BotRegistry",
    "BusinessException",
    "ItemState",
    "OnExhausted",
    "OrchestratorError",
    "Playbook",
    "PlaybookError",
    "RetryPolicy",
    "StateError",
    "Step",
    "load_playbook",
]
