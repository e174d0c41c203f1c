"""Baton's own shipper: sends the outbox to the collector as OTLP log records, at least once.

The OpenTelemetry SDK's batch processor drops a batch when an export times out, which is
fine for spans and not for events. This shipper marks records shipped only after the
collector answered 200 (which it does only after committing them), backs off on failure,
honours ``Retry-After``, and keeps everything while the collector is down. The collector
de-duplicates by ``event_id``, so a record sent twice is stored once.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

import requests

from baton.contract import ORCHESTRATOR_SERVICE, SCOPE_NAME, Attr
from orchestrator.records import seq_suffix
from orchestrator.store import _WriterLock, connect
from orchestrator.wire import export_logs_request

log = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"
#: The ``meta`` key holding the highest ``seq`` the collector has acknowledged.
MARK_KEY = "shipped_through_seq"


@dataclasses.dataclass
class ShipperStats:
    """What the shipper did, for the simulator's report and the benchmarks."""

    shipped: int = 0
    requests: int = 0
    failures: int = 0


class Shipper:
    """Ships unshipped outbox rows of one state file to ``{endpoint}/v1/logs``."""

    def __init__(
        self,
        state_path: Path | str,
        endpoint: str,
        *,
        batch_size: int = 2000,
        timeout_s: float = 10.0,
        service_name: str = ORCHESTRATOR_SERVICE,
        max_backoff_s: float = 30.0,
        linger_s: float = 0.1,
    ) -> None:
        self.url = endpoint.rstrip("/") + "/v1/logs"
        self._con = connect(state_path)
        self._batch_size = batch_size
        self._timeout_s = timeout_s
        self._service_name = service_name
        self._max_backoff_s = max_backoff_s
        #: Wait after a partial batch: what events gain in delay, requests save in CPU.
        self.linger_s = linger_s
        self._session = requests.Session()
        self.stats = ShipperStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._writer = _WriterLock(state_path)
        # Everything at or below this seq is shipped. Seqs are assigned inside write
        # transactions, which SQLite runs one at a time, so a row never appears below a seq
        # already seen committed; scanning from the mark by primary key finds all the rest.
        self._mark = self._stored_mark()

    def _stored_mark(self) -> int:
        """The durable mark; a store written before it existed has per-row flags instead."""
        row = self._con.execute("SELECT value FROM meta WHERE key = ?", (MARK_KEY,)).fetchone()
        if row is not None:
            return int(row[0])
        row = self._con.execute(
            "SELECT coalesce(min(seq) - 1, (SELECT coalesce(max(seq), 0) FROM outbox))"
            " FROM outbox WHERE shipped = 0"
        ).fetchone()
        return int(row[0])

    def pending(self) -> int:
        row = self._con.execute(
            "SELECT count(*) FROM outbox WHERE seq > ?", (self._mark,)
        ).fetchone()
        return int(row[0])

    def _request(self, records: list[tuple[int, bytes]]) -> bytes:
        # Records are stored serialized; the request is built by concatenation, no parsing.
        return export_logs_request(
            [(Attr.SERVICE_NAME, self._service_name)],
            SCOPE_NAME,
            (record + seq_suffix(seq) for seq, record in records),
        )

    def ship_once(self) -> tuple[int, float | None]:
        """Send one batch. Returns (records shipped, seconds to wait before retrying or None)."""
        rows = self._con.execute(
            "SELECT seq, record FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (self._mark, self._batch_size),
        ).fetchall()
        if not rows:
            return 0, None
        body = self._request([(int(r[0]), r[1]) for r in rows])
        self.stats.requests += 1
        try:
            response = self._session.post(
                self.url, data=body, headers={"Content-Type": PROTOBUF}, timeout=self._timeout_s
            )
        except requests.RequestException as exc:
            self.stats.failures += 1
            log.debug("shipping %d events failed: %s", len(rows), exc)
            return 0, 1.0
        if response.status_code != 200:
            self.stats.failures += 1
            log.debug("collector answered %s to %d events", response.status_code, len(rows))
            return 0, _retry_after(response) or 1.0
        last = int(rows[-1][0])
        self._save_mark(last)
        self._mark = last
        self.stats.shipped += len(rows)
        return len(rows), None

    def _save_mark(self, seq: int) -> None:
        """One small row, not a flag on every record shipped: flagging 2,000 rows rewrote
        their pages, and the workers waited on that write. It queues with the workers'
        writes on the state store's writer lock rather than in SQLite's busy handler."""
        self._writer.acquire()
        try:
            self._con.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (MARK_KEY, str(seq)),
            )
        finally:
            self._writer.release()

    def drain(self, deadline_s: float = 120.0) -> int:
        """Ship until nothing is pending or ``deadline_s`` passes; returns what is left."""
        end = time.monotonic() + deadline_s
        backoff = 0.5
        while time.monotonic() < end:
            sent, wait = self.ship_once()
            if wait is None and sent == 0:
                return 0
            if wait is not None:
                delay = min(max(wait, backoff), self._max_backoff_s, end - time.monotonic())
                time.sleep(max(delay, 0) * random.uniform(0.8, 1.0))
                backoff = min(backoff * 2, self._max_backoff_s)
            else:
                backoff = 0.5
        return self.pending()

    # -- background mode --------------------------------------------------------------------
    def pause_after(self, sent: int, idle_s: float = 0.25) -> float:
        """How long to wait after a batch of ``sent`` records before shipping again.

        A full batch says more is waiting: go on at once. A partial one lingers
        :attr:`linger_s`, so a busy orchestrator's records travel hundreds to a request:
        shipping each few records as they came cost a request apiece, three times the
        shipper's CPU per record.
        """
        if sent >= self._batch_size:
            return 0.0
        return self.linger_s if sent else idle_s

    def start(self, interval_s: float = 0.25) -> None:
        """Ship in a background thread until :meth:`stop`."""

        def loop() -> None:
            backoff = 0.5
            while not self._stop.is_set():
                try:
                    sent, wait = self.ship_once()
                except Exception:  # a shipping bug must never stop the orchestrator
                    log.exception("event shipper failed; retrying")
                    sent, wait = 0, 1.0
                if wait is not None:
                    self._stop.wait(min(max(wait, backoff), self._max_backoff_s))
                    backoff = min(backoff * 2, self._max_backoff_s)
                else:
                    backoff = 0.5
                    pause = self.pause_after(sent, interval_s)
                    if pause:
                        self._stop.wait(pause)

        self._thread = threading.Thread(target=loop, name="baton-shipper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def close(self) -> None:
        self.stop()
        self._session.close()
        self._con.close()
        self._writer.close()


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None
