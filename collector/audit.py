"""The hash-chained audit trail of stored events: append, verify, prune, export.

Every ``events`` row the store inserts is appended, in the same transaction, to ``audit``:
``seq`` (1, 2, 3, ... in insertion order), the ``event_id``, ``content_hash`` =
SHA-256 of the row's canonical serialization and ``chain_hash`` = SHA-256(previous chain
hash || content hash), both as hex (the first row's previous hash is :data:`GENESIS`).
Changing an event, removing an audit or event row, or reordering audit rows breaks a
recomputation that :func:`verify` does from the events themselves.

The canonical serialization is the contract's event columns in contract order, each as
DuckDB's ``to_json`` writes it (:func:`content_hash_sql`), so the hot path hashes in SQL, in
bulk, inside the ``INSERT ... RETURNING`` that stores the rows; only the chain (one SHA-256
per row over 64 bytes) runs in Python.

Retention (:func:`prune`) deletes a prefix of the chain, and records first a **signed
checkpoint** (HMAC-SHA256) of the last pruned row's ``seq`` and chain hash, so
:func:`verify` starts from it. Old events whose audit rows sit after a newer event (late
arrivals) are deleted too: their audit rows stay in the chain as *holes*, listed in
``audit_pruned`` and covered by the checkpoint's signature (a digest of the hole list), so a
deleted event is accepted only where a keyed prune deleted it.

What a chain cannot show on its own: someone who rewrites a row *and* every later hash, or
cuts the tail. The export's head hash, kept by an auditor, anchors the chain against both.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import enum
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from baton.contract import EVENT_COLUMNS
from collector.errors import CollectorError

#: The "previous chain hash" of the first row ever appended.
GENESIS = "0" * 64

AUDIT_DDL = """
CREATE TABLE IF NOT EXISTS audit (
    seq BIGINT,
    event_id VARCHAR,
    content_hash VARCHAR,
    chain_hash VARCHAR
)"""

CHECKPOINTS_DDL = """
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    created_ts TIMESTAMP,
    seq BIGINT,
    chain_hash VARCHAR,
    cutoff_ts TIMESTAMP,
    holes BIGINT,
    holes_digest VARCHAR,
    signature VARCHAR
)"""

PRUNED_DDL = "CREATE TABLE IF NOT EXISTS audit_pruned (seq BIGINT)"

#: Tables this module owns, created by :meth:`collector.store.Store.open`.
DDL = (AUDIT_DDL, CHECKPOINTS_DDL, PRUNED_DDL)

AUDIT_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("event_id", pa.string()),
        ("content_hash", pa.string()),
        ("chain_hash", pa.string()),
    ]
)

#: Key file beside the database, used when ``audit_key`` is not configured.
KEY_SUFFIX = ".audit-key"

#: Retained tables and their time column, for :func:`prune` (events are handled apart).
RETAINED = {"spans": "start_ts", "log_records": "ts", "metrics": "ts"}


class AuditError(CollectorError):
    """The audit trail cannot be read, verified or pruned as asked."""


def content_hash_sql(alias: str = "") -> str:
    """SQL for the hex SHA-256 of an events row's canonical serialization.

    The serialization is the row as a JSON array body: every contract column in contract
    order, each as ``to_json`` writes it (strings quoted and escaped, so no value can pass
    for a separator; ``null`` for NULL, distinct from an empty string; ISO timestamps; the
    attribute map as an object). Without the field names it hashes ~35% fewer bytes than
    ``to_json`` of a struct, and SHA-256 is most of the cost (docs/benchmarks.md). ``alias``
    qualifies the columns (``e.``), or leaves them bare for ``RETURNING``.
    """
    values = ", ".join(f"coalesce(to_json({alias}{name}), 'null')" for name, _ in EVENT_COLUMNS)
    return f"sha256(concat_ws(',', {values}))"


def chain(previous: str, content_hashes: list[str]) -> list[str]:
    """Chain hashes for ``content_hashes`` following ``previous`` (all hex).

    Example:
        >>> h = chain(GENESIS, ["ab" * 32, "cd" * 32])
        >>> h[1] == chain(h[0], ["cd" * 32])[0]
        True
    """
    prev = bytes.fromhex(previous)
    sha256 = hashlib.sha256
    fromhex = bytes.fromhex
    out: list[str] = []
    append = out.append
    for content in content_hashes:
        prev = sha256(prev + fromhex(content)).digest()
        append(prev.hex())
    return out


@dataclasses.dataclass
class Head:
    """The last row of the chain: what the next appended row links to."""

    seq: int = 0
    chain_hash: str = GENESIS

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection) -> Head:
        """The newest audit row, else the newest checkpoint, else the genesis."""
        row = _first(
            con.execute("SELECT seq, chain_hash FROM audit ORDER BY seq DESC LIMIT 1").fetchall()
        )
        if row is None:
            row = _first(
                con.execute(
                    "SELECT seq, chain_hash FROM audit_checkpoints ORDER BY seq DESC LIMIT 1"
                ).fetchall()
            )
        return cls(int(row[0]), str(row[1])) if row else cls()


def audit_rows(head: Head, inserted: pa.Table) -> tuple[pa.Table, Head]:
    """Audit rows for ``inserted`` (``event_id``, ``content_hash``) after ``head``; new head.

    Pure, so the store can apply the new head only once its transaction has committed.
    """
    n = inserted.num_rows
    contents = inserted.column("content_hash").to_pylist()
    hashes = chain(head.chain_hash, contents)
    rows = pa.table(
        {
            "seq": pa.array(range(head.seq + 1, head.seq + n + 1), pa.int64()),
            "event_id": inserted.column("event_id"),
            "content_hash": pa.array(contents, pa.string()),
            "chain_hash": pa.array(hashes, pa.string()),
        },
        schema=AUDIT_SCHEMA,
    )
    return rows, Head(head.seq + n, hashes[-1] if hashes else head.chain_hash)


def append(con: duckdb.DuckDBPyConnection, rows: pa.Table) -> None:
    """Insert audit rows from :func:`audit_rows` (inside the caller's transaction)."""
    if rows.num_rows:
        con.register("audit_batch", rows)
        try:
            con.execute("INSERT INTO audit SELECT * FROM audit_batch")
        finally:
            con.unregister("audit_batch")


# --- keys and checkpoints -------------------------------------------------------------


def audit_key(db: Path, configured: str | None, *, create: bool) -> bytes | None:
    """The checkpoint signing key: the configured one, else the key file beside ``db``.

    The file is created (mode 0600, 32 random bytes as hex) only when ``create`` is set,
    i.e. by a prune about to sign; verify never creates one.
    """
    if configured:
        return configured.encode()
    path = Path(f"{db}{KEY_SUFFIX}")
    if path.is_file():
        return path.read_text(encoding="ascii").strip().encode()
    if not create:
        return None
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return path.read_text(encoding="ascii").strip().encode()


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """The last pruned row (``seq``, ``chain_hash``) and the holes left after it, signed."""

    created_ts: dt.datetime
    seq: int
    chain_hash: str
    cutoff_ts: dt.datetime | None
    holes: int
    holes_digest: str
    signature: str = ""

    def message(self) -> bytes:
        """The bytes the signature covers: every field but the signature."""
        cutoff = self.cutoff_ts.isoformat() if self.cutoff_ts else ""
        fields = (self.created_ts.isoformat(), self.seq, self.chain_hash, cutoff, self.holes)
        return "|".join(map(str, (*fields, self.holes_digest))).encode()

    def signed(self, key: bytes) -> Checkpoint:
        """This checkpoint with its HMAC-SHA256 signature."""
        signature = hmac.new(key, self.message(), hashlib.sha256).hexdigest()
        return dataclasses.replace(self, signature=signature)

    def valid(self, key: bytes) -> bool:
        """Whether the signature matches (compared in constant time)."""
        return hmac.compare_digest(self.signed(key).signature, self.signature)


def latest_checkpoint(con: duckdb.DuckDBPyConnection) -> Checkpoint | None:
    """The checkpoint verification starts from (the newest one), if any."""
    row = _first(
        con.execute(
            "SELECT created_ts, seq, chain_hash, cutoff_ts, holes, holes_digest, signature "
            "FROM audit_checkpoints ORDER BY created_ts DESC, seq DESC LIMIT 1"
        ).fetchall()
    )
    return Checkpoint(*row) if row else None


def holes_digest(seqs: list[int]) -> str:
    """SHA-256 over the sorted hole sequence numbers, so the signature covers the list."""
    return hashlib.sha256(",".join(map(str, sorted(seqs))).encode()).hexdigest()


# --- verification ---------------------------------------------------------------------


class Problem(enum.Enum):
    """What is wrong with the first bad row of the trail."""

    CONTENT_CHANGED = "content changed"
    """The event row (or the audit row's content hash) differs from what was chained."""
    ROW_MISSING = "row missing"
    """An audit row, or the event it records, was removed."""
    ORDER_CHANGED = "order changed"
    """The audit row is intact but sits at another place in the chain."""
    CHAIN_CHANGED = "chain hash changed"
    """The audit row's chain hash was edited."""
    CHECKPOINT_FORGED = "checkpoint signature invalid"
    """The checkpoint verification starts from is not signed by the audit key."""


@dataclasses.dataclass(frozen=True)
class Finding:
    """The first bad row: its place in the chain, its event, what is wrong, and details."""

    seq: int
    event_id: str | None
    problem: Problem
    detail: str

    def __str__(self) -> str:
        event = f" (event {self.event_id})" if self.event_id else ""
        return f"audit row {self.seq}{event}: {self.problem.value}: {self.detail}"


@dataclasses.dataclass(frozen=True)
class Verification:
    """The outcome of :func:`verify`: rows checked, the head, and the first finding."""

    rows: int
    head: Head
    start: int
    finding: Finding | None = None

    @property
    def intact(self) -> bool:
        """True when no row was found changed, missing or out of order."""
        return self.finding is None

    def summary(self) -> str:
        """One line for the CLI."""
        if self.finding:
            return f"chain broken at {self.finding}"
        since = f" (from checkpoint at row {self.start})" if self.start else ""
        return f"{self.rows} rows, chain intact{since}; head {self.head.seq} {self.head.chain_hash}"


_VERIFY_SQL = f"""
SELECT a.seq, a.event_id, a.content_hash, a.chain_hash,
       e.event_id IS NOT NULL AS present, {content_hash_sql("e.")} AS actual
FROM audit a LEFT JOIN events e ON e.event_id = a.event_id
WHERE a.seq > $start
ORDER BY a.seq, actual
"""


def verify(con: duckdb.DuckDBPyConnection, key: bytes | None) -> Verification:
    """Recompute the chain from the events and report the first bad row.

    Starts from the latest checkpoint when there is one (after checking its signature with
    ``key``; no key is itself a finding). Reads in Arrow batches, so memory stays flat.
    """
    checkpoint = latest_checkpoint(con)
    head, holes = Head(), set[int]()
    if checkpoint is not None:
        if key is None or not checkpoint.valid(key):
            why = "no audit key to check it" if key is None else "HMAC does not match"
            return Verification(
                0, head, checkpoint.seq, _at(checkpoint, Problem.CHECKPOINT_FORGED, why)
            )
        holes = {int(r[0]) for r in con.execute("SELECT seq FROM audit_pruned").fetchall()}
        if holes_digest(list(holes)) != checkpoint.holes_digest or len(holes) != checkpoint.holes:
            return Verification(
                0,
                head,
                checkpoint.seq,
                _at(checkpoint, Problem.CHECKPOINT_FORGED, "the list of pruned rows was changed"),
            )
        head = Head(checkpoint.seq, checkpoint.chain_hash)
    start = head.seq
    rows = 0
    for batch in _batches(con, _VERIFY_SQL, {"start": start}):
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        for seq, event_id, stored, chained, present, actual in zip(*columns, strict=True):
            finding = _check(con, head, seq, event_id, stored, chained, present, actual, holes)
            if finding is not None:
                return Verification(rows, head, start, finding)
            head = Head(seq, chained)
            rows += 1
    return Verification(rows, head, start)


def _at(checkpoint: Checkpoint, problem: Problem, detail: str) -> Finding:
    return Finding(checkpoint.seq, None, problem, f"checkpoint at row {checkpoint.seq}: {detail}")


def _check(
    con: duckdb.DuckDBPyConnection,
    head: Head,
    seq: int,
    event_id: str,
    stored: str,
    chained: str,
    present: bool,
    actual: str | None,
    holes: set[int],
) -> Finding | None:
    """The finding for one audit row following ``head``, or None when it is sound."""
    if seq == head.seq:
        return Finding(seq, event_id, Problem.CONTENT_CHANGED, "the event is stored twice")
    if seq != head.seq + 1:
        if seq < head.seq:
            return Finding(seq, event_id, Problem.ORDER_CHANGED, f"row {seq} follows {head.seq}")
        return Finding(
            head.seq + 1,
            None,
            Problem.ROW_MISSING,
            f"audit rows {head.seq + 1}..{seq - 1} were removed (next is row {seq}, "
            f"event {event_id})",
        )
    if not present and seq not in holes:
        return Finding(seq, event_id, Problem.ROW_MISSING, "the event row was removed")
    if present and actual != stored:
        return Finding(
            seq, event_id, Problem.CONTENT_CHANGED, "the event row differs from its hash"
        )
    if chain(head.chain_hash, [stored])[0] == chained:
        return None
    if _links_elsewhere(con, stored, chained):
        return Finding(
            seq, event_id, Problem.ORDER_CHANGED, f"the row does not follow row {head.seq}"
        )
    return Finding(seq, event_id, Problem.CHAIN_CHANGED, "the chain hash was edited")


def _links_elsewhere(con: duckdb.DuckDBPyConnection, content: str, chained: str) -> bool:
    """Whether ``chained`` is ``content`` chained after some other row: the row was moved."""
    cur = con.cursor()  # the caller's connection is still streaming the audit rows
    try:
        candidates = [GENESIS]
        candidates += [str(r[0]) for r in cur.execute("SELECT chain_hash FROM audit").fetchall()]
        candidates += [
            str(r[0]) for r in cur.execute("SELECT chain_hash FROM audit_checkpoints").fetchall()
        ]
    finally:
        cur.close()
    return any(chain(c, [content])[0] == chained for c in candidates)


def _batches(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]
) -> Iterator[pa.RecordBatch]:
    reader = con.sql(sql, params=params or None).to_arrow_reader(64 * 1024)
    yield from reader


