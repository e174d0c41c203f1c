"""Alert state that survives a restart: DuckDB tables beside the telemetry, or memory.

The collector owns its DuckDB file, so the evaluator keeps its state there through a cursor
of the collector's connection; :data:`DDL` creates the tables. ``alerts`` holds the current
state of every non-normal alert, including what each receiver was last told, which is what
keeps a restarted collector from paging twice. ``alert_history`` has one row per
transition, ``alert_silences`` the silences (expired ones stay, for the record) and
``alert_notifications`` every delivery attempt.

A backtest keeps the same state in a :class:`MemoryAlertStore`.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import duckdb

from alerts.errors import AlertsError, UnknownSilence
from alerts.model import Alert, AlertState, Silence, Transition

DDL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS alerts (
        key VARCHAR, rule VARCHAR, labels VARCHAR, state VARCHAR, severity VARCHAR,
        value DOUBLE, threshold DOUBLE, summary VARCHAR, active_since TIMESTAMP,
        fired_at TIMESTAMP, resolved_at TIMESTAMP, last_active TIMESTAMP,
        evaluated_at TIMESTAMP, notified VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS alert_history (
        ts TIMESTAMP, key VARCHAR, rule VARCHAR, labels VARCHAR, from_state VARCHAR,
        to_state VARCHAR, value DOUBLE, summary VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS alert_silences (
        id VARCHAR, matchers VARCHAR, starts_at TIMESTAMP, ends_at TIMESTAMP,
        created_by VARCHAR, comment VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS alert_notifications (
        ts TIMESTAMP, receiver VARCHAR, key VARCHAR, rule VARCHAR, status VARCHAR,
        ok BOOLEAN, attempts INTEGER, error VARCHAR)""",
)
_COLUMNS = (
    "key",
    "rule",
    "labels",
    "state",
    "severity",
    "value",
    "threshold",
    "summary",
    "active_since",
    "fired_at",
    "resolved_at",
    "last_active",
    "evaluated_at",
    "notified",
)


class AlertStore(Protocol):
    """Where the evaluator keeps alerts, history and silences between ticks."""

    def load(self) -> dict[str, Alert]: ...

    def save(self, alerts: Mapping[str, Alert], transitions: Sequence[Transition]) -> None: ...

    def silences(self) -> list[Silence]: ...

    def record_deliveries(self, rows: Iterable[tuple[Any, ...]]) -> None: ...


def silence_for(
    matchers: Mapping[str, str],
    now: datetime,
    duration: timedelta,
    created_by: str = "",
    comment: str = "",
) -> Silence:
    """A new silence from ``now`` for ``duration``; at least one matcher is required."""
    if not matchers:
        raise AlertsError("a silence needs at least one label to match")
    if duration <= timedelta(0):
        raise AlertsError("a silence must last longer than zero")
    return Silence(
        uuid.uuid4().hex[:12],
        tuple(sorted(matchers.items())),
        now,
        now + duration,
        created_by,
        comment,
    )


class MemoryAlertStore:
    """State in memory: backtests, and tests of the evaluator."""

    def __init__(self, silences: Sequence[Silence] = ()) -> None:
        self.alerts: dict[str, Alert] = {}
        self.history: list[Transition] = []
        self._silences = list(silences)
        self.notifications: list[tuple[Any, ...]] = []

    def load(self) -> dict[str, Alert]:
        return dict(self.alerts)

    def save(self, alerts: Mapping[str, Alert], transitions: Sequence[Transition]) -> None:
        self.alerts = dict(alerts)
        self.history.extend(transitions)

    def silences(self) -> list[Silence]:
        return list(self._silences)

    def add_silence(self, silence: Silence) -> None:
        self._silences.append(silence)

    def record_deliveries(self, rows: Iterable[tuple[Any, ...]]) -> None:
        self.notifications.extend(rows)


