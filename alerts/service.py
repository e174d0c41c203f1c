"""The evaluator inside the collector: a thread that ticks on an interval, and its HTTP routes.

The collector owns the DuckDB file, so alerts read figures and keep their state through
cursors of the collector's own connection; nothing else may open the file while it runs.
The routes let the dashboard (or a script) read alert state and manage silences:

- ``GET /api/v1/alerts``: ``now``, alerts (pending, firing, resolved, with ``silenced`` and
  ``inhibited`` flags), silences and recent history; a viewer may read it (labels and
  counts only, never a case).
- ``POST /api/v1/alerts/silences``: ``{"matchers": {...}, "duration_s": 7200, "comment": ...,
  "created_by": ...}``; needs an analyst token.
- ``POST /api/v1/alerts/silences/{id}/expire``: ends a silence now; analyst.

The collector passes an ``authorize`` callable, so this module does not depend on it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from alerts.clock import Clock, WallClock, make_clock
from alerts.errors import AlertsError, ClockUnavailable
from alerts.evaluator import Evaluator, muted
from alerts.model import Alert, AlertState
from alerts.notifiers import Backoff, Dispatcher
from alerts.rulefile import load_rules
from alerts.rules import RuleSet
from alerts.sources import DuckDBSource
from alerts.state import DuckDBAlertStore, silence_for

log = logging.getLogger(__name__)

#: ``authorize(headers, write)``: None when allowed, else the error response to send.
Authorize = Callable[[Headers, bool], Response | None]


class AlertsService:
    """Rules loaded (and checked) at construction; :meth:`start` begins ticking."""

    def __init__(
        self,
        connect: Callable[[], duckdb.DuckDBPyConnection],
        rules_path: Path,
        interval_s: float,
        clock: str = "wall",
        secrets: Mapping[str, str] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        if interval_s <= 0:
            raise AlertsError(f"alerts interval must be positive, not {interval_s:g}")
        self.rules: RuleSet = load_rules(rules_path)
        self.interval_s = interval_s
        source = DuckDBSource(connect)
        self.store = DuckDBAlertStore(connect)
        self.clock: Clock = make_clock(clock, source)
        dispatch = Dispatcher.for_rules(self.rules, self.store, secrets or os.environ, backoff)
        self.evaluator = Evaluator(self.rules, source, self.store, self.clock, dispatch)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ticks = 0

    def start(self) -> None:
        """Tick now and then every ``interval_s`` on a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="baton-alerts", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Finish the running tick, then stop (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.evaluator.tick()
                self.ticks += 1
            except ClockUnavailable as exc:
                log.info("alerts: %s; waiting", exc)
            except Exception:  # one bad tick must not end alerting; the next one retries
                log.exception("alerts: evaluation failed")
            elapsed = time.monotonic() - started
            self._stop.wait(max(0.0, self.interval_s - elapsed))

    def now(self) -> datetime:
        """The evaluator's clock, or wall time before a simulator has published one."""
        try:
            return self.clock.now()
        except ClockUnavailable:
            return WallClock().now()

    def snapshot(self) -> dict[str, Any]:
        """Everything the Alerts page shows, JSON-ready."""
        return snapshot(self.store, self.rules, self.now())

    def routes(self, authorize: Authorize) -> list[Route]:
        """The alerts routes, guarded by ``authorize``."""

        def guarded(
            handler: Callable[[Request], Awaitable[Response]], write: bool
        ) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                denied = authorize(request.headers, write)
                if denied is not None:
                    return denied
                try:
                    return await handler(request)
                except (AlertsError, ValueError, TypeError, KeyError) as exc:
                    return JSONResponse({"error": str(exc)}, status_code=400)

            return endpoint

        return [
            Route("/api/v1/alerts", guarded(self._get, False), methods=["GET"]),
            Route("/api/v1/alerts/silences", guarded(self._silence, True), methods=["POST"]),
            Route(
                "/api/v1/alerts/silences/{id}/expire",
                guarded(self._expire, True),
                methods=["POST"],
            ),
        ]

    async def _get(self, request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(self.snapshot))

    async def _silence(self, request: Request) -> Response:
        body = await request.json()
        matchers = {str(k): str(v) for k, v in dict(body.get("matchers") or {}).items()}
        duration = timedelta(seconds=float(body.get("duration_s", 0)))
        silence = silence_for(
            matchers,
            self.now(),
            duration,
            str(body.get("created_by", "")),
            str(body.get("comment", "")),
        )
        await run_in_threadpool(self.store.add_silence, silence)
        return JSONResponse({"id": silence.id, "ends_at": silence.ends_at.isoformat()}, 201)

    async def _expire(self, request: Request) -> Response:
        await run_in_threadpool(self.store.expire_silence, request.path_params["id"], self.now())
        return JSONResponse({"expired": request.path_params["id"]})


def snapshot(store: DuckDBAlertStore, rules: RuleSet, now: datetime) -> dict[str, Any]:
    """``now``, alerts (with ``silenced``/``inhibited``), silences and recent history."""
    alerts = store.load()
    silences = store.silences()
    return {
        "now": now.isoformat(),
        "alerts": [alert_dict(a, alerts, rules, silences, now) for a in alerts.values()],
        "silences": [
            {
                "id": s.id,
                "matchers": dict(s.matchers),
                "starts_at": s.starts_at.isoformat(),
                "ends_at": s.ends_at.isoformat(),
                "created_by": s.created_by,
                "comment": s.comment,
                "active": s.active(now),
            }
            for s in silences
        ],
        "history": [
            {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
            for row in store.history()
        ],
    }


def alert_dict(
    alert: Alert,
    alerts: Mapping[str, Alert],
    rules: RuleSet,
    silences: Any,
    now: datetime,
) -> dict[str, Any]:
    """One alert for the API and the page: state, labels, numbers, times, muted or not."""
    silenced = any(s.mutes(alert.labels, now) for s in silences)
    known = any(r.name == alert.rule for r in rules.rules)
    return {
        "key": alert.key,
        "rule": alert.rule,
        "state": alert.state.value,
        "labels": alert.labels,
        "summary": alert.summary,
        "value": alert.value,
        "threshold": alert.threshold,
        "active_since": _iso(alert.active_since),
        "fired_at": _iso(alert.fired_at),
        "resolved_at": _iso(alert.resolved_at),
        "silenced": silenced,
        "inhibited": bool(
            known
            and alert.state is AlertState.FIRING
            and not silenced
            and muted(alert, alerts, rules, [], now)
        ),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
