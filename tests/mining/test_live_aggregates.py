"""Live aggregates equal a full recomputation, whatever batches arrive in whatever order.

Property tests write random batches (late events, duplicates, repeated batches, cases whose
events disagree on workflow, payer or site, events without ``seq``) through the collector's
real :class:`~collector.store.Store` into a DuckDB file, then compare every live figure with
its full counterpart in :mod:`mining.figures`, and the live tables with a rebuild from all
events. An end-to-end test sends OTLP log records to a real collector process.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.otlp_logs import EVENT_SCHEMA
from collector.store import Store
from mining import figures, live
from mining.filters import Filters
from mining.registry import compute
from tests.mining.frames import assert_same

BASE = dt.datetime(2026, 3, 2, 8, 0)
LIFECYCLES = (
    "enqueued",
    "started",
    "completed",
    "failed",
    "retried",
    "escalated",
    "resumed",
    "abandoned",
)
#: The lifecycles an activity instance is made of.
PAIRED = ("started", "started", "completed", "failed")

FILTERS = (
    Filters(),
    Filters(workflow="w1"),
    Filters(payer="p1"),
    Filters(site="s2"),
    Filters(workflow="w2", payer="p2", site="s1"),
)
HOURS = (
    Filters(since=BASE + dt.timedelta(hours=2)),
    Filters(until=BASE + dt.timedelta(hours=5), payer="p2"),
)


@st.composite
def event_rows(draw: st.DrawFn, dense: bool = False) -> dict[str, Any]:
    """One event; ``dense``: few cases, one step and attempt, only starts and ends, so that
    instances of one step overlap in a case (start, start, end, end) and pair FIFO."""
    case = draw(st.sampled_from(["c0", "c1"] if dense else ["c0", "c1", "c2", "c3", "c4"]))
    # Most events carry their case's dimensions; some disagree (a "mixed" case).
    home = int(case[1])
    odd = draw(st.integers(0, 9)) == 0
    return {
        "case_id": case,
        "workflow": draw(st.sampled_from(["w1", "w2", None])) if odd else f"w{home % 2 + 1}",
        "workflow_version": "1",
        "payer": draw(st.sampled_from(["p1", "p2", None])) if odd else f"p{home % 3}",
        "site": f"s{home % 2 + 1}",
        "activity": draw(st.sampled_from(["verify"] if dense else ["intake", "verify", "submit"])),
        "lifecycle": draw(st.sampled_from(PAIRED if dense else LIFECYCLES)),
        # Minutes over ten hours: several hour buckets, many ties at equal times.
        "ts": BASE + dt.timedelta(minutes=draw(st.integers(0, 600)) // 7 * 7),
        "attempt": draw(st.sampled_from([1] if dense else [1, 1, 2, None])),
        "queue": draw(st.sampled_from(["q-intake", "q-verify", None])),
        "due_ts": draw(st.sampled_from([None, BASE + dt.timedelta(hours=3)])),
        "has_seq": draw(st.integers(0, 4)) > 0,
    }


@st.composite
def batch_sequences(draw: st.DrawFn, overlapping: bool = False) -> list[list[dict[str, Any]]]:
    """Batches of events; ``overlapping``: half the examples dense (see :func:`event_rows`)."""
    dense = overlapping and draw(st.booleans())
    rows = draw(st.lists(event_rows(dense), min_size=8 if dense else 1, max_size=40))
    for i, row in enumerate(rows):
        row["event_id"] = f"e{i}"
        row["seq"] = i + 1 if row.pop("has_seq") else None
    # Split into batches in a random arrival order (late events), then repeat some rows
    # and some whole batches (at-least-once senders).
    order = draw(st.permutations(range(len(rows))))
    cuts = sorted(draw(st.lists(st.integers(1, len(rows)), max_size=5)))
    bounds = [0, *cuts, len(rows)]
    batches = [[rows[j] for j in order[a:b]] for a, b in itertools.pairwise(bounds) if b > a]
    repeats = draw(st.lists(st.integers(0, len(rows) - 1), max_size=5))
    if repeats:
        batches.append([rows[j] for j in repeats])
    if draw(st.booleans()):
        batches.append(list(batches[0]))
    return batches


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    columns = {name: [row.get(name) for row in rows] for name in EVENT_SCHEMA.names}
    return pa.table(columns, schema=EVENT_SCHEMA)


def _snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: sorted(con.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
        for table in live.DDL
    }


def assert_live_equals_full(con: duckdb.DuckDBPyConnection) -> None:
    assert live.in_sync(con)
    for f in FILTERS:
        assert_same(live.overview_live(con, f), figures.overview(con, f), f"overview {f}")
        assert_same(live.dfg_live(con, f), figures.dfg(con, f), f"dfg {f}")
        assert_same(live.queue_summary_live(con, f), figures.queue_summary(con, f), f"queue {f}")
        assert_same(live.retry_counts_live(con, f), figures.retry_counts(con, f), f"retry {f}")
    for f in HOURS:
        assert_same(live.retry_counts_live(con, f), figures.retry_counts(con, f), f"retry {f}")
        assert_same(live.overview_live(con, f), figures.overview(con, f), f"overview {f}")
    late = BASE + dt.timedelta(days=2)
    assert_same(
        live.queue_summary_live(con, Filters(payer="p1"), late),
        figures.queue_summary(con, Filters(payer="p1"), late),
        "queue at a later time",
    )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batches=batch_sequences(overlapping=True))
def test_live_aggregates_equal_full_recomputation(tmp_path: Path, batches) -> None:
    path = tmp_path / f"live-{abs(hash(repr(batches)))}.duckdb"
    store = Store.open(path)
    try:
        for batch in batches:
            store.write([{"events": _table(batch)}])
        con = store.cursor()
        try:
            assert_live_equals_full(con)
            incremental = _snapshot(con)
            con.begin()
            live.recompute_all(con)
            assert _snapshot(con) == incremental
            con.rollback()
        finally:
            con.close()
    finally:
        store.close()
        path.unlink()


def _rows(n: int, case: str, start: dt.datetime, first_seq: int) -> list[dict[str, Any]]:
    steps = ["enqueued", "started", "completed"] * (n // 3 + 1)
    return [
        {
            "event_id": f"{case}-{first_seq + i}",
            "seq": first_seq + i,
            "case_id": case,
            "workflow": "w1",
            "payer": "p1",
            "site": "s1",
            "activity": ["intake", "verify", "submit"][i // 3 % 3],
            "lifecycle": steps[i],
            "ts": start + dt.timedelta(minutes=5 * i),
            "attempt": 1,
            "queue": "q",
        }
        for i in range(n)
    ]


def test_late_event_recomputes_an_old_case(tmp_path: Path) -> None:
    """An event of a case that started long before the batch's time range moves its cycle
    time and edges; only the touched case is recomputed."""
    store = Store.open(tmp_path / "late.duckdb")
    try:
        store.write([{"events": _table(_rows(6, "old", BASE, 1))}])
        later = BASE + dt.timedelta(days=3)
        store.write([{"events": _table(_rows(9, "new", later, 100))}])
        # Late: the old case's next step arrives with a time before everything of "new".
        late = _rows(9, "old", BASE, 1)[6:]
        store.write([{"events": _table(late)}])
        con = store.cursor()
        try:
            assert_live_equals_full(con)
            cases = dict(con.execute("SELECT case_id, events FROM live_cases").fetchall())
            assert cases == {"old": 9, "new": 9}
        finally:
            con.close()
    finally:
        store.close()


def test_events_written_around_the_store_are_picked_up(tmp_path: Path) -> None:
    """An import through a cursor bypasses the refresh: figures fall back to events until the
    store's next write (or open) rebuilds the tables."""
    path = tmp_path / "around.duckdb"
    store = Store.open(path)
    try:
        store.write([{"events": _table(_rows(6, "a", BASE, 1))}])
        con = store.cursor()
        con.register("extra", _table(_rows(3, "b", BASE, 50)))
        con.execute("INSERT INTO events BY NAME SELECT * FROM extra")
        assert not live.in_sync(con)
        assert live.overview_live(con)["cases"].to_list() == [2]  # computed from events
        store.write([{"events": _table(_rows(3, "c", BASE, 80))}])
        assert live.in_sync(con)
        assert_live_equals_full(con)
        con.close()
    finally:
        store.close()
    # A file whose live tables are gone (an older collector's) is rebuilt on open.
    raw = duckdb.connect(str(path))
    raw.execute("DROP TABLE live_edges")
    raw.close()
    store = Store.open(path)
    try:
        con = store.cursor()
        assert_live_equals_full(con)
        assert live.overview_live(con)["cases"].to_list() == [3]
        con.close()
    finally:
        store.close()


