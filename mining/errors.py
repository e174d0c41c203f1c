"""Errors of the mining layer.

Hierarchy::

    MiningError (BatonError)
    ├── UnknownFigure      no figure of that name is registered
    ├── InvalidFilter      a filter or figure parameter has a value that cannot be used
    └── EmptyLog           the source holds no events (or none pass the filters)
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
