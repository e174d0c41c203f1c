"""The orchestrator's own HTTP API: case triggers and the human workbench.

It is the only network surface that shows identified details (the workbench's view of an
escalated item), so every route needs the bearer token, compared in constant time. Case and
item ids in URLs are pseudonyms or internal numbers, never patient identifiers.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from baton.errors import BatonError
from orchestrator.runtime import Runtime

Handler = Callable[[Request], Awaitable[Response]]


def create_api(runtime: Runtime, token: str) -> Starlette:
    """The API over ``runtime`` (its own state-store connection), guarded by ``token``."""
    lock = threading.Lock()
    expected = f"Bearer {token}".encode()

    def guarded(handler: Callable[[Request], Awaitable[Response]]) -> Handler:
        async def wrapper(request: Request) -> Response:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return JSONResponse(
                    {"error": "missing or wrong bearer token"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
            try:
                return await handler(request)
            except BatonError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)

        return wrapper

    def locked(func: Callable[..., Any], *args: Any) -> Awaitable[Any]:
        def call() -> Any:
            with lock:
                return func(*args)

        return run_in_threadpool(call)

    async def json_body(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise BatonError("the body must be a JSON object") from None
        if not isinstance(body, dict):
            raise BatonError("the body must be a JSON object")
        return body

    async def start_case(request: Request) -> Response:
        body = await json_body(request)
        workflow, reference = body.pop("workflow", None), body.pop("reference", None)
        if not isinstance(workflow, str) or not isinstance(reference, str) or not reference:
            raise BatonError("'workflow' and 'reference' are required strings")
        allowed = {"payer", "site", "priority", "payload"}
        unknown = set(body) - allowed
        if unknown:
            raise BatonError(f"unknown field(s): {', '.join(sorted(unknown))}")
        case_id = await locked(runtime.start_case, workflow, reference, body)
        return JSONResponse({"case_id": case_id}, status_code=201)

    def summary(item: dict[str, Any]) -> dict[str, Any]:
        keys = ("item_id", "case_id", "workflow", "step", "attempt", "priority", "payer",
                "site", "enqueued_us", "due_us")  # fmt: skip
        return {k: item.get(k) for k in keys}

    async def workbench(request: Request) -> Response:
        items = await locked(runtime.escalated)
        return JSONResponse([summary(i) for i in items])

    async def workbench_item(request: Request) -> Response:
        item_id = int(request.path_params["item_id"])
        items = [i for i in await locked(runtime.escalated) if i["item_id"] == item_id]
        if not items:
            return JSONResponse({"error": f"no escalated item {item_id}"}, status_code=404)
        item = items[0]
        return JSONResponse(
            summary(item) | {"reference": item["reference"], "payload": item["payload"]},
            headers={"Cache-Control": "no-store"},
        )

    async def resolve(request: Request) -> Response:
        item_id = int(request.path_params["item_id"])
        body = await json_body(request)
        outcome, person = body.get("outcome"), body.get("person")
        if not isinstance(outcome, str) or not isinstance(person, str) or not person:
            raise BatonError("'outcome' and 'person' are required strings")
        await locked(runtime.resolve, item_id, outcome, person)
        return JSONResponse({"item_id": item_id, "outcome": outcome})

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/v1/cases", guarded(start_case), methods=["POST"]),
            Route("/v1/workbench", guarded(workbench)),
            Route("/v1/workbench/{item_id:int}", guarded(workbench_item)),
            Route("/v1/workbench/{item_id:int}/resolve", guarded(resolve), methods=["POST"]),
        ]
    )
