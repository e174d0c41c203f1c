"""The collector's HTTP surface: the OTLP/HTTP receiver and the query API.

Receiver answers follow the OTLP/HTTP spec: 200 with an empty ``Export*ServiceResponse``
only after the rows are committed (so a sender that saw 200 may forget the batch), a
``google.rpc.Status`` protobuf on errors, 400/413/415 for requests that must not be retried
and 503 + ``Retry-After`` when the store could not commit (the SDK exporter retries it).
The query API serves any figure :mod:`mining` registers, so a new figure needs no change here.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

import mining
from collector._body import PROTOBUF, check_media_type, decode_body, read_body
from collector.config import CollectorSettings
from collector.errors import (
    CollectorError,
    InvalidPayload,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from collector.otlp import decode_logs, decode_traces
from collector.store import Store

#: Media type of the query API's default answer: one Arrow IPC stream.
ARROW_STREAM = "application/vnd.apache.arrow.stream"

_STATUS = {InvalidPayload: 400, PayloadTooLarge: 413, UnsupportedMediaType: 415}
_RETRY_AFTER_S = "1"

Ingest = Callable[[Store, bytes], int]


def create_app(store: Store, settings: CollectorSettings) -> Starlette:
    """The ASGI app over ``store``; the caller owns the store and closes it."""
    routes = [
        Route(
            "/v1/traces", _receiver(_ingest_traces, ExportTraceServiceResponse()), methods=["POST"]
        ),
        Route("/v1/logs", _receiver(_ingest_logs, ExportLogsServiceResponse()), methods=["POST"]),
        Route("/healthz", _healthz, methods=["GET"]),
        Route("/readyz", _readyz, methods=["GET"]),
        Route("/api/v1/figures", _figure_names, methods=["GET"]),
        Route("/api/v1/figures/{name}", _figure, methods=["GET"]),
        Route("/api/v1/stats", _stats, methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    app.state.store = store
    app.state.settings = settings
    return app


def _ingest_traces(store: Store, body: bytes) -> int:
    return store.write_spans(decode_traces(body))


def _ingest_logs(store: Store, body: bytes) -> int:
    return store.write_events(*decode_logs(body))


def _receiver(ingest: Ingest, ok: Any) -> Callable[[Request], Awaitable[Response]]:
    ok_body = ok.SerializeToString()

    async def receive(request: Request) -> Response:
        store: Store = request.app.state.store
        limit: int = request.app.state.settings.max_body_bytes
        try:
            encoding = check_media_type(request)
            raw = await read_body(request, limit)
            await run_in_threadpool(ingest, store, decode_body(raw, encoding, limit))
        except CollectorError as exc:
            return _status(_STATUS.get(type(exc), 400), code_pb2.INVALID_ARGUMENT, str(exc))
        except duckdb.Error as exc:
            return _status(503, code_pb2.UNAVAILABLE, f"store did not commit: {exc}")
        return Response(ok_body, media_type=PROTOBUF)

    return receive


def _status(http_status: int, code: int, message: str) -> Response:
    body = status_pb2.Status(code=code, message=message).SerializeToString()
    headers = {"Retry-After": _RETRY_AFTER_S} if http_status == 503 else None
    return Response(body, status_code=http_status, media_type=PROTOBUF, headers=headers)


async def _healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def _readyz(request: Request) -> Response:
    store: Store = request.app.state.store
    return JSONResponse(await run_in_threadpool(store.counts))


async def _stats(request: Request) -> Response:
    store: Store = request.app.state.store

    def stats() -> dict[str, int]:
        counts = store.counts()
        cur = store.cursor()
        try:
            row = cur.execute("SELECT count(DISTINCT case_id) FROM events").fetchone()
        finally:
            cur.close()
        return {**counts, "cases": int(row[0]) if row else 0}

    return JSONResponse(await run_in_threadpool(stats))


async def _figure_names(request: Request) -> Response:
    return JSONResponse(sorted(mining.FIGURES))


async def _figure(request: Request) -> Response:
    store: Store = request.app.state.store
    name = request.path_params["name"]
    values = dict(request.query_params)
    fmt = values.pop("format", "arrow")
    if fmt not in ("arrow", "json"):
        return JSONResponse({"error": f"format {fmt!r} is not arrow or json"}, status_code=400)

    def render() -> Response:
        cur = store.cursor()
        try:
            frame = mining.compute(name, cur, values)
        finally:
            cur.close()
        if fmt == "json":
            return JSONResponse(_records(frame))
        return Response(_arrow_stream(frame.to_arrow()), media_type=ARROW_STREAM)

    try:
        return await run_in_threadpool(render)
    except mining.UnknownFigure as exc:
        return JSONResponse({"error": str(exc)}, status_code=404)
    except mining.MiningError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)


def _arrow_stream(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-safe dicts: ISO times, durations in seconds, NaN as null."""
    return [{k: _json_value(v) for k, v in row.items()} for row in frame.to_dicts()]


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value
