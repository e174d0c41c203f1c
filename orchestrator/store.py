"""The orchestrator's durable state: cases, work items and the event outbox, in SQLite.

Every state change and its event record are written in one transaction, so an event exists
exactly when its state change does. SQLite runs in WAL mode with ``synchronous=NORMAL``:
nothing committed is lost when the process is killed (only on power loss), at a fraction of
``FULL``'s cost. Commits are grouped by the caller (:meth:`StateStore.commit`), and several
worker processes may share one file: leasing happens inside ``BEGIN IMMEDIATE``.

Times are integers (microseconds since the epoch, UTC) so that SQL compares them correctly.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from orchestrator.errors import StateError

try:
    import fcntl
except ImportError:  # not on Windows: SQLite's busy handler alone queues the writers
    fcntl = None  # type: ignore[assignment]

SCHEMA = """
CREATE TABLE IF NOT EXISTS cases (
    case_id TEXT PRIMARY KEY,       -- pseudonym: the only id that leaves this store
    reference TEXT NOT NULL,        -- identified referral number
    workflow TEXT NOT NULL,
    version TEXT NOT NULL,
    payer TEXT, site TEXT, priority INTEGER,
    payload TEXT NOT NULL,          -- identified details (JSON); never leaves this store
    status TEXT NOT NULL,           -- open | closed
    outcome TEXT,
    created_us INTEGER NOT NULL,
    closed_us INTEGER
);
-- Rows are stored in insertion order (``row_no``), not by ``item_id``, a hash: the items a
-- batch touches are the recent ones, on a few pages at the end of the table, where ordering
-- by a hash scattered each write over its own page and tripled what every commit wrote.
CREATE TABLE IF NOT EXISTS items (
    row_no INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL UNIQUE,
    case_id TEXT NOT NULL REFERENCES cases(case_id),
    item_no INTEGER NOT NULL,       -- ordinal of the item within its case
    workflow TEXT NOT NULL,
    step TEXT NOT NULL,
    queue TEXT NOT NULL,
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    due_us INTEGER,
    available_us INTEGER NOT NULL,  -- not before (retry backoff, defer-until)
    enqueued_us INTEGER NOT NULL,
    updated_us INTEGER NOT NULL,
    link_span TEXT,                 -- span the next attempt links to (producer or last try)
    lease_owner TEXT,
    lease_expires_us INTEGER
);
-- Partial indexes: an item is in ``items_leasable`` while it waits and in ``items_in_progress``
-- while leased, and in neither once finished, so most state changes touch one small index
-- instead of rewriting an entry in two indexes over every item ever made.
CREATE INDEX IF NOT EXISTS items_leasable ON items(queue, priority, available_us, item_id)
    WHERE state IN ('new', 'retried', 'abandoned');
CREATE INDEX IF NOT EXISTS items_in_progress ON items(lease_expires_us)
    WHERE state = 'in_progress';
