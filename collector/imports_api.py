"""``POST /api/v1/imports``: an event-log file imported through a running collector.

DuckDB lets one process hold a file, so while a collector runs, ``baton import --db`` cannot
open it; it sends the file here instead (admin token). The body is the file's bytes, the
query string carries the file name (its suffix picks the reader) and the import options under
the same names as ``baton import``'s flags. The import runs through :meth:`Store.import_log`,
between two group commits, in one transaction: all or nothing, as offline.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from collector.auth import caller
from collector.config import CollectorSettings, Role
from collector.errors import Forbidden, PayloadTooLarge, Unauthorized
from collector.store import Store
from collector.transfer_errors import ImportFailed
from mining.readers import ColumnMapping, ImportOptions

PATH: Final = "/api/v1/imports"
#: Largest file accepted (an import is parsed whole before its transaction opens).
MAX_IMPORT_BYTES: Final = 1024 * 1024 * 1024
_COLUMN_FIELDS = tuple(f.name for f in dataclasses.fields(ColumnMapping))
_OPTION_FIELDS = ("workflow", "object_type", "separator", "timestamp_format")


def options_to_query(options: ImportOptions) -> dict[str, str]:
    """The options as query parameters (``case_column=…``, like the CLI's flags)."""
    query = {name: getattr(options, name) for name in _OPTION_FIELDS}
    query |= {f"{name}_column": getattr(options.columns, name) for name in _COLUMN_FIELDS}
    return {k: str(v) for k, v in query.items() if v is not None}


def options_from_query(values: Mapping[str, str]) -> ImportOptions:
    """The inverse of :func:`options_to_query`; unknown names are an error, not ignored."""
    known = {*_OPTION_FIELDS, *(f"{n}_column" for n in _COLUMN_FIELDS), "filename"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ImportFailed(f"unknown import option(s): {', '.join(unknown)}")
    columns = ColumnMapping(
        **{n: values[f"{n}_column"] for n in _COLUMN_FIELDS if f"{n}_column" in values}
    )
    return ImportOptions(columns=columns, **{n: values[n] for n in _OPTION_FIELDS if n in values})


class ImportsRoute:
    """The handler, bound to the collector's store and settings."""

    def __init__(self, store: Store, settings: CollectorSettings) -> None:
        self.store = store
        self.settings = settings

    async def handle(self, request: Request) -> Response:
        try:
            caller(self.settings, request.headers, Role.ADMIN)
        except Unauthorized as exc:
            return JSONResponse({"error": str(exc)}, 401, headers={"WWW-Authenticate": "Bearer"})
        except Forbidden as exc:
            return JSONResponse({"error": str(exc)}, status_code=403)
        values = dict(request.query_params)
        name = Path(values.get("filename", "")).name
        if not name:
            return JSONResponse(
                {"error": "filename= is required (its suffix names the format)"}, 400
            )
        try:
            options = options_from_query(values)
            with tempfile.TemporaryDirectory(prefix="baton-import-") as folder:
                path = Path(folder) / name
                await _receive(request, path)
                report = await run_in_threadpool(self.store.import_log, path, options)
        except PayloadTooLarge as exc:
            return JSONResponse({"error": str(exc)}, status_code=413)
        except ImportFailed as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"lines": report.lines(), "inserted": report.inserted})


async def _receive(request: Request, path: Path) -> None:
    """Stream the body to ``path``, refusing more than :data:`MAX_IMPORT_BYTES`."""
    size = 0
    with path.open("wb") as out:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_IMPORT_BYTES:
                raise PayloadTooLarge(f"import larger than {MAX_IMPORT_BYTES} bytes")
            out.write(chunk)


def send_import(url: str, path: Path, options: ImportOptions, token: str | None) -> list[str]:
    """Send ``path`` to the collector at ``url``; the report's lines, or :class:`ImportFailed`."""
    import requests

    query = {**options_to_query(options), "filename": path.name}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with path.open("rb") as body:
            response = requests.post(
                f"{url.rstrip('/')}{PATH}", params=query, data=body, headers=headers, timeout=600
            )
    except requests.RequestException as exc:
        raise ImportFailed(f"collector at {url} is unreachable: {exc}") from None
    if response.status_code != 200:
        try:
            detail = response.json().get("error", response.text)
        except ValueError:
            detail = response.text
        raise ImportFailed(
            f"collector at {url} refused the import ({response.status_code}): {detail}"
        )
    lines: list[str] = response.json()["lines"]
    return lines
