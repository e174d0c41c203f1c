"""Errors of importing and exporting event-log files.

Hierarchy::

    CollectorError (BatonError)
    ├── ImportFailed   a file could not be read into the events table; nothing was imported
    └── ExportFailed   the events table could not be written to a file

Both carry a one-line message that names the file and, for a malformed file, the line, row or
element at fault, so the CLI can print it as is.
"""

from __future__ import annotations

from collector.errors import CollectorError


class ImportFailed(CollectorError):
    """A file could not be imported; the database is unchanged.

    Imports run in one transaction, so a malformed file leaves no partial rows behind that a
    corrected re-import would then have to reconcile.
    """


class ExportFailed(CollectorError):
    """The events could not be written to the requested file or format."""