class DuckDBAlertStore:
    """State in the alert tables of a DuckDB database.

    ``connect`` gives a connection to use (a cursor of the collector's store, or a file
    opened for ``baton alerts check``); each call runs in one transaction under a lock, so
    the page's silences and the evaluator's ticks never interleave.
    """

    def __init__(self, connect: Callable[[], duckdb.DuckDBPyConnection]) -> None:
        self._connect = connect
        self._lock = threading.Lock()
        self._run(lambda con: [con.execute(ddl) for ddl in DDL])

    def _run(self, work: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        with self._lock:
            con = self._connect()
            try:
                con.begin()
                try:
                    result = work(con)
                    con.commit()
                except BaseException:
                    con.rollback()
                    raise
                return result
            finally:
                con.close()

    def load(self) -> dict[str, Alert]:
        rows = self._run(
            lambda con: con.execute(f"SELECT {', '.join(_COLUMNS)} FROM alerts").fetchall()
        )
        return {row[0]: _alert(row) for row in rows}

    def save(self, alerts: Mapping[str, Alert], transitions: Sequence[Transition]) -> None:
        def work(con: duckdb.DuckDBPyConnection) -> None:
            con.execute("DELETE FROM alerts")
            marks = ", ".join("?" for _ in _COLUMNS)
            for alert in alerts.values():
                con.execute(f"INSERT INTO alerts VALUES ({marks})", _row(alert))
            for t in transitions:
                con.execute(
                    "INSERT INTO alert_history VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        t.ts,
                        t.key,
                        t.rule,
                        json.dumps(dict(t.labels), sort_keys=True),
                        t.from_state.value,
                        t.to_state.value,
                        t.value,
                        t.summary,
                    ],
                )

        self._run(work)

    def silences(self) -> list[Silence]:
        rows = self._run(
            lambda con: con.execute(
                "SELECT id, matchers, starts_at, ends_at, created_by, comment FROM alert_silences "
                "ORDER BY starts_at, id"
            ).fetchall()
        )
        return [
            Silence(
                r[0], tuple(sorted(json.loads(r[1]).items())), r[2], r[3], r[4] or "", r[5] or ""
            )
            for r in rows
        ]

    def add_silence(self, silence: Silence) -> None:
        self._run(
            lambda con: con.execute(
                "INSERT INTO alert_silences VALUES (?, ?, ?, ?, ?, ?)",
                [
                    silence.id,
                    json.dumps(dict(silence.matchers), sort_keys=True),
                    silence.starts_at,
                    silence.ends_at,
                    silence.created_by,
                    silence.comment,
                ],
            )
        )

    def expire_silence(self, silence_id: str, now: datetime) -> None:
        """End a silence at ``now`` (it stays listed, as expired)."""

        def work(con: duckdb.DuckDBPyConnection) -> None:
            found = con.execute(
                "SELECT count(*) FROM alert_silences WHERE id = ?", [silence_id]
            ).fetchall()
            if not found[0][0]:
                raise UnknownSilence(f"no silence with id {silence_id!r}")
            con.execute(
                "UPDATE alert_silences SET ends_at = least(ends_at, ?) WHERE id = ?",
                [now, silence_id],
            )

        self._run(work)

    def record_deliveries(self, rows: Iterable[tuple[Any, ...]]) -> None:
        def work(con: duckdb.DuckDBPyConnection) -> None:
            for row in rows:
                con.execute(
                    "INSERT INTO alert_notifications VALUES (?, ?, ?, ?, ?, ?, ?, ?)", list(row)
                )

        self._run(work)

    def history(self, limit: int = 200) -> list[dict[str, Any]]:
        """The newest transitions first."""
        return self._run(
            lambda con: _dicts(
                con.execute("SELECT * FROM alert_history ORDER BY ts DESC LIMIT ?", [limit])
            )
        )


def _dicts(result: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in result.description or ()]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def _row(alert: Alert) -> list[Any]:
    return [
        alert.key,
        alert.rule,
        json.dumps(alert.labels, sort_keys=True),
        alert.state.value,
        alert.labels.get("severity", ""),
        alert.value,
        alert.threshold,
        alert.summary,
        alert.active_since,
        alert.fired_at,
        alert.resolved_at,
        alert.last_active,
        alert.evaluated_at,
        alert.notified_json(),
    ]


def _alert(row: tuple[Any, ...]) -> Alert:
    values = dict(zip(_COLUMNS, row, strict=True))
    return Alert(
        key=values["key"],
        rule=values["rule"],
        labels=json.loads(values["labels"]),
        state=AlertState(values["state"]),
        value=values["value"],
        threshold=values["threshold"],
        summary=values["summary"] or "",
        active_since=values["active_since"],
        fired_at=values["fired_at"],
        resolved_at=values["resolved_at"],
        last_active=values["last_active"],
        evaluated_at=values["evaluated_at"],
        notified=Alert.parse_notified(values["notified"]),
    )
