"""The collector's own counters: what it received, stored, rejected, and how fast it commits.

Served as JSON at ``/api/v1/stats`` so an operator (or a test) can see backpressure and
commit latency without reading logs. Updated from the event loop and the writer thread, so
every update takes a lock; updates are a few per request, not per row.
"""

from __future__ import annotations

import collections
import statistics
import threading
from collections.abc import Mapping
from typing import Any

#: Commits whose latency the percentiles are computed over.
_LATENCY_WINDOW = 1024


class Stats:
    """Counters since start; :meth:`snapshot` is what ``/api/v1/stats`` shows."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: collections.Counter[str] = collections.Counter()
        self._inserted: collections.Counter[str] = collections.Counter()
        self._latencies: collections.deque[float] = collections.deque(maxlen=_LATENCY_WINDOW)

    def count(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to counter ``name`` (``requests``, ``rejected_items``, ...)."""
        with self._lock:
            self._counters[name] += amount

    def response(self, signal: str, status: int, rejected: int = 0) -> None:
        """One answered OTLP request of ``signal`` with HTTP ``status``."""
        with self._lock:
            self._counters["requests"] += 1
            self._counters[f"requests_{signal}"] += 1
            self._counters[f"status_{status}"] += 1
            self._counters["rejected_items"] += rejected

    def commit(self, seconds: float, requests: int, inserted: Mapping[str, int]) -> None:
        """One group commit of ``requests`` requests that took ``seconds``."""
        with self._lock:
            self._counters["commits"] += 1
            self._counters["committed_requests"] += requests
            self._inserted.update(inserted)
            self._latencies.append(seconds)

    def snapshot(self) -> dict[str, Any]:
        """Counters, rows inserted per table, and commit latency (ms) over recent commits."""
        with self._lock:
            latencies = sorted(self._latencies)
            counters = dict(self._counters)
            inserted = dict(self._inserted)
        latency: dict[str, float | None] = {"p50_ms": None, "p99_ms": None, "max_ms": None}
        if latencies:
            latency = {
                "p50_ms": round(statistics.median(latencies) * 1000, 3),
                "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))] * 1000, 3),
                "max_ms": round(latencies[-1] * 1000, 3),
            }
        return {"counters": counters, "inserted": inserted, "commit_latency": latency}
