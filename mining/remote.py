"""Figures from a running collector's query API: the one client every layer shares.

``EventLog.open(url)``, ``baton mine --collector`` and the alert evaluator all ask the
collector for "figure X with filters F" the same way (``GET /api/v1/figures/{name}``, Arrow
IPC), so they all get the same errors for the same answers.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping

import polars as pl

from baton.errors import UnreachableError
from mining.errors import InvalidFilter, MiningError, UnknownFigure

#: Seconds to wait for a figure; a cold figure over millions of events takes a while.
DEFAULT_TIMEOUT_S = 120.0


def fetch_figure(
    url: str,
    name: str,
    values: Mapping[str, str],
    token: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> pl.DataFrame:
    """Figure ``name`` with ``values`` (filters and parameters, as strings) from ``url``.

    Raises :class:`~baton.errors.UnreachableError` when nothing answers,
    :class:`UnknownFigure` on 404, :class:`InvalidFilter` on 400 and :class:`MiningError`
    for any other refusal, each with the collector's own message.
    """
    import pyarrow as pa
    import pyarrow.ipc
    import requests

    base = url.rstrip("/")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    endpoint = f"{base}/api/v1/figures/{urllib.parse.quote(name, safe='')}"
    try:
        response = requests.get(
            endpoint, params={**values, "format": "arrow"}, headers=headers, timeout=timeout_s
        )
    except requests.RequestException as exc:
        raise UnreachableError(f"collector unreachable at {base}: {type(exc).__name__}") from None
    if response.status_code != 200:
        try:
            message = str(response.json()["error"])
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {response.status_code}"
        if response.status_code == 404:
            raise UnknownFigure(message)
        if response.status_code == 400:
            raise InvalidFilter(message)
        raise MiningError(f"collector at {base} refused figure {name!r}: {message}")
    try:
        table = pyarrow.ipc.open_stream(response.content).read_all()
    except (pa.ArrowInvalid, OSError):
        raise MiningError(
            f"{base} answered with something that is not an Arrow stream; is it a collector?"
        ) from None
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame
