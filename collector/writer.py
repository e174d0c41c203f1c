"""Group commit: one thread owns DuckDB writes; requests wait for the commit that holds them.

Each request hands its decoded rows to :meth:`GroupWriter.submit` and awaits the returned
future, which resolves only after the transaction holding those rows has committed, so a 200
always means "durable". The writer takes everything queued (up to ``group_max_rows``) into
one transaction: under load, many requests share one commit, and DuckDB inserts one large
Arrow batch far faster than many small ones (FIELD-NOTES: ~850k vs ~270k rows/s).

Memory is bounded before anything is decoded: :meth:`GroupWriter.admit` reserves the
request's body size against ``queue_max_bytes`` and a request slot against
``queue_max_requests`` until the request is answered, and raises :class:`Overloaded` (503 +
``Retry-After``) when either is used up. Decoded rows take a small multiple of the body's
size, so the bound on bodies bounds the whole pipeline.

If a grouped transaction fails, each request of the group is retried alone, so one bad batch
cannot fail the requests that happened to share its commit.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future

import duckdb
import pyarrow as pa

from collector.errors import Overloaded
from collector.stats import Stats
from collector.store import Store

log = logging.getLogger(__name__)

Rows = Mapping[str, pa.Table]

#: DuckDB errors that a retry of the same rows cannot fix: answer 400, not 503.
PERMANENT_ERRORS: tuple[type[duckdb.Error], ...] = (
    duckdb.ConversionException,
    duckdb.InvalidInputException,
    duckdb.ConstraintException,
    duckdb.BinderException,
)


@dataclasses.dataclass
class _Pending:
    rows: Rows
    count: int
    future: Future[dict[str, int]]


class GroupWriter:
    """The single writer of a :class:`Store`, with a bounded queue in front of it."""

    def __init__(
        self,
        store: Store,
        *,
        stats: Stats,
        queue_max_bytes: int,
        queue_max_requests: int,
        group_max_rows: int,
    ) -> None:
        self._store = store
        self._stats = stats
        self._max_bytes = queue_max_bytes
        self._max_requests = queue_max_requests
        self._group_max_rows = group_max_rows
        self._queue: collections.deque[_Pending] = collections.deque()
        self._cond = threading.Condition()
        self._admitted_bytes = 0
        self._admitted_requests = 0
        self._peak_bytes = 0
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="baton-writer", daemon=True)
        self._thread.start()

    @contextlib.contextmanager
    def admit(self, nbytes: int) -> Iterator[Callable[[int], None]]:
        """Reserve room for one request of ``nbytes`` until the block ends.

        Yields a function to grow the reservation (a gzip body inflates once decoded). A
        request larger than the whole budget is still admitted when nothing else is pending,
        so the body limit, not the queue bound, decides what is too large.

        Raises:
            Overloaded: the queue is full.
        """
        reserved = 0

        def grow(total: int) -> None:
            nonlocal reserved
            extra = max(0, total - reserved)
            with self._cond:
                over = self._admitted_bytes + extra > self._max_bytes
                if extra and over and self._admitted_requests > 1:
                    raise Overloaded(
                        f"the write queue holds {self._admitted_bytes} bytes "
                        f"(limit {self._max_bytes}); retry later"
                    )
                self._admitted_bytes += extra
                self._peak_bytes = max(self._peak_bytes, self._admitted_bytes)
                reserved += extra

        with self._cond:
            full = self._admitted_requests >= self._max_requests or (
                self._admitted_requests and self._admitted_bytes + nbytes > self._max_bytes
            )
            if full or self._closing:
                self._stats.count("overloaded")
                raise Overloaded(
                    f"the write queue is full ({self._admitted_requests} requests, "
                    f"{self._admitted_bytes} bytes pending); retry later"
                )
            self._admitted_requests += 1
        try:
            grow(nbytes)
            yield grow
        except Overloaded:
            self._stats.count("overloaded")
            raise
        finally:
            with self._cond:
                self._admitted_requests -= 1
                self._admitted_bytes -= reserved

    def submit(self, rows: Rows) -> Future[dict[str, int]]:
        """Queue ``rows`` for the next commit; the future resolves once they are durable."""
        future: Future[dict[str, int]] = Future()
        count = sum(table.num_rows for table in rows.values())
        with self._cond:
            if self._closing:
                raise Overloaded("the collector is shutting down; retry later")
            self._queue.append(_Pending(rows, count, future))
            self._cond.notify()
        return future

    def depth(self) -> dict[str, int]:
        """Requests and bytes admitted but not yet answered (and the most bytes ever), and
        requests waiting to write."""
        with self._cond:
            return {
                "pending_requests": self._admitted_requests,
                "pending_bytes": self._admitted_bytes,
                "pending_bytes_peak": self._peak_bytes,
                "queued_writes": len(self._queue),
            }

    def alive(self) -> bool:
        """Whether the writer thread is still running (readiness)."""
        return self._thread.is_alive()

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            group = self._next_group()
            if group is None:
                return
            if group:
                self._write(group)

    def _next_group(self) -> list[_Pending] | None:
        with self._cond:
            while not self._queue:
                if self._closing:
                    return None
                self._cond.wait()
            group: list[_Pending] = []
            rows = 0
            while self._queue and (
                not group or rows + self._queue[0].count <= self._group_max_rows
            ):
                item = self._queue.popleft()
                # A request whose caller went away (its future was cancelled) is not written:
                # it was never acknowledged, so its sender will send it again.
                if item.future.set_running_or_notify_cancel():
                    group.append(item)
                    rows += item.count
            return group

    def _write(self, group: list[_Pending]) -> None:
        started = time.perf_counter()
        try:
            inserted = self._store.write([item.rows for item in group])
        except Exception as exc:
            if len(group) == 1:
                self._stats.count("write_failures")
                group[0].future.set_exception(exc)
                return
            log.warning(
                "group commit of %d requests failed (%s); writing each alone", len(group), exc
            )
            for item in group:
                self._write([item])
            return
        self._stats.commit(time.perf_counter() - started, len(group), inserted)
        for item in group:
            item.future.set_result(inserted)
