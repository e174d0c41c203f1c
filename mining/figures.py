"""The figures of the thin mining layer: pure functions ``(connection, filters) -> frame``.

Each takes a DuckDB connection whose ``events`` table (or view) has the columns of
:data:`baton.contract.EVENT_COLUMNS` and returns a Polars frame. They run the same on the
collector's live store, a copied file or an imported log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import polars as pl

from mining.errors import InvalidFilter
from mining.eventlog import EventLog
from mining.filters import Filters, parse_time
from mining.views import QUEUE_ARRIVALS, QUEUE_DEPARTURES, with_views

#: Age buckets of queue aging, as (label, upper bound in seconds).
AGE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("< 1 h", 3600.0),
    ("1-4 h", 4 * 3600.0),
    ("4-24 h", 24 * 3600.0),
    ("1-3 d", 3 * 86400.0),
    ("> 3 d", float("inf")),
)


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> pl.DataFrame:
    return con.sql(sql, params=params).pl()


def activity_instances(
    con: duckdb.DuckDBPyConnection, filters: Filters | None = None
) -> pl.DataFrame:
    """One row per executed step (start, end, outcome), ordered by case then ``(ts, seq)``.

    This is the frame process maps use and the one handed to pm4py.
    """
    sql, params = with_views(
        "SELECT * FROM inst ORDER BY case_id, ts, seq", filters, instances=True
    )
    return _run(con, sql, params)


def dfg(con: duckdb.DuckDBPyConnection, filters: Filters | None = None) -> pl.DataFrame:
    """Directly-follows graph over activity instances, with frequency and mean waiting time.

    Waiting time of an edge a→b is start(b) - end(a): the time the case sat between two
    steps, mostly in the next step's queue. It equals what ``pm4py.discover_performance_dfg``
    reports on a frame that carries ``start_timestamp``.
    """
    return EventLog.from_connection(con, filters).dfg()


def case_durations(con: duckdb.DuckDBPyConnection, filters: Filters | None = None) -> pl.DataFrame:
    """Per case: pm4py's duration (first to last completion), its span and Baton's cycle time.

    ``cycle_s`` runs from the case's first event (its arrival on the first queue) to its last,
    so it includes the wait before the first step, which ``duration_s`` does not.
    """
    return EventLog.from_connection(con, filters).case_durations()


def _as_of(con: duckdb.DuckDBPyConnection, at: datetime | str | None) -> datetime | None:
    if at is not None:
        return parse_time("at", at)
    # fetchall, not fetchone: DuckDB 2.0 keeps a half-read result open on the connection.
    rows = con.execute("SELECT max(ts) FROM events").fetchall()
    return rows[0][0] if rows else None


def _open_items_sql() -> str:
    """``open_items``: arrivals on a queue as of ``$at`` that no pick-up has taken off it yet.

    DuckDB runs the ``NOT EXISTS`` as a hash anti-join; a window per (case, step, attempt,
    queue) finding the last departure measured slower at 1M events.
    """
    arrivals = ", ".join(f"'{x}'" for x in QUEUE_ARRIVALS)
    departures = ", ".join(f"'{x}'" for x in QUEUE_DEPARTURES)
    return f"""
            SELECT a.queue, a.case_id, a.activity, a.attempt, a.ts AS enqueued_ts, a.due_ts,
                   epoch(CAST($at AS TIMESTAMP) - a.ts) AS age_s
            FROM ev a
            WHERE a.lifecycle IN ({arrivals}) AND a.ts <= $at
              AND NOT EXISTS (
                  SELECT 1 FROM ev d
                  WHERE d.lifecycle IN ({departures}) AND d.ts <= $at
                    AND d.case_id = a.case_id AND d.activity = a.activity
                    AND d.attempt IS NOT DISTINCT FROM a.attempt
                    AND d.queue IS NOT DISTINCT FROM a.queue
                    AND (d.ts, d.seq) >= (a.ts, a.seq)
              )
    """


def _queue_sql(select: str, filters: Filters | None) -> tuple[str, dict[str, Any]]:
    return with_views(select, filters, ctes=(("open_items", _open_items_sql()),))


def queue_summary(
    con: duckdb.DuckDBPyConnection,
    filters: Filters | None = None,
    at: datetime | str | None = None,
) -> pl.DataFrame:
    """Open items per queue as of ``at`` (default: the newest event): count, oldest, past due."""
    moment = _as_of(con, at)
    sql, params = _queue_sql(
        """
        SELECT queue, count(*) AS open_items, max(age_s) AS oldest_age_s,
               median(age_s) AS median_age_s,
               count(*) FILTER (WHERE due_ts IS NOT NULL AND due_ts < $at) AS past_due
        FROM open_items GROUP BY queue ORDER BY oldest_age_s DESC, queue
        """,
        filters,
    )
    return _run(con, sql, {**params, "at": moment})


def queue_aging(
    con: duckdb.DuckDBPyConnection,
    filters: Filters | None = None,
    at: datetime | str | None = None,
) -> pl.DataFrame:
    """Open items per queue and age bucket as of ``at`` (default: the newest event)."""
    moment = _as_of(con, at)
    cases = " ".join(
        f"WHEN age_s < {bound} THEN '{label}'" if bound != float("inf") else f"ELSE '{label}'"
        for label, bound in AGE_BUCKETS
    )
    order = " ".join(f"WHEN '{label}' THEN {i}" for i, (label, _) in enumerate(AGE_BUCKETS))
    sql, params = _queue_sql(
        f"""
        SELECT queue, age_bucket, CASE age_bucket {order} END AS bucket_order,
               count(*) AS items
        FROM (SELECT queue, CASE {cases} END AS age_bucket FROM open_items)
        GROUP BY queue, age_bucket ORDER BY queue, bucket_order
        """,
        filters,
    )
    return _run(con, sql, {**params, "at": moment})


def open_items(
    con: duckdb.DuckDBPyConnection,
    filters: Filters | None = None,
    at: datetime | str | None = None,
    cases: str | bool = True,
) -> pl.DataFrame:
    """One row per item waiting on a queue as of ``at`` (default: the newest event), oldest first.

    The items :func:`queue_summary` counts: ``queue``, ``case_id``, ``activity``,
    ``attempt``, ``enqueued_ts`` (when it arrived), ``due_ts``, ``age_s``, ``past_due``
    (due before ``at``) and ``due_in_s`` (seconds until due, negative when past due; null
    without a due time). ``cases=false`` leaves out ``case_id``, for readers who may not
    see case ids.

    Example:
        >>> import duckdb
        >>> from mining.schema import create_events_table
        >>> con = duckdb.connect()
        >>> create_events_table(con)
        >>> _ = con.execute(
        ...     "INSERT INTO events (case_id, activity, queue, attempt, lifecycle, ts, seq,"
        ...     " due_ts) VALUES "
        ...     "('c1', 'a', 'q', 1, 'enqueued', '2026-03-02 09:00', 1, '2026-03-02 09:30'),"
        ...     "('c2', 'a', 'q', 1, 'enqueued', '2026-03-02 09:20', 2, NULL),"
        ...     "('c2', 'a', 'q', 1, 'started', '2026-03-02 09:25', 3, NULL)")
        >>> open_items(con, at="2026-03-02T10:00").select(
        ...     "case_id", "age_s", "past_due", "due_in_s").rows()
        [('c1', 3600.0, True, -1800.0)]
    """
    moment = _as_of(con, at)
    with_cases = str(cases).strip().lower() not in ("false", "0", "no")
    sql, params = _queue_sql(
        f"""
        SELECT queue, {"case_id, " if with_cases else ""}activity, attempt, enqueued_ts,
               due_ts, age_s,
               coalesce(due_ts < $at, FALSE) AS past_due,
               epoch(due_ts - CAST($at AS TIMESTAMP)) AS due_in_s
        FROM open_items
        ORDER BY age_s DESC, queue, activity, case_id, attempt
        """,
        filters,
    )
    return _run(con, sql, {**params, "at": moment})


#: Columns :func:`dimension_values` lists the values of, in its order.
DIMENSION_COLUMNS = ("workflow", "payer", "site")


def dimension_values(
    con: duckdb.DuckDBPyConnection, filters: Filters | None = None
) -> pl.DataFrame:
    """The values of workflow, payer and site with their number of events: filter choices.

    One row per ``dimension`` and ``value`` (empty and missing values left out), ordered by
    dimension (workflow, payer, site) then value. Reads three columns, no case ids.

    Example:
        >>> import duckdb
        >>> from mining.schema import create_events_table
        >>> con = duckdb.connect()
        >>> create_events_table(con)
        >>> _ = con.execute(
        ...     "INSERT INTO events (case_id, workflow, payer, lifecycle, ts, seq) VALUES "
        ...     "('c1', 'w', 'p', 'enqueued', '2026-03-02 09:00', 1),"
        ...     "('c1', 'w', '', 'started', '2026-03-02 09:01', 2)")
        >>> dimension_values(con).rows()
        [('workflow', 'w', 2), ('payer', 'p', 1)]
    """
    parts = " UNION ALL ".join(
        f"SELECT {i} AS o, '{column}' AS dimension, {column} AS value, count(*) AS events "
        f"FROM ev WHERE {column} IS NOT NULL AND {column} <> '' GROUP BY {column}"
        for i, column in enumerate(DIMENSION_COLUMNS)
    )
    body = f"SELECT dimension, value, events FROM ({parts}) ORDER BY o, value"
    sql, params = with_views(body, filters)
    return _run(con, sql, params)


#: Dimensions ``retry_hotspots`` can break retries down by (``resource`` is the bot).
RETRY_DIMENSIONS = ("activity", "resource", "payer", "site", "workflow", "queue", "error_type")


def retry_hotspots(
    con: duckdb.DuckDBPyConnection,
    filters: Filters | None = None,
    by: str = "activity,error_type",
) -> pl.DataFrame:
    """Where retries happen and what they cost, by step, bot, payer and error type.

    ``by`` is a comma-separated list of :data:`RETRY_DIMENSIONS` (default: step and error
    type; ``resource`` is the bot that ran the attempt). A retry is another attempt at the
    same item after a failure; its cost, ``time_lost_s``, is the failed attempt's service
    time (``retry_service_s``) plus the wait back on the queue (``retry_wait_s``); a
    failure that is not retried (a business exception, an escalation) costs no retry time.
    Retries and escalations are attributed to the attempt that failed, so to its bot and
    error type; an attempt lost to an expired lease counts as error ``(lease expired)``.

    ``attempts``, ``successes``, ``retry_rate`` (retries / attempts) and
    ``attempts_per_success`` are over the row's step, bot, payer... without the error type,
    so rows of one step and different errors share them; with ``error_type`` in ``by``, only
    error types that failed an attempt have rows. Rework (the same step again for a new
    item) is not a retry: see :func:`mining.figures_queue.rework`.

    Example:
        >>> import duckdb
        >>> from mining.schema import create_events_table
        >>> con = duckdb.connect()
        >>> create_events_table(con)
        >>> _ = con.execute(
        ...     "INSERT INTO events (case_id, activity, attempt, lifecycle, ts, seq, error_type)"
        ...     " VALUES ('c1', 'a', 1, 'enqueued', '2026-03-02 09:00', 1, NULL),"
        ...     "        ('c1', 'a', 1, 'started', '2026-03-02 09:00', 2, NULL),"
        ...     "        ('c1', 'a', 1, 'failed', '2026-03-02 09:01', 3, 'Timeout'),"
        ...     "        ('c1', 'a', 2, 'retried', '2026-03-02 09:01', 4, NULL),"
        ...     "        ('c1', 'a', 2, 'started', '2026-03-02 09:03', 5, NULL),"
        ...     "        ('c1', 'a', 2, 'completed', '2026-03-02 09:04', 6, NULL)")
        >>> retry_hotspots(con).select(
        ...     "activity", "error_type", "attempts", "retries", "time_lost_s").rows()
        [('a', 'Timeout', 2, 1, 180.0)]
    """
    from mining.figures_queue import item_ctes

    dims = [d.strip() for d in by.split(",") if d.strip()]
    unknown = [d for d in dims if d not in RETRY_DIMENSIONS]
    if not dims or unknown or len(set(dims)) != len(dims):
        raise InvalidFilter(
            f"by: {by!r} must list distinct dimensions of {', '.join(RETRY_DIMENSIONS)}"
        )
    keys = ", ".join(dims)
    slice_dims = [d for d in dims if d != "error_type"]
    slice_keys = ", ".join(slice_dims)
    on = " AND ".join(f"r.{d} IS NOT DISTINCT FROM s.{d}" for d in slice_dims) or "TRUE"
    only_errors = "WHERE error_type <> '(none)'" if "error_type" in dims else ""
    executed = """
        SELECT * REPLACE (coalesce(error_type, CASE result WHEN 'abandoned'
                          THEN '(lease expired)' ELSE '(none)' END) AS error_type)
        FROM tried WHERE result IN ('completed', 'failed', 'abandoned')
    """
    per_slice = f"""
        SELECT {slice_keys}{"," if slice_dims else ""} count(*) AS attempts,
               count(*) FILTER (WHERE result = 'completed') AS successes,
               count(*) FILTER (WHERE next_arrival = 'retried') AS slice_retries
        FROM executed {"GROUP BY " + slice_keys if slice_dims else ""}
    """
    body = f"""
        SELECT r.*, s.attempts, s.successes,
               r.retries / nullif(s.attempts, 0) AS retry_rate,
               s.attempts / nullif(s.successes, 0) AS attempts_per_success,
               r.retry_service_s + r.retry_wait_s AS time_lost_s
        FROM (
            SELECT {keys},
                   count(*) FILTER (WHERE result IN ('failed', 'abandoned')) AS failures,
                   count(*) FILTER (WHERE next_arrival = 'retried') AS retries,
                   count(*) FILTER (WHERE next_arrival = 'escalated') AS escalations,
                   coalesce(sum(service_s) FILTER (WHERE next_arrival = 'retried'), 0)
                       AS retry_service_s,
                   coalesce(sum(next_wait_s) FILTER (WHERE next_arrival = 'retried'), 0)
                       AS retry_wait_s
            FROM executed {only_errors} GROUP BY {keys}
        ) r JOIN per_slice s ON {on}
        ORDER BY r.retries DESC, r.failures DESC, {", ".join(f"r.{d}" for d in dims)}
    """
    ctes = (
        *item_ctes(con, filters, tried=True),
        ("executed", executed),
        ("per_slice", per_slice),
    )
    sql, params = with_views(body, filters, ctes=ctes)
    return _run(con, sql, params)


def retry_counts(con: duckdb.DuckDBPyConnection, filters: Filters | None = None) -> pl.DataFrame:
    """Per step: attempts, items, retries, retry rate and attempts per success."""
    body = """
        SELECT activity,
               count(*) FILTER (WHERE lifecycle = 'started') AS attempts,
               count(*) FILTER (WHERE lifecycle = 'enqueued') AS items,
               count(*) FILTER (WHERE lifecycle = 'retried') AS retries,
               count(*) FILTER (WHERE lifecycle = 'failed') AS failures,
               count(*) FILTER (WHERE lifecycle = 'completed') AS successes,
               count(*) FILTER (WHERE lifecycle = 'escalated') AS escalations,
               retries / greatest(items, 1) AS retry_rate,
               attempts / greatest(successes, 1) AS attempts_per_success
        FROM ev
        WHERE activity IS NOT NULL
        GROUP BY activity ORDER BY retries DESC, activity
    """
    sql, params = with_views(body, filters)
    return _run(con, sql, params)


def overview(con: duckdb.DuckDBPyConnection, filters: Filters | None = None) -> pl.DataFrame:
    """One row of headline figures: cases, events, cycle time, retry and escalation rates."""
    per_case = """
        SELECT case_id, epoch(max(ts) - min(ts)) AS duration_s,
               bool_or(lifecycle = 'escalated') AS escalated
        FROM ev GROUP BY case_id
    """
    body = """
        SELECT (SELECT count(*) FROM per_case) AS cases,
               (SELECT count(*) FROM ev) AS events,
               (SELECT count(*) FROM ev WHERE lifecycle = 'enqueued') AS handoffs,
               (SELECT median(duration_s) FROM per_case) AS median_cycle_s,
               (SELECT quantile_cont(duration_s, 0.9) FROM per_case) AS p90_cycle_s,
               (SELECT count(*) FILTER (WHERE lifecycle = 'retried') FROM ev)
                 / greatest((SELECT count(*) FILTER (WHERE lifecycle = 'enqueued') FROM ev), 1)
                 AS retry_rate,
               (SELECT avg(CAST(escalated AS INTEGER)) FROM per_case) AS escalation_rate,
               (SELECT min(ts) FROM ev) AS first_ts,
               (SELECT max(ts) FROM ev) AS last_ts
    """
    sql, params = with_views(body, filters, ctes=(("per_case", per_case),))
    return _run(con, sql, params)
