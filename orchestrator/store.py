"""The orchestrator's durable state: cases, work items and the event outbox, in SQLite.

Every state change and its event record are written in one transaction, so an event exists
exactly when its state change does. SQLite runs in WAL mode with ``synchronous=NORMAL``:
nothing committed is lost when the process is killed (only on power loss), at a fraction of
``FULL``'s cost. Commits are grouped by the caller (:meth:`StateStore.commit`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from orchestrator.errors import StateError

SCHEMA = """
CREATE TABLE IF NOT EXISTS cases (
    case_id TEXT PRIMARY KEY,       -- pseudonym: the only id that leaves this store
    reference TEXT NOT NULL,        -- identified referral number
    workflow TEXT NOT NULL,
    version TEXT NOT NULL,
    payer TEXT, site TEXT, priority INTEGER,
    payload TEXT NOT NULL,          -- identified details (JSON); never leaves this store
    status TEXT NOT NULL,
    outcome TEXT,
    created_ts TEXT NOT NULL,
    closed_ts TEXT
);
CREATE TABLE IF NOT EXISTS items (
    item_id INTEGER PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases(case_id),
    step TEXT NOT NULL,
    queue TEXT NOT NULL,
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    due_ts TEXT,
    defer_until TEXT,
    enqueued_ts TEXT NOT NULL,
    updated_ts TEXT NOT NULL,
    link_span TEXT                  -- span the next attempt links to (producer or last try)
);
CREATE INDEX IF NOT EXISTS items_by_queue ON items(queue, state);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,        -- the contract's seq: cause-and-effect order of events
    event_id TEXT NOT NULL UNIQUE,
    record BLOB NOT NULL,           -- serialized OTLP LogRecord
    shipped INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_unshipped ON outbox(shipped, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def connect(path: Path | str) -> sqlite3.Connection:
    """A connection with the pragmas the durability guarantees rely on."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        con = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("PRAGMA busy_timeout=10000")
    except sqlite3.Error as exc:
        raise StateError(f"cannot open state store {path}: {exc}") from None
    return con


class StateStore:
    """SQLite implementation of the orchestrator's state (a PostgreSQL one can follow)."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self._con = connect(path)
        self._lock = threading.RLock()
        try:
            self._con.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{path} is not a Baton state store: {exc}") from None
        row = self._con.execute("SELECT coalesce(max(seq), 0) FROM outbox").fetchone()
        self._next_seq = int(row[0]) + 1
        self._in_tx = False

    # -- transactions -------------------------------------------------------------------
    def _begin(self) -> None:
        if not self._in_tx:
            self._con.execute("BEGIN IMMEDIATE")
            self._in_tx = True

    def commit(self) -> None:
        """Make every change since the last commit durable, as one group."""
        with self._lock:
            if self._in_tx:
                self._con.execute("COMMIT")
                self._in_tx = False

    def close(self) -> None:
        self.commit()
        self._con.close()

    # -- writes (each joins the open group transaction) ------------------------------------
    def next_seq(self) -> int:
        """The seq the next event will carry."""
        return self._next_seq

    def append_event(self, event_id: str, record: bytes) -> None:
        """Queue an event record for shipping; its seq is :meth:`next_seq`.

        Appending an event the outbox already holds at that seq is a no-op, which is how a
        deterministic replay resumes; a *different* event at that seq means the replay has
        diverged from what was stored, and nothing more may be written.
        """
        with self._lock:
            self._begin()
            cursor = self._con.execute(
                "INSERT INTO outbox(seq, event_id, record) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (self._next_seq, event_id, record),
            )
            if cursor.rowcount == 0:
                row = self._con.execute(
                    "SELECT event_id FROM outbox WHERE seq = ?", (self._next_seq,)
                ).fetchone()
                if row is None or row[0] != event_id:
                    raise StateError(
                        f"{self.path}: event {self._next_seq} differs from the stored one; "
                        "the state belongs to another run"
                    )
            self._next_seq += 1

    def rewind(self) -> None:
        """Start numbering events from 1 again, for a deterministic replay."""
        with self._lock:
            self._next_seq = 1

    def add_case(self, case_id: str, reference: str, fields: Mapping[str, Any]) -> None:
        with self._lock:
            self._begin()
            self._con.execute(
                "INSERT INTO cases(case_id, reference, workflow, version, payer, site, priority,"
                " payload, status, created_ts) VALUES (?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(case_id) DO NOTHING",
                (
                    case_id,
                    reference,
                    fields["workflow"],
                    fields["version"],
                    fields.get("payer"),
                    fields.get("site"),
                    fields.get("priority"),
                    json.dumps(fields.get("payload", {}), sort_keys=True),
                    "open",
                    fields["created_ts"],
                ),
            )

    def close_case(self, case_id: str, outcome: str, ts: str) -> None:
        """Close a case once; closing it again (in a replay) changes nothing."""
        with self._lock:
            self._begin()
            self._con.execute(
                "UPDATE cases SET status='closed', outcome=?, closed_ts=?"
                " WHERE case_id=? AND status <> 'closed'",
                (outcome, ts, case_id),
            )

    def put_item(self, item: Mapping[str, Any]) -> None:
        """Insert or update a work item row."""
        with self._lock:
            self._begin()
            self._con.execute(
                "INSERT INTO items(item_id, case_id, step, queue, state, attempt, priority, due_ts,"
                " defer_until, enqueued_ts, updated_ts, link_span)"
                " VALUES (:item_id, :case_id, :step, :queue, :state, :attempt, :priority, :due_ts,"
                " :defer_until, :enqueued_ts, :updated_ts, :link_span)"
                " ON CONFLICT(item_id) DO UPDATE SET state=excluded.state,"
                " attempt=excluded.attempt, queue=excluded.queue,"
                " defer_until=excluded.defer_until, updated_ts=excluded.updated_ts,"
                " link_span=excluded.link_span",
                dict(item),
            )

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._begin()
            self._con.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (key, value),
            )

    # -- reads ----------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._con.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def count(self, table: str, where: str = "TRUE") -> int:
        assert table in {"cases", "items", "outbox"}
        with self._lock:
            row = self._con.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()
        return int(row[0])

    def event_ids(self) -> Iterator[str]:
        with self._lock:
            rows = self._con.execute("SELECT event_id FROM outbox ORDER BY seq").fetchall()
        return (str(r[0]) for r in rows)
