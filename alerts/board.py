"""What the dashboard's Alerts page reads and writes: alert state, silences, history.

Live, the collector owns the DuckDB file, so the page goes through its alerts routes
(``GET /api/v1/alerts``, ``POST /api/v1/alerts/silences``); offline, it reads a file's
alert tables directly (and opens it read-write only for the moment it adds a silence).
Both return the same JSON-shaped snapshot as :meth:`alerts.service.AlertsService.snapshot`.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import requests

from alerts.errors import AlertsError
from alerts.rules import RuleSet
from alerts.service import snapshot
from alerts.sources import open_file
from alerts.state import DuckDBAlertStore, silence_for
from baton.errors import UnreachableError

#: Seconds to wait for the collector's alerts routes.
REQUEST_TIMEOUT_S = 10.0


class AlertsNotEnabled(AlertsError):
    """The source has no alert evaluation (no rules file, or a file never evaluated)."""


@dataclasses.dataclass(frozen=True)
class Board:
    """Alert state from a collector (``url``) or a DuckDB file (``db``)."""

    url: str | None = None
    db: Path | None = None
    token: str | None = None

    def snapshot(self) -> dict[str, Any]:
        """``now``, ``alerts``, ``silences`` and ``history``."""
        if self.url:
            return self._request("GET", "/api/v1/alerts")
        return _file_snapshot(self._path())

    def silence(
        self,
        matchers: dict[str, str],
        duration: timedelta,
        comment: str = "",
        created_by: str = "dashboard",
    ) -> str:
        """Silence alerts carrying ``matchers`` for ``duration`` from the evaluator's now."""
        body = {
            "matchers": matchers,
            "duration_s": duration.total_seconds(),
            "comment": comment,
            "created_by": created_by,
        }
        if self.url:
            return str(self._request("POST", "/api/v1/alerts/silences", body)["id"])
        path = self._path()
        con = _open(path, read_only=False)
        try:
            store = DuckDBAlertStore(con.cursor)
            silence = silence_for(matchers, _now(con), duration, created_by, comment)
            store.add_silence(silence)
        finally:
            con.close()
        return silence.id

    def _path(self) -> Path:
        if self.db is None:
            raise AlertsError("the alerts page needs a collector URL or a DuckDB file")
        return self.db

    def _request(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = requests.request(
                method,
                f"{str(self.url).rstrip('/')}{path}",
                json=body,
                headers=headers,
                timeout=REQUEST_TIMEOUT_S,
            )
        except requests.RequestException as exc:
            raise UnreachableError(
                f"collector unreachable at {self.url}: {type(exc).__name__}"
            ) from None
        if response.status_code == 404:
            raise AlertsNotEnabled(
                "the collector does not evaluate alerts; start it with --alerts RULES.yaml"
            )
        try:
            answer = response.json()
        except ValueError:
            answer = {"error": response.text[:200]}
        if response.status_code >= 400:
            raise AlertsError(f"collector refused: {answer.get('error', response.status_code)}")
        return dict(answer)


def _open(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    return open_file(path, read_only=read_only, when_held="read it through the collector instead")


def _now(con: duckdb.DuckDBPyConnection) -> datetime:
    """The evaluator's newest "now" recorded in the file (its clock may be simulated)."""
    rows = con.execute("SELECT max(evaluated_at) FROM alerts").fetchall()
    if rows and rows[0][0] is not None:
        return rows[0][0]  # type: ignore[no-any-return]
    return datetime.now(UTC).replace(tzinfo=None)


def _file_snapshot(path: Path) -> dict[str, Any]:
    con = _open(path, read_only=True)
    try:
        found = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'alerts'"
        ).fetchall()
        if not found[0][0]:
            raise AlertsNotEnabled(f"{path} has no alert state; run 'baton alerts check'")
        # Rules are the collector's; a file knows none, so nothing shows as inhibited.
        return snapshot(_Reader(con), RuleSet(rules=()), _now(con))
    finally:
        con.close()


class _Reader(DuckDBAlertStore):
    """A :class:`DuckDBAlertStore` over a read-only file: no DDL, no writes."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._connect = con.cursor
        self._lock = threading.Lock()
