"""Errors of the dashboard.

Hierarchy::

    DashboardError (BatonError)
    ├── SourceNotFound        the DuckDB file given with --db does not exist or is no Baton log
    ├── FigureRequestFailed   the collector answered a figure request with an error
    └── NotSignedIn           the collector wants a token this session has not given

A collector that does not answer raises :class:`baton.errors.UnreachableError`, shared with
every other client of a Baton service. Pages catch :class:`baton.errors.BatonError` and show
its message, so none of these ever reaches the user as a traceback.
"""

from baton.errors import BatonError


class DashboardError(BatonError):
    """Root of every dashboard error."""


class SourceNotFound(DashboardError):
    """The DuckDB file the dashboard was pointed at does not exist or holds no events."""


class FigureRequestFailed(DashboardError):
    """The collector answered, but with an error (unknown figure, bad filter, bad body)."""


class NotSignedIn(DashboardError):
    """The collector wants a token and this session has none (or a wrong one)."""