DROP INDEX IF EXISTS items_ready;
DROP INDEX IF EXISTS items_leased;
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- the contract's seq: cause-and-effect order
    event_id TEXT NOT NULL,
    record BLOB NOT NULL,           -- serialized OTLP LogRecord (the shipper adds baton.seq)
    ts_us INTEGER NOT NULL DEFAULT 0,  -- the event's time: leads the unique key below
    shipped INTEGER NOT NULL DEFAULT 0  -- unused: stores written before the shipper's mark
);
-- The shipper walks the outbox in seq order (the primary key) from its mark, the highest seq
-- the collector acknowledged, kept in ``meta``: one row written per batch shipped.
DROP INDEX IF EXISTS outbox_unshipped;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS workers (
    worker_id TEXT PRIMARY KEY,
    bot TEXT, version TEXT,
    heartbeat_us INTEGER NOT NULL,
    state TEXT NOT NULL             -- online | offline
);
"""

#: WAL size past which a writer copies it back into the database, after its commit (SQLite's
#: own automatic checkpoint, at 1,000 pages, is off on the state store's connections).
CHECKPOINT_BYTES = 4 << 20

#: Item states a worker may lease.
LEASABLE = ("new", "retried", "abandoned")

ITEM_COLUMNS = (
    "item_id", "case_id", "item_no", "workflow", "step", "queue", "state", "attempt",
    "priority", "due_us", "available_us", "enqueued_us", "updated_us", "link_span",
    "lease_owner", "lease_expires_us",
)  # fmt: skip
_ITEM_ID = ITEM_COLUMNS.index("item_id")


class StateBackend(Protocol):
    """What the engine, the runtime and the workbench need of durable state.

    :class:`StateStore` implements it on SQLite; a PostgreSQL implementation (leasing with
    ``FOR UPDATE SKIP LOCKED``) fills the same methods for many machines.
    """

    def commit(self) -> None: ...
    def close(self) -> None: ...
    def append_event(self, event_id: str, record: bytes, ts_us: int = 0) -> bool: ...
    def append_events(self, events: Sequence[tuple[str, bytes, int]]) -> None: ...
    def add_case(self, case_id: str, reference: str, fields: Mapping[str, Any]) -> bool: ...
    def close_case(self, case_id: str, outcome: str, ts_us: int) -> None: ...
    def close_cases(self, closed: Sequence[tuple[str, str, int]]) -> None: ...
    def put_item(self, item: Mapping[str, Any]) -> None: ...
    def put_items(self, items: Sequence[Mapping[str, Any]]) -> None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def get_meta(self, key: str) -> str | None: ...
    def lease(
        self, owner: str, queues: Sequence[str], now_us: int, lease_us: int, limit: int
    ) -> list[dict[str, Any]]: ...
    def expired_leases(self, now_us: int, owners: Sequence[str] = ()) -> list[dict[str, Any]]: ...
    def heartbeat(self, worker_id: str, bot: str, version: str, now_us: int) -> None: ...
    def mark_offline(self, silent_since_us: int) -> list[str]: ...
    def case(self, case_id: str) -> dict[str, Any] | None: ...
    def items(self, where: str = "TRUE", params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...
    def count(self, table: str, where: str = "TRUE") -> int: ...


#: Unique per event: time first, so each insert lands at the end of the index (event ids are
#: hashes, and an index of ids alone took a random page per insert). A deterministic replay
#: writes the same event at the same time, which this key refuses as before. Stores made
#: before it also keep their ``UNIQUE(event_id)``.
_OUTBOX_KEY = """
CREATE UNIQUE INDEX IF NOT EXISTS outbox_event ON outbox(ts_us, event_id);
"""


def _migrate(con: sqlite3.Connection) -> None:
    """Bring a store made by an earlier version up to :data:`SCHEMA` (additive only)."""
    columns = {str(row[1]) for row in con.execute("PRAGMA table_info(outbox)")}
    if "ts_us" not in columns:
        con.execute("ALTER TABLE outbox ADD COLUMN ts_us INTEGER NOT NULL DEFAULT 0")
    con.executescript(_OUTBOX_KEY)


def connect(path: Path | str) -> sqlite3.Connection:
    """A connection with the pragmas the durability guarantees rely on."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        con = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("PRAGMA busy_timeout=30000")
        con.execute("PRAGMA mmap_size=1073741824")
    except sqlite3.Error as exc:
        raise StateError(f"cannot open state store {path}: {exc}") from None
    return con


