"""Opening a DuckDB file, and telling whoever finds it locked where its collector answers.

A serving collector writes ``<db>.collector.json`` (its URL and PID) beside the file it owns
and removes it on shutdown. When another command's ``--db`` finds the file locked, the
:class:`DatabaseLocked` it raises names that URL, so the user learns how to reach the data
instead of only that they cannot have it. A note left by a killed collector is ignored
unless its PID is the one holding the lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path

import duckdb

from collector.errors import CollectorError, DatabaseLocked

_LOCK_MESSAGE = "Could not set lock on file"


def endpoint_file(db: Path) -> Path:
    """Where the collector serving ``db`` leaves its URL."""
    return db.with_name(db.name + ".collector.json")


def write_endpoint(db: Path, url: str) -> None:
    """Announce that this process serves ``db`` at ``url``."""
    note = endpoint_file(db)
    temporary = note.with_suffix(".tmp")
    temporary.write_text(json.dumps({"url": url, "pid": os.getpid()}), encoding="utf-8")
    temporary.replace(note)


def remove_endpoint(db: Path) -> None:
    """Withdraw the announcement (on shutdown); a missing note is fine."""
    with contextlib.suppress(FileNotFoundError):
        endpoint_file(db).unlink()


def collector_url(db: Path, pid: int | None = None) -> str | None:
    """The URL of the collector serving ``db``, if one announced itself and is still alive.

    With ``pid`` (the process DuckDB says holds the lock), the note must come from it.
    """
    try:
        note = json.loads(endpoint_file(Path(db)).read_text(encoding="utf-8"))
        url, note_pid = str(note["url"]), int(note["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid is not None and pid != note_pid:
        return None
    try:
        os.kill(note_pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by someone else
    return url


def connect(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect``, turning a held file into :class:`DatabaseLocked`."""
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if _LOCK_MESSAGE in str(exc):
            match = re.search(r"PID (\d+)", str(exc))
            pid = int(match.group(1)) if match else None
            detail = f"PID {pid}" if pid else ""
            raise DatabaseLocked(path, detail, collector_url(path, pid)) from None
        raise CollectorError(f"cannot open {path}: {exc}") from exc
    except duckdb.Error as exc:
        raise CollectorError(f"cannot open {path}: {exc}") from exc
