"""The SQLite state store: replay de-duplication, and files written by earlier versions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from orchestrator.records import build_record
from orchestrator.store import ITEM_COLUMNS, StateStore

# The tables as the first released store created them: items keyed by their hashed id,
# event ids unique on their own, one "shipped" flag per record.
EARLIER_SCHEMA = """
CREATE TABLE cases (
    case_id TEXT PRIMARY KEY, reference TEXT NOT NULL, workflow TEXT NOT NULL,
    version TEXT NOT NULL, payer TEXT, site TEXT, priority INTEGER, payload TEXT NOT NULL,
    status TEXT NOT NULL, outcome TEXT, created_us INTEGER NOT NULL, closed_us INTEGER
);
CREATE TABLE items (
    item_id INTEGER PRIMARY KEY, case_id TEXT NOT NULL REFERENCES cases(case_id),
    item_no INTEGER NOT NULL, workflow TEXT NOT NULL, step TEXT NOT NULL, queue TEXT NOT NULL,
    state TEXT NOT NULL, attempt INTEGER NOT NULL, priority INTEGER NOT NULL, due_us INTEGER,
    available_us INTEGER NOT NULL, enqueued_us INTEGER NOT NULL, updated_us INTEGER NOT NULL,
    link_span TEXT, lease_owner TEXT, lease_expires_us INTEGER
);
CREATE INDEX items_ready ON items(queue, state, priority, available_us);
CREATE INDEX items_leased ON items(state, lease_expires_us);
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,
    record BLOB NOT NULL, shipped INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE workers (
    worker_id TEXT PRIMARY KEY, bot TEXT, version TEXT, heartbeat_us INTEGER NOT NULL,
    state TEXT NOT NULL
);
"""


def record(event_id: str, ts_us: int) -> bytes:
    return build_record(ts_ns=ts_us * 1000, event_id=event_id, lifecycle="started", attributes={})


def item(item_id: int, state: str, available_us: int = 0) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(ITEM_COLUMNS)
    row.update(
        item_id=item_id, case_id="c1", item_no=1, workflow="wf", step="s", queue="q",
        state=state, attempt=1, priority=5, available_us=available_us, enqueued_us=0,
        updated_us=0,
    )  # fmt: skip
    return row


def add_case(store: StateStore) -> None:
    fields = {"workflow": "wf", "version": "1", "created_us": 0}
    assert store.add_case("c1", "REF-1", fields)


def test_a_replayed_event_is_refused_and_a_new_one_kept(tmp_path: Path):
    store = StateStore(tmp_path / "s.sqlite")
    assert store.append_event("e1", record("e1", 10), 10)
    assert not store.append_event("e1", record("e1", 10), 10)  # the same event replayed
    assert store.append_event("e2", record("e2", 10), 10)
    store.append_events([("e2", record("e2", 10), 10), ("e3", record("e3", 11), 11)])
    store.commit()
    assert list(store.event_ids()) == ["e1", "e2", "e3"]
    store.close()


def test_a_file_from_an_earlier_version_opens_and_keeps_working(tmp_path: Path):
    path = tmp_path / "s.sqlite"
    con = sqlite3.connect(path)
    con.executescript(EARLIER_SCHEMA)
    con.execute("INSERT INTO outbox(event_id, record, shipped) VALUES ('old', x'00', 1)")
    con.commit()
    con.close()

    store = StateStore(path)
    # Its own UNIQUE(event_id) still refuses an old event, whatever time it is given now.
    assert not store.append_event("old", record("old", 5), 5)
    assert store.append_event("new", record("new", 5), 5)
    add_case(store)
    store.put_items([item(7, "new")])
    store.put_items([item(7, "retried", available_us=3)])  # an update, not a second row
    store.commit()
    leased = store.lease("w1", ["q"], now_us=5, lease_us=60, limit=10)
    store.commit()
    assert [(i["item_id"], i["state"]) for i in leased] == [(7, "retried")]
    assert store.count("items") == 1
    assert list(store.event_ids()) == ["old", "new"]
    indexes = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")}
    assert {"items_leasable", "items_in_progress", "outbox_event"} <= indexes
    assert not {"items_ready", "items_leased"} & indexes
    store.close()


def test_leasing_follows_priority_then_time_and_skips_deferred_items(tmp_path: Path):
    store = StateStore(tmp_path / "s.sqlite")
    add_case(store)
    rows = [item(1, "new", 30), item(2, "new", 10), item(3, "retried", 20), item(4, "new", 99)]
    rows[0]["priority"] = 1  # urgent, though the latest of the ready ones
    store.put_items(rows)
    store.commit()
    leased = store.lease("w1", ["q"], now_us=50, lease_us=60, limit=10)
    store.commit()
    assert [i["item_id"] for i in leased] == [1, 2, 3]  # 4 is deferred past now
    assert store.lease("w2", ["q"], now_us=50, lease_us=60, limit=10) == []
    store.commit()
    assert sorted(i["item_id"] for i in store.expired_leases(now_us=200)) == [1, 2, 3]
    store.close()
