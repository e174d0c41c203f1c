"""The OTLP/HTTP receiver: ``POST /v1/traces``, ``/v1/logs`` and ``/v1/metrics``.

Answers follow the OTLP/HTTP specification:

- 200 with an ``Export*ServiceResponse`` only after the rows are committed, so a sender that
  saw 200 may forget the batch; ``partial_success`` (rejected count and reasons) when single
  items were left out, unset otherwise.
- 400 (not decodable), 401 (token), 413 (body over the limit, before or after gzip), 415
  (content type or encoding): the sender must not retry.
- 503 + ``Retry-After`` when the write queue is full or the store could not commit: the SDK
  exporters retry it.
- Error bodies are a ``google.rpc.Status`` (with ``BadRequest`` or ``RetryInfo`` details),
  encoded like the request: protobuf for protobuf, JSON for JSON.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import duckdb
from google.protobuf import any_pb2, duration_pb2, json_format
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from starlette.requests import Request
from starlette.responses import Response

from collector._body import (
    JSON,
    PROTOBUF,
    check_media_type,
    declared_length,
    decode_body,
    media_type,
    read_body,
)
from collector.auth import check_ingest
from collector.config import CollectorSettings
from collector.decoding import Decoder
from collector.errors import (
    CollectorError,
    InvalidPayload,
    Overloaded,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
)
from collector.otlp import Signal
from collector.stats import Stats
from collector.writer import PERMANENT_ERRORS, GroupWriter

_HTTP_STATUS: dict[type[CollectorError], tuple[int, int]] = {
    InvalidPayload: (400, code_pb2.INVALID_ARGUMENT),
    Unauthorized: (401, code_pb2.UNAUTHENTICATED),
    PayloadTooLarge: (413, code_pb2.RESOURCE_EXHAUSTED),
    UnsupportedMediaType: (415, code_pb2.INVALID_ARGUMENT),
    Overloaded: (503, code_pb2.UNAVAILABLE),
}


class Pipeline:
    """What every receiver shares: settings, decoder, writer and counters."""

    def __init__(
        self, settings: CollectorSettings, decoder: Decoder, writer: GroupWriter, stats: Stats
    ) -> None:
        self.settings = settings
        self.decoder = decoder
        self.writer = writer
        self.stats = stats


def receiver(signal: Signal, pipeline: Pipeline) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint of one signal."""

    async def receive(request: Request) -> Response:
        as_json = media_type(request) == JSON
        try:
            answer = await _ingest(signal, pipeline, request)
        except CollectorError as exc:
            status, code = _HTTP_STATUS.get(type(exc), (400, code_pb2.INVALID_ARGUMENT))
            return _failure(pipeline, signal, status, code, str(exc), as_json)
        except PERMANENT_ERRORS as exc:
            message = f"rows could not be stored: {exc}"
            return _failure(pipeline, signal, 400, code_pb2.INVALID_ARGUMENT, message, as_json)
        except duckdb.Error as exc:
            message = f"store did not commit: {exc}"
            return _failure(pipeline, signal, 503, code_pb2.UNAVAILABLE, message, as_json)
        pipeline.stats.response(signal.name.lower(), 200, answer.rejected)
        return _encode(200, signal.answer(answer.rejected, answer.message), as_json)

    return receive


class _Answer:
    def __init__(self, rejected: int = 0, message: str = "") -> None:
        self.rejected = rejected
        self.message = message


async def _ingest(signal: Signal, pipeline: Pipeline, request: Request) -> _Answer:
    settings = pipeline.settings
    limit = settings.max_body_bytes
    check_ingest(settings, request.headers)
    is_json, encoding = check_media_type(request)
    declared = declared_length(request)
    if declared > limit:
        raise PayloadTooLarge(f"body of {declared} bytes is over the limit of {limit} bytes")
    with pipeline.writer.admit(declared) as grow:
        raw = await read_body(request, limit)
        grow(len(raw))
        body = decode_body(raw, encoding, limit)
        grow(len(body))
        decoded = await pipeline.decoder.decode(signal, body, is_json)
        if any(rows.num_rows for rows in decoded.rows.values()):
            await asyncio.wrap_future(pipeline.writer.submit(decoded.rows))
    return _Answer(decoded.rejected, decoded.message)


def _failure(
    pipeline: Pipeline, signal: Signal, status: int, code: int, message: str, as_json: bool
) -> Response:
    pipeline.stats.response(signal.name.lower(), status)
    detail = any_pb2.Any()
    headers: dict[str, str] = {}
    if status == 503:
        retry_after = pipeline.settings.retry_after_s
        headers["Retry-After"] = str(retry_after)
        detail.Pack(
            error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=retry_after))
        )
    elif status == 400:
        violation = error_details_pb2.BadRequest.FieldViolation(field="body", description=message)
        detail.Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    elif status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    body = status_pb2.Status(code=code, message=message)
    if detail.type_url:
        body.details.append(detail)
    return _encode(status, body, as_json, headers)


def _encode(
    status: int, message: Message, as_json: bool, headers: dict[str, Any] | None = None
) -> Response:
    """``message`` in the request's encoding, as the spec requires of every answer."""
    if as_json:
        content = json_format.MessageToJson(message, indent=None).encode()
        return Response(content, status_code=status, media_type=JSON, headers=headers)
    return Response(
        message.SerializeToString(), status_code=status, media_type=PROTOBUF, headers=headers
    )
