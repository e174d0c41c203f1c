"""The query API: figures, event slices and the read audit, read-only by construction.

Every route reads through its own DuckDB cursor and none writes telemetry. Roles decide who
may read what (see :class:`~collector.config.Role`):

- ``GET /api/v1/figures/{name}``: any :mod:`mining` figure. Aggregate figures need a viewer
  token; a figure whose rows name cases (a ``case_id`` column) needs an analyst token and is
  audited.
- ``GET /api/v1/events?case_id=...&limit=...``: a slice of the event log, ordered by
  ``(ts, seq)``; analyst, audited.
- ``GET /api/v1/audit/reads``: the read audit itself; admin.
- ``GET /api/v1/whoami``: the token's name and role, so a client can lay itself out for that
  role without probing routes (a probe of a case-level route would be an audited read).

Every case-level read is appended to ``audit_reads`` (who, role, what, query, rows, when)
through the writer, and the data is sent only after that row is committed: a read that
could not be audited is not served. With no tokens configured the API is open, as before,
and reads are audited as ``anonymous``.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import polars as pl
import pyarrow as pa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

import mining
from collector.auth import Caller, caller
from collector.config import CollectorSettings, Role
from collector.errors import CollectorError, Forbidden, Unauthorized
from collector.store import Store
from collector.writer import GroupWriter
from mining.filters import Filters

#: Media type of the query API's default answer: one Arrow IPC stream.
ARROW_STREAM = "application/vnd.apache.arrow.stream"
#: Rows an event slice returns unless ``limit`` says otherwise, and at most.
DEFAULT_EVENT_LIMIT = 1000
MAX_EVENT_LIMIT = 100_000

Handler = Callable[[Request], Awaitable[Response]]


class QueryApi:
    """Routes over ``store``; audit rows go through ``writer``, the store's only writer."""

    def __init__(self, store: Store, writer: GroupWriter, settings: CollectorSettings) -> None:
        self.store = store
        self.writer = writer
        self.settings = settings

    def _who(self, request: Request, needs: Role) -> Caller:
        return caller(self.settings, request.headers, needs)

    async def figure_names(self, request: Request) -> Response:
        """``GET /api/v1/figures``: the figures :mod:`mining` registers."""
        return await _guard(self._figure_names, request)

    async def _figure_names(self, request: Request) -> Response:
        self._who(request, Role.VIEWER)
        return JSONResponse(sorted(mining.FIGURES))

    async def whoami(self, request: Request) -> Response:
        """``GET /api/v1/whoami``: ``{"name": ..., "role": ...}`` of the caller; any role."""
        return await _guard(self._whoami, request)

    async def _whoami(self, request: Request) -> Response:
        who = self._who(request, Role.VIEWER)
        return JSONResponse({"name": who.name, "role": who.role.name.lower()})

    async def figure(self, request: Request) -> Response:
        """``GET /api/v1/figures/{name}``: one figure, filtered, as Arrow IPC or JSON."""
        return await _guard(self._figure, request)

    async def _figure(self, request: Request) -> Response:
        who = self._who(request, Role.VIEWER)
        name = request.path_params["name"]
        values = dict(request.query_params)
        fmt = values.pop("format", "arrow")
        _check_format(fmt)

        def compute() -> pl.DataFrame:
            cur = self.store.cursor()
            try:
                return mining.compute(name, cur, values)
            finally:
                cur.close()

        frame = await run_in_threadpool(compute)
        if "case_id" in frame.columns:
            if who.role < Role.ANALYST:
                raise Forbidden(
                    f"figure {name!r} lists cases; token {who.name!r} has role "
                    f"{who.role.name.lower()}, this needs analyst"
                )
            await self._audit(who, f"figure {name}", values, frame.height)
        return _render(frame, fmt)

    async def events(self, request: Request) -> Response:
        """``GET /api/v1/events``: events of one case (or any), ordered by ``(ts, seq)``."""
        return await _guard(self._events, request)

    async def _events(self, request: Request) -> Response:
        who = self._who(request, Role.ANALYST)
        values = dict(request.query_params)
        fmt = values.pop("format", "arrow")
        _check_format(fmt)
        case_id = values.pop("case_id", None)
        limit = _limit(values.pop("limit", None))
        filters = Filters.from_mapping(values)
        where, params = filters.where()
        if case_id:
            where += " AND case_id = $case_id"
            params["case_id"] = case_id

        def read() -> pa.Table:
            cur = self.store.cursor()
            try:
                sql = f"SELECT * FROM events WHERE {where} ORDER BY ts, seq LIMIT {limit}"
                return cur.sql(sql, params=params).to_arrow_table()
            finally:
                cur.close()

        table = await run_in_threadpool(read)
        query = {**values, "limit": str(limit), **({"case_id": case_id} if case_id else {})}
        await self._audit(who, "events", query, table.num_rows)
        return _render(table, fmt)

    async def audit_reads(self, request: Request) -> Response:
        """``GET /api/v1/audit/reads``: who read which cases, newest first; admin only."""
        return await _guard(self._audit_reads, request)

    async def _audit_reads(self, request: Request) -> Response:
        self._who(request, Role.ADMIN)
        values = dict(request.query_params)
        fmt = values.pop("format", "json")
        _check_format(fmt)
        limit = _limit(values.pop("limit", None))

        def read() -> pa.Table:
            cur = self.store.cursor()
            try:
                sql = f"SELECT * FROM audit_reads ORDER BY ts DESC LIMIT {limit}"
                return cur.sql(sql).to_arrow_table()
            finally:
                cur.close()

        return _render(await run_in_threadpool(read), fmt)

    async def _audit(self, who: Caller, what: str, query: dict[str, str], rows: int) -> None:
        """Append one ``audit_reads`` row and wait until it is committed."""
        row = pa.table(
            {
                "ts": pa.array([datetime.now(UTC).replace(tzinfo=None)], pa.timestamp("us")),
                "who": [who.name],
                "role": [who.role.name.lower()],
                "what": [what],
                "query": [json.dumps(query, sort_keys=True)],
                "rows": pa.array([rows], pa.int64()),
            }
        )
        await asyncio.wrap_future(self.writer.submit({"audit_reads": row}))


