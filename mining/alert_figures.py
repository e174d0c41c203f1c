"""Figures alert rules read, each as of an instant ``at``: the same SQL live and in a backtest.

Alerts never query tables themselves; they ask for these figures (and
:func:`mining.queue_summary`) by name, through a DuckDB connection or the collector's query
API. Every figure looks only at events up to ``at`` (default: the newest event), so evaluating
a rule at a past instant sees exactly what a live evaluation saw then. Parameters arrive as
strings over HTTP, so each is parsed here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import duckdb
import polars as pl

from baton.contract import ORCHESTRATOR_SERVICE, EventName
from mining._sql import query_frame
from mining.errors import InvalidFilter
from mining.figures import _as_of, _queue_sql
from mining.filters import Filters
from mining.views import with_views


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> pl.DataFrame:
    """A backtest asks for thousands of small figures: run them through Arrow."""
    return query_frame(con, sql, params)


def _seconds(name: str, raw: float | str | None, default: float) -> float:
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise InvalidFilter(f"{name}: {raw!r} is not a number of seconds") from None
    if value < 0:
        raise InvalidFilter(f"{name}: {raw!r} must not be negative")
    return value


def queue_items_older_than(
    con: duckdb.DuckDBPyConnection,
    filters: Filters | None = None,
    at: datetime | str | None = None,
    older_than_s: float | str | None = None,
) -> pl.DataFrame:
    """Open items per queue as of ``at``, and how many of them are older than ``older_than_s``.

    Example:
        >>> import duckdb
        >>> from mining.schema import create_events_table
        >>> con = duckdb.connect()
        >>> create_events_table(con)
        >>> con.execute("INSERT INTO events (event_id, seq, case_id, activity, lifecycle, ts, "
        ...             "queue) VALUES ('e1', 1, 'c1', 'pa', 'enqueued', '2026-03-02 08:00', "
        ...             "'prior_auth')")  # doctest: +ELLIPSIS
        <...>
        >>> queue_items_older_than(con, at="2026-03-02T12:00", older_than_s="7200").rows()
        [('prior_auth', 1, 1, 14400.0)]
    """
    moment = _as_of(con, at)
    sql, params = _queue_sql(
        """
        SELECT queue, count(*) AS open_items,
               count(*) FILTER (WHERE age_s > $older_than) AS older_items,
               max(age_s) AS oldest_age_s
        FROM open_items GROUP BY queue ORDER BY queue
        """,
        filters,
    )
    older = _seconds("older_than_s", older_than_s, 0.0)
    return _run(con, sql, {**params, "at": moment, "older_than": older})


def sla_breach_rate(
    con: duckdb.DuckDBPyConnection,
    filters: Filters | None = None,
    at: datetime | str | None = None,
    window_s: float | str | None = None,
) -> pl.DataFrame:
    """Per queue: items due in the ``window_s`` before ``at`` and how many missed it.

    An item is a step put on a queue with a due time (the step's SLA). It breached when the
    step had not completed by its due time. Only items whose due time has passed by ``at``
    count, so the figure never guesses about the future.
    """
    moment = _as_of(con, at)
    window = _seconds("window_s", window_s, 86400.0)
    body = """
        SELECT a.queue, count(*) AS due_items,
               count(*) FILTER (WHERE NOT EXISTS (
                   SELECT 1 FROM ev c
                   WHERE c.lifecycle = 'completed' AND c.case_id = a.case_id
                     AND c.activity = a.activity AND c.ts <= a.due_ts
                     AND (c.ts, c.seq) >= (a.ts, a.seq)
               )) AS breached
        FROM ev a
        WHERE a.lifecycle = 'enqueued' AND a.due_ts IS NOT NULL
          AND a.due_ts <= $at AND a.due_ts > $since
        GROUP BY a.queue ORDER BY a.queue
    """
    sql, params = with_views(body, filters)
    since = moment - timedelta(seconds=window) if moment is not None else None
    frame = _run(con, sql, {**params, "at": moment, "since": since})
    return frame.with_columns(breach_rate=pl.col("breached") / pl.col("due_items"))


def retry_rate_window(
    con: duckdb.DuckDBPyConnection,
    filters: Filters | None = None,
    at: datetime | str | None = None,
    window_s: float | str | None = None,
) -> pl.DataFrame:
    """Per queue: attempts started and retries in the ``window_s`` before ``at``; their ratio."""
    moment = _as_of(con, at)
    window = _seconds("window_s", window_s, 3600.0)
    body = """
        SELECT queue,
               count(*) FILTER (WHERE lifecycle = 'started') AS attempts,
               count(*) FILTER (WHERE lifecycle = 'retried') AS retries,
               retries / greatest(attempts, 1) AS retry_rate
        FROM ev
        WHERE lifecycle IN ('started', 'retried') AND ts <= $at AND ts > $since
          AND queue IS NOT NULL
        GROUP BY queue ORDER BY queue
    """
    sql, params = with_views(body, filters)
    since = moment - timedelta(seconds=window) if moment is not None else None
    return _run(con, sql, {**params, "at": moment, "since": since})


def last_telemetry(
    con: duckdb.DuckDBPyConnection,
    filters: Filters | None = None,
    at: datetime | str | None = None,
    service: str | None = None,
) -> pl.DataFrame:
    """When ``service`` (the orchestrator) last sent anything, as of ``at``, and how long ago.

    One row: ``service``, ``last_event_ts`` (work-item events), ``last_record_ts`` (its own
    log records: bot heartbeats, the simulator's clock), ``last_ts`` (the later of the two)
    and ``silent_s``. A database without a ``log_records`` table (an imported log) has
    events only, and ``last_record_ts`` is null.
    """
    moment = _as_of(con, at)
    tables = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'log_records'"
    ).fetchall()
    records = "CAST(NULL AS TIMESTAMP)"
    if tables and tables[0][0]:
        records = "(SELECT max(ts) FROM log_records WHERE ts <= $at AND service_name = $service)"
    body = f"""
        SELECT $service AS service, e AS last_event_ts, r AS last_record_ts,
               greatest(e, r) AS last_ts,
               epoch(CAST($at AS TIMESTAMP) - greatest(e, r)) AS silent_s
        FROM (SELECT (SELECT max(ts) FROM ev WHERE ts <= $at) AS e, {records} AS r)
    """
    sql, params = with_views(body, filters)
    run_params: dict[str, Any] = {
        **params,
        "at": moment,
        "service": service or ORCHESTRATOR_SERVICE,
    }
    return _run(con, sql, run_params)


def published_clock(con: duckdb.DuckDBPyConnection, filters: Filters | None = None) -> pl.DataFrame:
    """The simulator's virtual "now": the time of the newest ``baton.clock`` log record.

    One row, ``now`` (null when no simulator has published a clock, or the database has no
    ``log_records`` table). Alerts evaluated in a simulation take their time from here.
    """
    tables = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'log_records'"
    ).fetchall()
    if not (tables and tables[0][0]):
        return pl.DataFrame({"now": [None]}, schema={"now": pl.Datetime("us")})
    return _run(
        con,
        "SELECT max(ts) AS now FROM log_records WHERE event_name = $name",
        {"name": EventName.CLOCK.value},
    )
