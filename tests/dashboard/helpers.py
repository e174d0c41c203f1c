"""Test helpers of the dashboard: a small referral log in a real DuckDB file, a fake collector.

The log is written by hand rather than by the simulator so the dashboard's tests do not
depend on the orchestrator: seven cases of a referral workflow (clean runs, retries after
failures, one escalation to the workbench, items still waiting in queues) and one case of a
second workflow, for the workflow filter.
"""

from __future__ import annotations

import itertools
import json
import threading
import urllib.parse
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.ipc

import mining
from baton.contract import EVENT_COLUMNS, WORKBENCH_QUEUE, trace_id_for_case
from mining.schema import create_events_table

REFERRAL_STEPS = (
    ("referral_intake", "intake"),
    ("eligibility_check", "eligibility"),
    ("prior_authorization", "prior_auth"),
    ("scheduling", "scheduling"),
    ("claim_submission", "claims"),
)
START = datetime(2026, 3, 2, 8, 0)

_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "TIMESTAMP": pa.timestamp("us"),
    "MAP(VARCHAR, VARCHAR)": pa.map_(pa.string(), pa.string()),
}
EVENT_SCHEMA = pa.schema([(name, _ARROW_TYPES[kind]) for name, kind in EVENT_COLUMNS])


class LogBuilder:
    """Appends the events of one case at a time, stamping ``seq`` like the outbox does."""

    def __init__(self) -> None:
        self.rows: list[dict[str, object]] = []
        self._seq = itertools.count(1)

    def case(
        self, case_id: str, *, workflow: str = "referral", payer: str = "acme", site: str = "north"
    ) -> CaseBuilder:
        return CaseBuilder(self, case_id, workflow, payer, site)

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(self.rows, schema=EVENT_SCHEMA)


class CaseBuilder:
    """One case's timeline: each call moves its clock forward and writes one event."""

    def __init__(self, log: LogBuilder, case_id: str, workflow: str, payer: str, site: str) -> None:
        self.log, self.case_id = log, case_id
        self.workflow, self.payer, self.site = workflow, payer, site
        self.ts = START

    def at(self, ts: datetime) -> CaseBuilder:
        self.ts = ts
        return self

    def event(
        self,
        activity: str,
        lifecycle: str,
        queue: str,
        *,
        after: timedelta,
        attempt: int = 1,
        resource: str = "system",
        resource_kind: str = "system",
        **extra: object,
    ) -> CaseBuilder:
        self.ts += after
        seq = next(self.log._seq)
        self.log.rows.append(
            {
                "event_id": f"{self.case_id}-{seq}",
                "seq": seq,
                "case_id": self.case_id,
                "workflow": self.workflow,
                "workflow_version": "1",
                "activity": activity,
                "lifecycle": lifecycle,
                "ts": self.ts,
                "resource": resource,
                "resource_kind": resource_kind,
                "queue": queue,
                "attempt": attempt,
                "priority": 2,
                "due_ts": extra.pop("due_ts", None),
                "payer": self.payer,
                "site": self.site,
                "exception_type": extra.pop("exception_type", None),
                "error_type": extra.pop("error_type", None),
                "outcome": extra.pop("outcome", None),
                "trace_id": f"{trace_id_for_case(self.case_id):032x}",
                "span_id": f"{seq:016x}",
                "attributes": [("baton.item_id", f"{self.case_id}:{activity}")],
            }
        )
        assert not extra, extra
        return self

    def enqueue(
        self, activity: str, queue: str, *, after: timedelta = timedelta(minutes=1)
    ) -> CaseBuilder:
        return self.event(
            activity, "enqueued", queue, after=after, due_ts=self.ts + after + timedelta(hours=4)
        )

    def run(
        self,
        activity: str,
        queue: str,
        *,
        wait: timedelta,
        service: timedelta,
        attempt: int = 1,
        fail: str | None = None,
    ) -> CaseBuilder:
        bot = {"resource": f"bot-{queue}", "resource_kind": "bot"}
        self.event(activity, "started", queue, after=wait, attempt=attempt, **bot)
        if fail is None:
            return self.event(
                activity, "completed", queue, after=service, attempt=attempt, outcome="ok", **bot
            )
        kind = "timeout" if fail == "PortalTimeout" else "application"
        return self.event(
            activity,
            "failed",
            queue,
            after=service,
            attempt=attempt,
            exception_type=kind,
            error_type=fail,
            **bot,
        )

    def retry(self, activity: str, queue: str, *, attempt: int, error: str) -> CaseBuilder:
        return self.event(
            activity,
            "retried",
            queue,
            after=timedelta(seconds=30),
            attempt=attempt,
            error_type=error,
        )

    def steps(
        self,
        steps: tuple[tuple[str, str], ...],
        *,
        wait: timedelta = timedelta(minutes=20),
        service: timedelta = timedelta(minutes=3),
    ) -> CaseBuilder:
        for activity, queue in steps:
            self.enqueue(activity, queue).run(activity, queue, wait=wait, service=service)
        return self


