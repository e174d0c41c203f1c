"""``baton import`` and ``baton export``: event-log files in and out of a DuckDB file.

The root CLI registers :func:`import_command` and :func:`export_command`. Both open the file
the way the collector does (:meth:`Store.open` to write, :func:`open_readonly` to read). An
import into a file a running collector holds goes through that collector
(``POST /api/v1/imports``, found from the URL it leaves beside the file, or ``--collector``);
an export of such a file is reported as such (:class:`DatabaseLocked`). Every failure is a
:class:`~baton.errors.BatonError` with a one-line message for the root CLI.
"""

from __future__ import annotations

from pathlib import Path

import typer

from collector.config import load_settings
from collector.errors import DatabaseLocked
from collector.exporters import ExportFormat
from collector.imports_api import send_import
from collector.store import Store, open_readonly
from collector.transfer import export_events
from mining.readers import ColumnMapping, ImportOptions

_DB_HELP = "DuckDB file (default: the collector's, BATON_COLLECTOR_DB)."


def import_command(
    file: Path = typer.Argument(
        ...,
        help="XES (.xes, .xes.gz), CSV (.csv), Parquet (.parquet) or OCEL 2.0 "
        "(.jsonocel/.json, .xmlocel/.xml, .sqlite) event log.",
        show_default=False,
    ),
    db: Path | None = typer.Option(None, "--db", help=_DB_HELP + " Created if missing."),
    workflow: str | None = typer.Option(
        None, "--workflow", help="Workflow of the imported events (default: the file name)."
    ),
    object_type: str | None = typer.Option(
        None,
        "--object-type",
        help="OCEL: object type whose objects are the cases (default: the one with most events).",
    ),
    case_column: str | None = typer.Option(None, "--case-column", help="CSV/Parquet: case id."),
    activity_column: str | None = typer.Option(
        None, "--activity-column", help="CSV/Parquet: activity."
    ),
    timestamp_column: str | None = typer.Option(
        None, "--timestamp-column", help="CSV/Parquet: event (completion) time."
    ),
    start_column: str | None = typer.Option(
        None, "--start-column", help="CSV/Parquet: start time; each row becomes start + complete."
    ),
    resource_column: str | None = typer.Option(
        None, "--resource-column", help="CSV/Parquet: resource."
    ),
    lifecycle_column: str | None = typer.Option(
        None, "--lifecycle-column", help="CSV/Parquet: lifecycle (start, complete, schedule...)."
    ),
    separator: str | None = typer.Option(
        None, "--separator", help="CSV field separator (default: guessed from the header)."
    ),
    timestamp_format: str | None = typer.Option(
        None,
        "--timestamp-format",
        help="CSV timestamp format, e.g. '%d-%m-%Y %H:%M' (default: ISO 8601 and the like).",
    ),
    progress: bool | None = typer.Option(
        None,
        "--progress/--no-progress",
        help="Progress bar on stderr (default: for large files, on a terminal).",
        show_default=False,
    ),
    collector: str | None = typer.Option(
        None,
        "--collector",
        help="Import through this running collector (POST /api/v1/imports) instead of --db. "
        "Used by itself when the --db file is held by a running collector.",
    ),
    token: str | None = typer.Option(
        None, "--token", envvar="BATON_TOKEN", help="Admin token for --collector."
    ),
) -> None:
    """Import an event log into the events table; nothing is imported if the file is bad."""
    options = ImportOptions(
        workflow=workflow,
        columns=ColumnMapping(
            case=case_column,
            activity=activity_column,
            timestamp=timestamp_column,
            start=start_column,
            resource=resource_column,
            lifecycle=lifecycle_column,
        ),
        separator=separator,
        timestamp_format=timestamp_format,
        object_type=object_type,
    )
    if collector is not None:
        lines = send_import(collector, file, options, token)
    else:
        try:
            store = Store.open(load_settings(db=db).db)
        except DatabaseLocked as exc:
            if exc.url is None:
                raise
            # The file's collector is running: import through it, as one transaction there.
            lines = send_import(exc.url, file, options, token)
        else:
            try:
                lines = store.import_log(file, options, progress=progress).lines()
            finally:
                store.close()
    for line in lines:
        typer.echo(line)


def export_command(
    out: Path = typer.Argument(
        ..., help="File to write (replaced if it exists).", show_default=False
    ),
    db: Path | None = typer.Option(None, "--db", help=_DB_HELP),
    fmt: ExportFormat = typer.Option(
        ..., "--format", help="xes (.xes or .xes.gz), ocel (OCEL 2.0 JSON), csv or parquet."
    ),
) -> None:
    """Export the events table as XES, OCEL 2.0 JSON, CSV or Parquet."""
    con = open_readonly(load_settings(db=db).db)
    try:
        report = export_events(con, fmt, out)
    finally:
        con.close()
    for line in report.lines():
        typer.echo(line)