def test_a_file_of_the_previous_layout_is_rebuilt_on_open(tmp_path: Path) -> None:
    """Stored rows of an older ``VERSION`` (layout 6 numbered tied events and picked a step's
    workflow as they came) are dropped and computed again when the store opens the file."""
    path = tmp_path / "older.duckdb"
    store = Store.open(path)
    try:
        store.write([{"events": _table(_rows(9, "a", BASE, 1))}])
    finally:
        store.close()
    raw = duckdb.connect(str(path))
    raw.execute("UPDATE live_meta SET version = $v", {"v": live.VERSION - 1})
    raw.execute("UPDATE live_attempts SET workflow = 'stale'")
    raw.close()
    store = Store.open(path)
    try:
        con = store.cursor()
        assert con.execute("SELECT max(version) FROM live_meta").fetchall() == [(live.VERSION,)]
        assert live.attempts_ready(con)
        workflows = con.execute("SELECT DISTINCT workflow FROM live_attempts").fetchall()
        assert workflows == [("w1",)]
        assert_live_equals_full(con)
        con.close()
    finally:
        store.close()


def test_prune_recomputes_the_cases_it_cuts(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "prune.duckdb")
    try:
        rows = _rows(9, "a", BASE, 1) + _rows(6, "b", BASE + dt.timedelta(hours=1), 20)
        store.write([{"events": _table(rows + _rows(3, "c", BASE + dt.timedelta(hours=3), 40))}])
        store.prune(BASE + dt.timedelta(minutes=70), b"k" * 32)
        con = store.cursor()
        try:
            assert_live_equals_full(con)
            cases = dict(con.execute("SELECT case_id, events FROM live_cases").fetchall())
            assert cases == {"b": 4, "c": 3}  # a lost all its events, b its first two
        finally:
            con.close()
        store.write([{"events": _table(_rows(3, "d", BASE + dt.timedelta(hours=4), 60))}])
        con = store.cursor()
        assert_live_equals_full(con)
        con.close()
    finally:
        store.close()