def build_referral_log() -> pa.Table:
    """Eight cases over a week; the newest event is case R6's on day 8."""
    log = LogBuilder()
    day = timedelta(days=1)
    # R1, R2: straight through.
    log.case("R1").steps(REFERRAL_STEPS)
    log.case("R2", payer="globex").at(START + timedelta(hours=2)).steps(
        REFERRAL_STEPS, wait=timedelta(minutes=45)
    )
    # R3: eligibility fails once (portal down), retried, then completes.
    (
        log.case("R3", site="south")
        .at(START + day)
        .steps(REFERRAL_STEPS[:1])
        .enqueue("eligibility_check", "eligibility")
        .run(
            "eligibility_check",
            "eligibility",
            wait=timedelta(minutes=5),
            service=timedelta(minutes=1),
            fail="PortalUnavailable",
        )
        .retry("eligibility_check", "eligibility", attempt=2, error="PortalUnavailable")
        .run(
            "eligibility_check",
            "eligibility",
            wait=timedelta(minutes=10),
            service=timedelta(minutes=2),
            attempt=2,
        )
        .steps(REFERRAL_STEPS[2:])
    )
    # R4: prior authorization times out twice, escalates, a person resolves it.
    (
        log.case("R4")
        .at(START + 2 * day)
        .steps(REFERRAL_STEPS[:2])
        .enqueue("prior_authorization", "prior_auth")
        .run(
            "prior_authorization",
            "prior_auth",
            wait=timedelta(minutes=15),
            service=timedelta(minutes=10),
            fail="PortalTimeout",
        )
        .retry("prior_authorization", "prior_auth", attempt=2, error="PortalTimeout")
        .run(
            "prior_authorization",
            "prior_auth",
            wait=timedelta(minutes=30),
            service=timedelta(minutes=10),
            attempt=2,
            fail="PortalTimeout",
        )
        .event(
            "prior_authorization",
            "escalated",
            WORKBENCH_QUEUE,
            after=timedelta(seconds=5),
            attempt=2,
            exception_type="timeout",
            error_type="PortalTimeout",
        )
        .event(
            "prior_authorization",
            "resumed",
            WORKBENCH_QUEUE,
            after=timedelta(hours=20),
            attempt=2,
            resource="nurse-7f3a",
            resource_kind="human",
            outcome="approved",
        )
        .steps(REFERRAL_STEPS[3:])
    )
    # R5: waiting in the scheduling queue for days.
    (
        log.case("R5", payer="globex")
        .at(START + 3 * day)
        .steps(REFERRAL_STEPS[:3])
        .enqueue("scheduling", "scheduling")
    )
    # R6: failed eligibility, back on its queue, not picked up again yet (newest events).
    (
        log.case("R6")
        .at(START + 7 * day)
        .steps(REFERRAL_STEPS[:1])
        .enqueue("eligibility_check", "eligibility")
        .run(
            "eligibility_check",
            "eligibility",
            wait=timedelta(minutes=5),
            service=timedelta(minutes=1),
            fail="PortalUnavailable",
        )
        .retry("eligibility_check", "eligibility", attempt=2, error="PortalUnavailable")
    )
    # R7: sits in the prior authorization queue for a few hours.
    (
        log.case("R7", site="south")
        .at(START + 7 * day - timedelta(hours=3))
        .steps(REFERRAL_STEPS[:2])
        .enqueue("prior_authorization", "prior_auth")
    )
    # B1: another workflow, for the workflow filter.
    (
        log.case("B1", workflow="billing")
        .at(START + 4 * day)
        .steps((("claim_submission", "claims"), ("payment_posting", "posting")))
    )
    return log.table()


def write_log(path: Path, table: pa.Table | None) -> Path:
    """A DuckDB file at ``path`` holding ``table`` as its events (an empty table if None)."""
    con = duckdb.connect(str(path))
    try:
        create_events_table(con)
        if table is not None:
            con.register("incoming", table)
            con.execute("INSERT INTO events SELECT * FROM incoming")
    finally:
        con.close()
    return path


def import_sample_log(path: Path, parquet: Path) -> Path:
    """A DuckDB file at ``path`` whose events are the rows of the exported log ``parquet``."""
    con = duckdb.connect(str(path))
    try:
        create_events_table(con)
        con.execute("INSERT INTO events SELECT * FROM read_parquet($path)", {"path": str(parquet)})
    finally:
        con.close()
    return path


class FakeCollector:
    """The collector's figure endpoint, served over real HTTP from a DuckDB file.

    It answers like ``collector.server`` does (Arrow IPC stream; JSON ``error`` with 400,
    404 or 503) without importing the collector, which the dashboard must not depend on.
    """

    def __init__(self, db: Path) -> None:
        self.db = db
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.status: int | None = None  # force an error answer when set
        self.body: bytes | None = None  # force a raw 200 body when set
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                values = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/api/v1/figures" and fake.status is None:
                    self._send(200, json.dumps(sorted(mining.FIGURES)).encode(), "application/json")
                    return
                if url.path == "/api/v1/whoami" and fake.status is None:
                    body = b'{"name": "anonymous", "role": "admin"}'  # open, like a collector
                    self._send(200, body, "application/json")  # without tokens
                    return
                name = url.path.removeprefix("/api/v1/figures/")
                fake.requests.append((name, dict(values)))
                values.pop("format", None)
                if fake.status is not None:
                    self._send(fake.status, b'{"error": "store is busy"}', "application/json")
                elif fake.body is not None:
                    self._send(200, fake.body, "text/html")
                elif name not in mining.FIGURES:
                    body = json.dumps({"error": f"no figure named {name!r}"}).encode()
                    self._send(404, body, "application/json")
                else:
                    self._send(
                        200, fake.figure(name, values), "application/vnd.apache.arrow.stream"
                    )

            def _send(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def figure(self, name: str, values: dict[str, str]) -> bytes:
        con = duckdb.connect(str(self.db), read_only=True)
        try:
            table = mining.compute(name, con, values).to_arrow()
        finally:
            con.close()
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return bytes(sink.getvalue().to_pybytes())

    def __enter__(self) -> FakeCollector:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def compute(db: Path, name: str, values: dict[str, str] | None = None) -> pl.DataFrame:
    """``mining.compute`` on a file: the numbers the dashboard must show."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return mining.compute(name, con, values or {})
    finally:
        con.close()
