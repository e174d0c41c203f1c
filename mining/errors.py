"""Errors of the mining layer.

Hierarchy::

    MiningError (BatonError)
    ├── UnknownFigure      no figure of that name is registered
    ├── InvalidFilter      a filter or figure parameter has a value that cannot be used
    ├── EmptyLog           the source holds no events (or none pass the filters)
    └── ReadFailed         a log file could not be read (names the line, row or element)
"""

from baton.errors import BatonError


class MiningError(BatonError):
    """Root of every mining error."""


class UnknownFigure(MiningError):
    """No figure of that name is registered in :data:`mining.FIGURES`."""


class InvalidFilter(MiningError):
    """A filter or figure parameter has a value that cannot be used."""


class EmptyLog(MiningError):
    """The source holds no events, or none pass the filters."""


class ReadFailed(MiningError):
    """A log file could not be read; the message names the file and the line, row or element."""
