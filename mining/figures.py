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
    body = """
        SELECT source, target, count(*) AS frequency,
               avg(wait_s) AS mean_wait_s
        FROM (
            SELECT activity AS source,
                   LEAD(activity) OVER w AS target,
                   epoch(LEAD(start_ts) OVER w - ts) AS wait_s
            FROM inst
            WINDOW w AS (PARTITION BY case_id ORDER BY ts, seq)
        )
        WHERE target IS NOT NULL
        GROUP BY source, target
        ORDER BY frequency DESC, source, target
    """
    sql, params = with_views(body, filters, instances=True)
    return _run(con, sql, params)


def case_durations(con: duckdb.DuckDBPyConnection, filters: Filters | None = None) -> pl.DataFrame:
    """Cycle time per case: first event (arrival on the first queue) to last event."""
    body = """
        SELECT case_id, any_value(workflow) AS workflow, any_value(payer) AS payer,
               any_value(site) AS site, min(ts) AS start_ts, max(ts) AS end_ts,
               epoch(max(ts) - min(ts)) AS duration_s,
               bool_or(lifecycle = 'escalated') AS escalated
        FROM ev GROUP BY case_id ORDER BY start_ts, case_id
    """
    sql, params = with_views(body, filters)
    return _run(con, sql, params)


def _as_of(con: duckdb.DuckDBPyConnection, at: datetime | str | None) -> datetime | None:
    if at is not None:
        return parse_time("at", at)
    # fetchall, not fetchone: DuckDB 2.0 keeps a half-read result open on the connection.
    rows = con.execute("SELECT max(ts) FROM events").fetchall()
    return rows[0][0] if rows else None


def _open_items_sql() -> str:
    arrivals = ", ".join(f"'{x}'" for x in QUEUE_ARRIVALS)
    departures = ", ".join(f"'{x}'" for x in QUEUE_DEPARTURES)
    return f"""
            SELECT a.queue, a.case_id, a.activity, a.ts AS enqueued_ts, a.due_ts,
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


def retry_hotspots(con: duckdb.DuckDBPyConnection, filters: Filters | None = None) -> pl.DataFrame:
    """Failures and retries per step and error type, with the step's attempt count."""
    body = """
        SELECT activity,
               coalesce(error_type, '(none)') AS error_type,
               count(*) FILTER (WHERE lifecycle = 'failed') AS failures,
               count(*) FILTER (WHERE lifecycle = 'retried') AS retries,
               count(*) FILTER (WHERE lifecycle = 'escalated') AS escalations
        FROM ev
        WHERE lifecycle IN ('failed', 'retried', 'escalated')
        GROUP BY ALL ORDER BY retries DESC, failures DESC, activity, error_type
    """
    sql, params = with_views(body, filters)
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
