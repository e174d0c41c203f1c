"""Work-item states and the one mapping from a state change to an event lifecycle."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from baton.contract import Lifecycle


class ItemState(StrEnum):
    """Where a work item is in its life."""

    NEW = "new"
    """Waiting on its queue (possibly deferred until a time)."""
    IN_PROGRESS = "in_progress"
    """Leased by a bot or a person."""
    SUCCESSFUL = "successful"
    """Done; the case moved on."""
    FAILED = "failed"
    """Ended by a business exception or exhausted retries with ``fail``."""
    RETRIED = "retried"
    """This attempt failed; a new attempt was queued."""
    ESCALATED = "escalated"
    """Waiting at the human workbench."""
    ABANDONED = "abandoned"
    """Its lease expired; it went back to the queue."""


#: The lifecycle event a transition *into* each state records. The workbench's resolution
#: of an escalated item records :attr:`Lifecycle.RESUMED`.
LIFECYCLE_OF: Final[dict[ItemState, Lifecycle]] = {
    ItemState.NEW: Lifecycle.ENQUEUED,
    ItemState.IN_PROGRESS: Lifecycle.STARTED,
    ItemState.SUCCESSFUL: Lifecycle.COMPLETED,
    ItemState.FAILED: Lifecycle.FAILED,
    ItemState.RETRIED: Lifecycle.RETRIED,
    ItemState.ESCALATED: Lifecycle.ESCALATED,
    ItemState.ABANDONED: Lifecycle.ABANDONED,
}