def has_audit(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the file has an audit trail at all (files of older collectors do not)."""
    row = _first(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'audit'"
        ).fetchall()
    )
    return bool(row and row[0])


# --- retention ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PruneReport:
    """What :func:`prune` deleted per table, and the checkpoint it signed (if any)."""

    deleted: dict[str, int]
    checkpoint: Checkpoint | None

    def lines(self) -> list[str]:
        """Lines for the CLI."""
        out = [", ".join(f"{t}: {n} deleted" for t, n in self.deleted.items())]
        if self.checkpoint:
            cp = self.checkpoint
            out.append(
                f"signed checkpoint at audit row {cp.seq} ({cp.chain_hash}); "
                f"{cp.holes} later row(s) pruned as holes"
            )
        return out


def prune(con: duckdb.DuckDBPyConnection, cutoff: dt.datetime, key: bytes) -> PruneReport:
    """Delete data older than ``cutoff`` in one transaction, keeping the chain verifiable.

    Refuses on a chain that does not verify: a prune must not launder tampering into a
    signed checkpoint. Audit rows are deleted as a prefix (up to the first row whose event
    is kept) behind a signed checkpoint; older events after that point become holes.
    """
    before = verify(con, key)
    if not before.intact:
        raise AuditError(f"not pruning: the audit trail does not verify ({before.finding})")
    params = {"cutoff": cutoff}
    con.begin()
    try:
        old = "(SELECT event_id FROM events WHERE ts < $cutoff)"
        kept_from = _first(
            con.execute(
                "SELECT min(a.seq) FROM audit a JOIN events e ON e.event_id = a.event_id "
                "WHERE e.ts IS NULL OR e.ts >= $cutoff",
                params,
            ).fetchall()
        )
        last = _first(con.execute("SELECT max(seq) FROM audit").fetchall())
        first_kept = kept_from[0] if kept_from and kept_from[0] is not None else None
        prefix_end = (first_kept - 1) if first_kept is not None else (last[0] if last else None)
        deleted: dict[str, int] = {}
        checkpoint = None
        if prefix_end is not None:
            previous = latest_checkpoint(con)
            holes = [
                int(r[0])
                for r in con.execute(
                    f"SELECT seq FROM audit WHERE seq > $end AND event_id IN {old} "
                    "UNION SELECT seq FROM audit_pruned WHERE seq > $end",
                    {**params, "end": prefix_end},
                ).fetchall()
            ]
            row = _first(
                con.execute(
                    "SELECT chain_hash FROM audit WHERE seq = $end", {"end": prefix_end}
                ).fetchall()
            )
            if row:
                at = Head(prefix_end, str(row[0]))
            elif previous is not None:  # nothing new to cut: the prefix ends where it did
                at = Head(previous.seq, previous.chain_hash)
            else:
                at = Head()
            checkpoint = Checkpoint(
                dt.datetime.now(dt.UTC).replace(tzinfo=None),
                at.seq,
                at.chain_hash,
                cutoff,
                len(holes),
                holes_digest(holes),
            ).signed(key)
            if at.seq or holes:
                con.execute(
                    "INSERT INTO audit_checkpoints VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        checkpoint.created_ts,
                        checkpoint.seq,
                        checkpoint.chain_hash,
                        checkpoint.cutoff_ts,
                        checkpoint.holes,
                        checkpoint.holes_digest,
                        checkpoint.signature,
                    ],
                )
                con.execute("DELETE FROM audit_pruned")
                if holes:
                    con.execute("INSERT INTO audit_pruned SELECT unnest($holes)", {"holes": holes})
            else:
                checkpoint = None
            deleted["audit"] = _count(con, "DELETE FROM audit WHERE seq <= $end", end=at.seq)
        deleted["events"] = _count(con, "DELETE FROM events WHERE ts < $cutoff", **params)
        for table, column in RETAINED.items():
            deleted[table] = _count(con, f"DELETE FROM {table} WHERE {column} < $cutoff", **params)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return PruneReport(deleted, checkpoint)


def _first(rows: list[Any]) -> Any:
    """The first row or None: ``fetchone`` would leave the result open, and DuckDB 2.0
    refuses the connection's next statement until it is drained."""
    return rows[0] if rows else None


def _count(con: duckdb.DuckDBPyConnection, sql: str, **params: Any) -> int:
    row = _first(con.execute(sql, params).fetchall())
    return int(row[0]) if row and row[0] is not None else 0


# --- export ---------------------------------------------------------------------------

EXPORT_FIELDS = ("record", "seq", "event_id", "content_hash", "chain_hash", "signature")


def export(con: duckdb.DuckDBPyConnection, out: Path) -> Head:
    """Write the trail to ``out``: CSV, or JSON lines for ``.jsonl``/``.ndjson``/``.json``.

    One record per line: the checkpoint verification starts from (``record=checkpoint``,
    with its signature), every audit row (``row``), and last the ``head`` an auditor keeps
    to check a later export against. Written to a temporary file, then moved over ``out``.
    """
    as_json = out.suffix.lower() in (".jsonl", ".ndjson", ".json")
    if not as_json and out.suffix.lower() != ".csv":
        raise AuditError(f"{out}: export to .csv or .jsonl (JSON lines)")
    tmp = out.with_name(out.name + ".tmp")
    head = Head()
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, EXPORT_FIELDS) if not as_json else None
        if writer:
            writer.writeheader()

        def emit(record: dict[str, Any]) -> None:
            if writer:
                writer.writerow(record)
            else:
                handle.write(json.dumps(record) + "\n")

        checkpoint = latest_checkpoint(con)
        if checkpoint:
            head = Head(checkpoint.seq, checkpoint.chain_hash)
            emit(
                {
                    "record": "checkpoint",
                    "seq": checkpoint.seq,
                    "chain_hash": checkpoint.chain_hash,
                    "signature": checkpoint.signature,
                }
            )
        sql = "SELECT seq, event_id, content_hash, chain_hash FROM audit ORDER BY seq"
        for batch in _batches(con, sql, {}):
            for row in batch.to_pylist():
                emit({"record": "row", **row})
                head = Head(int(row["seq"]), str(row["chain_hash"]))
        emit({"record": "head", "seq": head.seq, "chain_hash": head.chain_hash})
    tmp.replace(out)
    return head