def test_registry_serves_live_figures(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "reg.duckdb")
    try:
        store.write([{"events": _table(_rows(9, "a", BASE, 1) + _rows(6, "b", BASE, 20))}])
        con = store.cursor()
        for name in ("overview", "dfg", "queue_summary", "retry_counts"):
            assert_same(compute(f"{name}_live", con, {"payer": "p1"}), compute(name, con), name)
        con.close()
    finally:
        store.close()


def _logs_body(events: list[tuple[str, int, str, str, str, int]]) -> bytes:
    """OTLP log records as the orchestrator's shipper sends them (one per event)."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    from baton.contract import Attr, EventName

    request = ExportLogsServiceRequest()
    resource = request.resource_logs.add()
    resource.resource.attributes.add(
        key=Attr.SERVICE_NAME, value=AnyValue(string_value="baton-orchestrator")
    )
    scope = resource.scope_logs.add()
    t0 = int(BASE.replace(tzinfo=dt.UTC).timestamp()) * 10**9
    for event_id, seq, case, step, lifecycle, minutes in events:
        attrs = {
            Attr.EVENT_ID: event_id,
            Attr.SEQ: seq,
            Attr.CASE_ID: case,
            Attr.WORKFLOW: "referral",
            Attr.WORKFLOW_VERSION: "3",
            Attr.STEP: step,
            Attr.LIFECYCLE: lifecycle,
            Attr.MESSAGING_DESTINATION: step,
            Attr.ATTEMPT: 1,
            Attr.PAYER: "acme" if case != "b" else "zenith",
            Attr.SITE: "north",
        }
        record = scope.log_records.add(
            time_unix_nano=t0 + minutes * 60 * 10**9, event_name=EventName.WORK_ITEM
        )
        for key, value in attrs.items():
            any_value = AnyValue(int_value=value) if isinstance(value, int) else None
            record.attributes.append(
                KeyValue(key=key, value=any_value or AnyValue(string_value=str(value)))
            )
    return request.SerializeToString()


def test_collector_keeps_live_aggregates(start_collector) -> None:
    """Events sent to a running collector, late and twice, land in the live aggregates; the
    query API serves the live figures and they equal the full ones."""
    collector = start_collector()
    first = [
        ("e1", 1, "a", "verify", "enqueued", 0),
        ("e2", 2, "a", "verify", "started", 5),
        ("e3", 3, "a", "verify", "completed", 7),
        ("e7", 7, "b", "verify", "enqueued", 40),
        ("e8", 8, "b", "verify", "started", 200),
    ]
    late = [  # case a's second step arrives after case b's events, and twice
        ("e4", 4, "a", "submit", "enqueued", 7),
        ("e5", 5, "a", "submit", "started", 30),
        ("e6", 6, "a", "submit", "completed", 31),
    ]
    for body in (_logs_body(first), _logs_body(late), _logs_body(late + first[:2])):
        answer = requests.post(
            f"{collector.url}/v1/logs",
            data=body,
            headers={"Content-Type": "application/x-protobuf"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
    api = f"{collector.url}/api/v1/figures"
    for name, query in (
        ("overview", {}),
        ("dfg", {}),
        ("dfg", {"payer": "acme"}),
        ("queue_summary", {}),
        ("retry_counts", {"site": "north"}),
    ):
        params = {**query, "format": "json"}
        live_rows = requests.get(f"{api}/{name}_live", params=params, timeout=10)
        full_rows = requests.get(f"{api}/{name}", params=params, timeout=10)
        assert live_rows.status_code == 200, live_rows.text
        assert_same(pl.DataFrame(live_rows.json()), pl.DataFrame(full_rows.json()), name)
    overview = requests.get(f"{api}/overview_live", params={"format": "json"}, timeout=10)
    (row,) = overview.json()
    assert (row["cases"], row["events"], row["handoffs"]) == (2, 8, 3)
