"""``baton audit ...`` and ``baton collector prune``: check, hand over and trim the audit trail.

``verify`` and ``export`` open the file read-only, so a file a running collector holds is
reported as :class:`~collector.errors.DatabaseLocked` (stop the collector, or verify a copy).
``prune`` opens it read-write through :class:`~collector.store.Store`, signs its checkpoint
with ``audit_key`` from the collector's settings (``BATON_COLLECTOR_AUDIT_KEY``) or, without
one, with the key file beside the database (created 0600 on first use).
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import typer

from collector import audit
from collector.config import load_settings
from collector.store import Store, open_readonly

app = typer.Typer(name="audit", help="Verify and export the hash-chained audit trail.")


@app.callback()
def _group() -> None:
    """Verify and export the hash-chained audit trail."""


@app.command("verify")
def audit_verify_command(
    db: Path = typer.Option(..., "--db", help="DuckDB file a collector wrote."),
) -> None:
    """Recompute the chain from the stored events; exit 1 at the first bad row."""
    con = open_readonly(db)
    try:
        if not audit.has_audit(con):
            raise audit.AuditError(f"{db} has no audit trail (written by an older collector)")
        key = audit.audit_key(db, load_settings(db=db).audit_key, create=False)
        result = audit.verify(con, key)
    finally:
        con.close()
    typer.echo(result.summary())
    if not result.intact:
        # SystemExit, not typer.Exit: the root runs click with standalone_mode=False, where
        # an Exit's code is returned and dropped instead of becoming the process's status.
        sys.exit(1)


@app.command("export")
def audit_export_command(
    out: Path = typer.Argument(..., help="Output file: .csv, or .jsonl for JSON lines."),
    db: Path = typer.Option(..., "--db", help="DuckDB file a collector wrote."),
) -> None:
    """Write the trail for an auditor: checkpoint, every row, and the head hash last."""
    con = open_readonly(db)
    try:
        if not audit.has_audit(con):
            raise audit.AuditError(f"{db} has no audit trail (written by an older collector)")
        head = audit.export(con, out)
    finally:
        con.close()
    typer.echo(f"wrote {out}; head: row {head.seq} {head.chain_hash}")


def prune_command(
    db: Path = typer.Option(..., "--db", help="DuckDB file to trim (not held by a collector)."),
    older_than: float = typer.Option(
        ..., "--older-than", min=0, help="Delete data older than this many days."
    ),
) -> None:
    """Delete events, spans, log records and metrics older than N days; sign a checkpoint."""
    settings = load_settings(db=db)
    cutoff = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=older_than)
    store = Store.open(db)
    try:
        key = audit.audit_key(db, settings.audit_key, create=True)
        assert key is not None  # create=True always yields one
        report = store.prune(cutoff, key)
    finally:
        store.close()
    for line in report.lines():
        typer.echo(line)