class StateStore:
    """SQLite implementation of the orchestrator's state (a PostgreSQL one can follow)."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self._con = connect(path)
        self._lock = threading.RLock()
        self._in_tx = False
        self._writer = _WriterLock(path)
        self._wal: str | None = None
        if str(path) != ":memory:":
            self._wal = f"{path}-wal"
            self._con.execute("PRAGMA wal_autocheckpoint=0")
        try:
            self._con.executescript(SCHEMA)
            _migrate(self._con)
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{path} is not a Baton state store: {exc}") from None

    # -- transactions -------------------------------------------------------------------
    def _begin(self) -> None:
        if not self._in_tx:
            self._writer.acquire()
            try:
                self._con.execute("BEGIN IMMEDIATE")
            except BaseException:
                self._writer.release()
                raise
            self._in_tx = True

    def _end(self, statement: str) -> None:
        try:
            self._con.execute(statement)
        finally:
            self._in_tx = False
            self._writer.release()
        self._checkpoint_if_due()

    def _checkpoint_if_due(self) -> None:
        """Copy the WAL back into the database once it passes :data:`CHECKPOINT_BYTES`.

        SQLite's automatic checkpoint runs inside ``COMMIT``, so while this file's writer
        lock is still held: other workers waited on it, an eighth of a worker's time. A
        ``PASSIVE`` checkpoint after the lock is released runs beside the next writer's
        transaction instead (it never blocks a writer, and one that could not copy every
        frame simply leaves the rest for the next).
        """
        if self._wal is None:
            return
        try:
            size = os.stat(self._wal).st_size
        except OSError:
            return
        if size >= CHECKPOINT_BYTES:
            self._con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def commit(self) -> None:
        """Make every change since the last commit durable, as one group."""
        with self._lock:
            if self._in_tx:
                self._end("COMMIT")

    def close(self) -> None:
        self.commit()
        self._con.close()
        self._writer.close()

    # -- writes (each joins the open group transaction) ------------------------------------
    def append_event(self, event_id: str, record: bytes, ts_us: int = 0) -> bool:
        """Queue an event record for shipping; returns False if the outbox already had it.

        The outbox assigns ``seq``; appending an event it already holds (same id, same time
        ``ts_us``) is a no-op, which is how a deterministic replay resumes without duplicates.
        """
        with self._lock:
            self._begin()
            cursor = self._con.execute(_APPEND, (event_id, record, ts_us))
            return cursor.rowcount == 1

    def append_events(self, events: Sequence[tuple[str, bytes, int]]) -> None:
        """Queue several records, each given as (event id, record, time in µs)."""
        with self._lock:
            self._begin()
            self._con.executemany(_APPEND, events)

    def add_case(self, case_id: str, reference: str, fields: Mapping[str, Any]) -> bool:
        """Open a case; returns False if it exists (a replay, or a trigger sent twice)."""
        with self._lock:
            self._begin()
            cursor = self._con.execute(
                "INSERT INTO cases(case_id, reference, workflow, version, payer, site, priority,"
                " payload, status, created_us) VALUES (?,?,?,?,?,?,?,?,?,?)"
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
                    fields["created_us"],
                ),
            )
            return cursor.rowcount == 1

    def close_case(self, case_id: str, outcome: str, ts_us: int) -> None:
        """Close a case once; closing it again (in a replay) changes nothing."""
        self.close_cases([(case_id, outcome, ts_us)])

    def close_cases(self, closed: Sequence[tuple[str, str, int]]) -> None:
        """Close several cases, each given as (case id, outcome, time)."""
        params = [(outcome, ts_us, case_id) for case_id, outcome, ts_us in closed]
        with self._lock:
            self._begin()
            self._con.executemany(
                "UPDATE cases SET status='closed', outcome=?, closed_us=?"
                " WHERE case_id=? AND status <> 'closed'",
                params,
            )

    def put_item(self, item: Mapping[str, Any]) -> None:
        """Insert or update a work item row (all of :data:`ITEM_COLUMNS`)."""
        self.put_items([item])

    def put_items(self, items: Sequence[Mapping[str, Any]]) -> None:
        """Insert or update several work item rows in one statement."""
        # Parameters are built before the writer lock is taken: other workers wait on it.
        params = [tuple(item.get(c) for c in ITEM_COLUMNS) for item in items]
        with self._lock:
            self._begin()
            self._con.executemany(_UPSERT_ITEM, params)

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._begin()
            self._con.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (key, value),
            )

    # -- leasing (the multi-worker runtime) ------------------------------------------------
    def lease(
        self, owner: str, queues: Sequence[str], now_us: int, lease_us: int, limit: int
    ) -> list[dict[str, Any]]:
        """Take up to ``limit`` ready items off ``queues`` for ``owner``, committed.

        Ready means leasable state and ``available_us <= now``; urgent (low priority number)
        first, then oldest. The lease expires at ``now + lease_us`` unless completed. The
        rows become dicts after the commit, outside the writer lock.
        """
        marks = ",".join("?" * len(queues))
        # Literal states, so SQLite sees the query is within the partial index's rows.
        states = ", ".join(f"'{state}'" for state in LEASABLE)
        with self._lock:
            self.commit()
            self._begin()
            try:
                # Pick the ids first (from the index alone), then join only those: joining
                # every ready item to its case before the sort cost 4x at 2,000 ready items.
                rows = self._con.execute(
                    f"SELECT {', '.join('i.' + c for c in ITEM_COLUMNS)}, c.payer, c.site,"
                    " c.version FROM (SELECT item_id FROM items"
                    f" WHERE queue IN ({marks}) AND state IN ({states}) AND available_us <= ?"
                    " ORDER BY priority, available_us, item_id LIMIT ?) ready"
                    " JOIN items i USING (item_id) JOIN cases c USING (case_id)"
                    " ORDER BY i.priority, i.available_us, i.item_id",
                    (*queues, now_us, limit),
                ).fetchall()
                expires = now_us + lease_us
                self._con.executemany(
                    "UPDATE items SET state='in_progress', lease_owner=?, lease_expires_us=?,"
                    " updated_us=? WHERE item_id=?",
                    [(owner, expires, now_us, row[_ITEM_ID]) for row in rows],
                )
            except BaseException:
                self._end("ROLLBACK")
                raise
            self._end("COMMIT")
        names = (*ITEM_COLUMNS, "payer", "site", "version")
        return [dict(zip(names, row, strict=True)) for row in rows]

    def expired_leases(self, now_us: int, owners: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Items whose worker died or went silent: lease past its expiry, or held by one of
        ``owners`` (workers reported offline)."""
        marks = ",".join("?" * len(owners)) or "NULL"
        with self._lock:
            rows = self._con.execute(
                f"SELECT {', '.join('i.' + c for c in ITEM_COLUMNS)}, c.payer, c.site,"
                " c.version FROM items i JOIN cases c USING (case_id)"
                " WHERE i.state='in_progress'"
                f" AND (i.lease_expires_us < ? OR i.lease_owner IN ({marks}))",
                (now_us, *owners),
            ).fetchall()
        names = (*ITEM_COLUMNS, "payer", "site", "version")
        return [dict(zip(names, row, strict=True)) for row in rows]

    def heartbeat(self, worker_id: str, bot: str, version: str, now_us: int) -> None:
        with self._lock:
            self._begin()
            self._con.execute(
                "INSERT INTO workers(worker_id, bot, version, heartbeat_us, state)"
                " VALUES (?,?,?,?, 'online') ON CONFLICT(worker_id) DO UPDATE SET"
                " heartbeat_us=excluded.heartbeat_us, state='online'",
                (worker_id, bot, version, now_us),
            )

    def mark_offline(self, silent_since_us: int) -> list[str]:
        """Mark workers silent since ``silent_since_us`` offline; returns their ids."""
        with self._lock:
            self._begin()
            rows = self._con.execute(
                "UPDATE workers SET state='offline' WHERE state='online' AND heartbeat_us < ?"
                " RETURNING worker_id",
                (silent_since_us,),
            ).fetchall()
        return [str(r[0]) for r in rows]

    # -- reads ----------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._con.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def case(self, case_id: str) -> dict[str, Any] | None:
        with self._lock:
            cursor = self._con.execute("SELECT * FROM cases WHERE case_id=?", (case_id,))
            row = cursor.fetchone()
            names = [d[0] for d in cursor.description]
        if row is None:
            return None
        case = dict(zip(names, row, strict=True))
        case["payload"] = json.loads(case["payload"])
        return case

    def items(self, where: str = "TRUE", params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._con.execute(
                f"SELECT {', '.join(ITEM_COLUMNS)} FROM items WHERE {where} ORDER BY item_id",
                params,
            ).fetchall()
        return [dict(zip(ITEM_COLUMNS, row, strict=True)) for row in rows]

    def count(self, table: str, where: str = "TRUE") -> int:
        assert table in {"cases", "items", "outbox", "workers"}
        with self._lock:
            row = self._con.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()
        return int(row[0])

    def event_ids(self) -> Iterator[str]:
        with self._lock:
            rows = self._con.execute("SELECT event_id FROM outbox ORDER BY seq").fetchall()
        return (str(r[0]) for r in rows)


class _WriterLock:
    """Queues this file's writers in the kernel instead of in SQLite's busy handler.

    Two writers of one SQLite file collide on ``BEGIN IMMEDIATE``, and SQLite's busy handler
    then sleeps 1, 2, 5, 10... ms before trying again, though the other transaction is usually
    done within a millisecond: two workers on one file lost a fifth of their time that way.
    Writers that go through :class:`StateStore` first take an exclusive ``flock`` on a file
    beside the database, trying again every 50-500 µs. Writers that do not (the shipper
    marking rows shipped) still meet SQLite's own lock, and after :data:`WAIT_S` a writer
    goes on to SQLite's lock regardless, so this is an optimization, never a condition for
    correctness nor a way to wait forever. The kernel drops the lock with the process, so a
    killed worker never leaves it taken.
    """

    WAIT_S = 30.0

    def __init__(self, path: Path | str) -> None:
        self._fd: int | None = None
        if str(path) != ":memory:" and fcntl is not None:
            try:
                self._fd = os.open(f"{path}-writer", os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:  # a read-only folder: SQLite's lock alone will do
                self._fd = None
        self._held = False

    def acquire(self) -> None:
        if self._fd is None:
            return
        deadline, pause = time.monotonic() + self.WAIT_S, 50e-6
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._held = True
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return
                time.sleep(pause)
                pause = min(pause * 2, 500e-6)

    def release(self) -> None:
        if self._held and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._held = False

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


_APPEND = "INSERT INTO outbox(event_id, record, ts_us) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"

_UPSERT_ITEM = (
    f"INSERT INTO items({', '.join(ITEM_COLUMNS)})"
    f" VALUES ({', '.join('?' for _ in ITEM_COLUMNS)})"
    " ON CONFLICT(item_id) DO UPDATE SET "
    + ", ".join(f"{c}=excluded.{c}" for c in ITEM_COLUMNS if c != "item_id")
)