async def _guard(handler: Handler, request: Request) -> Response:
    """Turn errors into JSON answers: 401/403 for tokens, 404/400 for figures and filters."""
    try:
        return await handler(request)
    except Unauthorized as exc:
        return JSONResponse({"error": str(exc)}, 401, headers={"WWW-Authenticate": "Bearer"})
    except Forbidden as exc:
        return JSONResponse({"error": str(exc)}, status_code=403)
    except mining.UnknownFigure as exc:
        return JSONResponse({"error": str(exc)}, status_code=404)
    except (mining.MiningError, CollectorError, ValueError) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)


def _check_format(fmt: str) -> None:
    if fmt not in ("arrow", "json"):
        raise ValueError(f"format {fmt!r} is not arrow or json")


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_EVENT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_EVENT_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_EVENT_LIMIT}, not {raw!r}")
    return int(raw)


def _render(rows: pl.DataFrame | pa.Table, fmt: str) -> Response:
    if fmt == "json":
        if isinstance(rows, pa.Table):
            return JSONResponse(
                [{k: _json_value(v) for k, v in r.items()} for r in rows.to_pylist()]
            )
        return JSONResponse(records(rows))
    table = rows if isinstance(rows, pa.Table) else rows.to_arrow()
    return Response(arrow_stream(table), media_type=ARROW_STREAM)


def arrow_stream(table: pa.Table) -> bytes:
    """``table`` as one Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def records(frame: pl.DataFrame) -> list[dict[str, Any]]:
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
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
            return {str(k): _json_value(v) for k, v in value}  # an Arrow MAP
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value
