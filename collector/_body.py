"""Reading an OTLP/HTTP request body within a size limit, before and after gzip.

The limit applies to what is decoded, not only to what is sent: a few kilobytes of gzip can
inflate to gigabytes, so decompression stops one byte past the limit.
"""

from __future__ import annotations

import zlib

from starlette.requests import Request

from collector.errors import InvalidPayload, PayloadTooLarge, UnsupportedMediaType

#: OTLP/HTTP binary protobuf encoding.
PROTOBUF = "application/x-protobuf"
#: OTLP/HTTP JSON protobuf encoding.
JSON = "application/json"

_GZIP_WBITS = 16 + zlib.MAX_WBITS


def media_type(request: Request) -> str:
    """The request's media type without parameters (``; charset=utf-8``), lowercased."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def check_media_type(request: Request) -> tuple[bool, str]:
    """Whether the body is JSON, and the content encoding to undo.

    Raises:
        UnsupportedMediaType: a content type or encoding OTLP/HTTP does not define.
    """
    kind = media_type(request)
    if kind not in (PROTOBUF, JSON):
        raise UnsupportedMediaType(
            f"content type {kind or '(none)'!r} is not supported; send {PROTOBUF} or {JSON}"
        )
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise UnsupportedMediaType(
            f"content encoding {encoding!r} is not supported; send gzip or identity"
        )
    return kind == JSON, encoding


def declared_length(request: Request) -> int:
    """``Content-Length`` when given (0 otherwise), to refuse or admit before reading."""
    declared = request.headers.get("content-length", "")
    return int(declared) if declared.isdigit() else 0


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing it as soon as it is known to exceed ``limit`` bytes."""
    declared = declared_length(request)
    if declared > limit:
        raise _too_large(declared, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def decode_body(body: bytes, encoding: str, limit: int) -> bytes:
    """``body`` with its content encoding undone, never inflating past ``limit`` bytes."""
    if encoding != "gzip":
        return body
    inflater = zlib.decompressobj(_GZIP_WBITS)
    try:
        plain = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidPayload(f"body is not valid gzip: {exc}") from None
    if len(plain) > limit:
        raise PayloadTooLarge(f"body inflates to more than the limit of {limit} bytes")
    if not inflater.eof:
        raise InvalidPayload("gzip body is truncated")
    return plain


def _too_large(size: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"body of at least {size} bytes is over the limit of {limit} bytes")
