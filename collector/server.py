"""The collector's HTTP surface: the OTLP/HTTP receiver, health, counters and the query API.

:func:`create_app` wires the pieces: a :class:`~collector.decoding.Decoder` (worker
processes), a :class:`~collector.writer.GroupWriter` (the only writer of the store), the
receivers (:mod:`collector.receiver`), the query API (:mod:`collector.api`) and, with a
rules file configured, the alert evaluator and its routes (:mod:`alerts.service`). The writer
starts at once; the app's lifespan starts the decode workers and, on shutdown, commits what
is queued and stops both.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from collector import imports_api
from collector.api import ARROW_STREAM, QueryApi
from collector.auth import caller
from collector.config import CollectorSettings, Role
from collector.decoding import Decoder
from collector.errors import CollectorError, Unauthorized
from collector.otlp import DecodeOptions, Signal
from collector.receiver import Pipeline, receiver
from collector.stats import Stats
from collector.store import Store
from collector.writer import GroupWriter

if TYPE_CHECKING:
    from alerts.service import AlertsService

__all__ = ["ARROW_STREAM", "close_app", "create_app"]


def create_app(store: Store, settings: CollectorSettings) -> Starlette:
    """The ASGI app over ``store``; the caller owns the store and closes it after the app.

    Run it with lifespan on (or call :func:`close_app` when done) so queued writes are
    committed and worker processes stop.
    """
    stats = Stats()
    writer = GroupWriter(
        store,
        stats=stats,
        queue_max_bytes=settings.queue_max_bytes,
        queue_max_requests=settings.queue_max_requests,
        group_max_rows=settings.group_max_rows,
    )
    options = DecodeOptions(
        settings.map_spans, settings.case_attribute, settings.attribute_allowlist
    )
    pipeline = Pipeline(settings, Decoder(settings.decode_workers, options), writer, stats)
    api = QueryApi(store, writer, settings)
    alerts = _alerts_service(store, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(pipeline.decoder.start)
        if alerts is not None:
            alerts.start()
        try:
            yield
        finally:
            close_app(app)

    routes = [Route(s.path, receiver(s, pipeline), methods=["POST"]) for s in Signal]
    routes += [
        Route("/healthz", _healthz, methods=["GET"]),
        Route("/readyz", _readyz, methods=["GET"]),
        Route("/api/v1/stats", _stats, methods=["GET"]),
        Route("/api/v1/figures", api.figure_names, methods=["GET"]),
        Route("/api/v1/figures/{name}", api.figure, methods=["GET"]),
        Route("/api/v1/events", api.events, methods=["GET"]),
        Route("/api/v1/audit/reads", api.audit_reads, methods=["GET"]),
        Route("/api/v1/whoami", api.whoami, methods=["GET"]),
        Route(imports_api.PATH, imports_api.ImportsRoute(store, settings).handle, methods=["POST"]),
    ]
    if alerts is not None:
        routes += alerts.routes(lambda headers, write: _authorize(settings, headers, write))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.store = store
    app.state.settings = settings
    app.state.pipeline = pipeline
    app.state.alerts = alerts
    return app


def _alerts_service(store: Store, settings: CollectorSettings) -> AlertsService | None:
    """The alert evaluator, when a rules file is configured; a bad file fails startup."""
    if settings.alerts_rules is None:
        return None
    from alerts.service import AlertsService

    return AlertsService(
        store.cursor, settings.alerts_rules, settings.alerts_interval_s, settings.alerts_clock
    )


def _authorize(settings: CollectorSettings, headers: Headers, write: bool) -> Response | None:
    """Alert state for viewers; silences for analysts (see :class:`Role`)."""
    try:
        caller(settings, headers, Role.ANALYST if write else Role.VIEWER)
    except Unauthorized as exc:
        return JSONResponse({"error": str(exc)}, 401, headers={"WWW-Authenticate": "Bearer"})
    except CollectorError as exc:
        return JSONResponse({"error": str(exc)}, 403)
    return None


def close_app(app: Starlette) -> None:
    """Stop the alert evaluator, commit queued writes, stop the writer and decode workers.

    Idempotent."""
    pipeline: Pipeline = app.state.pipeline
    if app.state.alerts is not None:
        app.state.alerts.stop()
    pipeline.decoder.close()
    pipeline.writer.close()


async def _healthz(request: Request) -> Response:
    """Liveness: the process answers."""
    return PlainTextResponse("ok")


async def _readyz(request: Request) -> Response:
    """Readiness: the writer runs and the store answers a query; row counts as a bonus."""
    store: Store = request.app.state.store
    pipeline: Pipeline = request.app.state.pipeline
    if not pipeline.writer.alive():
        return JSONResponse({"ready": False, "reason": "the writer thread stopped"}, 503)
    try:
        counts = await run_in_threadpool(store.counts)
    except Exception as exc:  # the store is unusable: not ready, whatever the cause
        return JSONResponse({"ready": False, "reason": str(exc)}, 503)
    return JSONResponse({"ready": True, **counts})


async def _stats(request: Request) -> Response:
    """The collector's own counters: requests, rows, rejects, queue depth, commit latency."""
    store: Store = request.app.state.store
    pipeline: Pipeline = request.app.state.pipeline
    try:
        caller(pipeline.settings, request.headers, Role.VIEWER)
    except CollectorError as exc:
        return JSONResponse({"error": str(exc)}, 401, headers={"WWW-Authenticate": "Bearer"})

    def tables() -> dict[str, int]:
        counts = store.counts()
        cur = store.cursor()
        try:
            rows = cur.execute("SELECT count(DISTINCT case_id) FROM events").fetchall()
        finally:
            cur.close()
        return {**counts, "cases": int(rows[0][0]) if rows else 0}

    return JSONResponse(
        {
            **await run_in_threadpool(tables),
            "queue": pipeline.writer.depth(),
            **pipeline.stats.snapshot(),
        }
    )
