"""Errors of the orchestrator, and the two exceptions bots raise.

Hierarchy::

    OrchestratorError (BatonError)     reported to the user as one line
    ├── PlaybookError                  a playbook is invalid: names file, line and problem
    └── StateError                     the state store cannot be used (locked, wrong schema)

    BotException                       raised by bots, never reported as an error of Baton
    ├── BusinessException              the input is wrong for the process: route, no retry
    └── ApplicationException           the bot or a system failed: retry per policy
"""

from __future__ import annotations

from pathlib import Path

from baton.errors import BatonError


class OrchestratorError(BatonError):
    """Root of every orchestrator error a user sees."""


class PlaybookError(OrchestratorError):
    """A playbook is invalid. The message names the file, the line and the problem."""

    def __init__(self, problem: str, path: Path | str | None = None, line: int | None = None):
        self.problem = problem
        self.path = str(path) if path is not None else None
        self.line = line
        where = self.path or "<playbook>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {problem}")


class StateError(OrchestratorError):
    """The orchestrator's state store cannot be used."""


class BotException(Exception):
    """Base of what a bot raises to say how its attempt ended."""


class BusinessException(BotException):
    """The case cannot go on as planned (inactive coverage): routed by ``code``, never retried."""

    def __init__(self, code: str, message: str = "") -> None:
        self.code = code
        super().__init__(message or code)


class ApplicationException(BotException):
    """The bot or a system it drives failed (portal down): retried per the step's policy."""

    def __init__(self, error_type: str, message: str = "") -> None:
        self.error_type = error_type
        super().__init__(message or error_type)
