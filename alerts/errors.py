"""Errors of the alerts package.

Hierarchy::

    AlertsError (BatonError)
    ├── RuleFileError        a rules file cannot be used; the message names the file and line
    ├── NotificationFailed   a receiver did not take a notification after every retry
    ├── ClockUnavailable     the simulator has not published its virtual time yet
    └── UnknownSilence       no silence with that id exists

The CLI lets them propagate to the root command, which prints one ``error: ...`` line; the
evaluator inside the collector logs them and goes on with the next tick.
"""

from __future__ import annotations

from baton.errors import BatonError


class AlertsError(BatonError):
    """Root of every alerts error."""


class RuleFileError(AlertsError):
    """A rules file is not valid YAML or a rule in it is wrong.

    The message starts with ``FILE:LINE:`` so an editor (or a person) can jump to it.
    """

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        self.path, self.line, self.problem = path, line, message
        where = path or ""
        if line is not None:
            where = f"{where}:{line}" if path else f"line {line}"
        super().__init__(f"{where}: {message}" if where else message)


class NotificationFailed(AlertsError):
    """A receiver did not accept a notification after every retry."""


class UnknownSilence(AlertsError):
    """No silence with that id exists (or it expired and was removed)."""


class ClockUnavailable(AlertsError):
    """The clock cannot tell the time yet (no simulator has published one)."""
