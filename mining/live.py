"""Live aggregates: the dashboard's opening figures kept up to date as events arrive.

A full scan of ten million events for every dashboard open costs seconds; these tables make
it cost the size of what changed. Every row is the **contribution of one case**, so keeping
them right is one rule: when a batch touches a case, delete that case's rows and compute
them again from its events (:func:`refresh`). A late, out-of-order or repeated event is
therefore no special case: its case is recomputed from everything stored, and the result is
the same as :func:`recompute_all` (the property tests check exactly that).

Tables (all keyed by ``case_id``, with the dimensions workflow, version, payer, site):

- ``live_cases``: one row per case and slice (a case's events that share workflow, version,
  payer and site; almost every case has one). First and last event, event and lifecycle
  counts. Cycle-time percentiles are computed at query time from it, never from sums.
- ``live_edges``: directly-follows edges of the case's activity instances per hour of the
  target's completion: count and waiting-time sum in integer microseconds (exact sums).
- ``live_steps``: lifecycle counts per step and hour (retry counters).
- ``live_open``: queue arrivals that no departure has followed yet (open items now).
- ``live_attempts``: the case's rows of :data:`mining.figures_queue.ATTEMPTS_SQL` (one per
  attempt at a work item), so the item figures skip numbering items over every event.
- ``live_handoffs``: the handoffs between consecutive steps of the case as
  :func:`mining.figures_ops.bottlenecks` pairs them (by completion), count and waiting time.

Figures read the tables only when they are in step with ``events`` (:func:`in_sync`) and
the filters allow an exact answer; otherwise they compute from events, so a live figure
never answers differently from its full counterpart in :mod:`mining.figures`. Decisions
and measurements: ``docs/live-aggregates.md``.

Example:
    >>> import duckdb, datetime as dt
    >>> from mining.schema import create_events_table
    >>> con = duckdb.connect()
    >>> create_events_table(con)
    >>> ensure(con)
    True
    >>> t = dt.datetime(2026, 3, 2, 9)
    >>> con.execute(
    ...     "INSERT INTO events (event_id, seq, case_id, activity, lifecycle, ts) VALUES "
    ...     "('e1', 1, 'c1', 'intake', 'enqueued', $t), ('e2', 2, 'c1', 'intake', 'started', $t)",
    ...     {"t": t},
    ... ) and None
    >>> refresh(con, ["c1"])
    >>> overview_live(con)["events"].to_list()
    [2]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from mining import figures
from mining._sql import query_frame
from mining.figures_queue import ATTEMPT_ORDER, ATTEMPTS_SQL, EVENT_ORDER
from mining.filters import Filters, parse_time
from mining.views import (
    PAIR_KEY,
    QUEUE_ARRIVALS,
    QUEUE_DEPARTURES,
    fifo_instances_sql,
    instances_cte,
    same_key,
)

_DIMS = "workflow VARCHAR, workflow_version VARCHAR, payer VARCHAR, site VARCHAR"
_DIM_COLS = "workflow, workflow_version, payer, site"

#: Table name -> DDL. ``mixed``: the case has more than one slice, so a filter on a
#: dimension may keep only part of it; filtered figures compute such cases from events.
DDL: dict[str, str] = {
    "live_cases": f"""CREATE TABLE IF NOT EXISTS live_cases (
        case_id VARCHAR, {_DIMS}, start_ts TIMESTAMP, end_ts TIMESTAMP, duration_s DOUBLE,
        events BIGINT,
        handoffs BIGINT, retries BIGINT, failures BIGINT, escalations BIGINT,
        untimed BIGINT, mixed BOOLEAN, mixed_steps BOOLEAN)""",
    "live_edges": f"""CREATE TABLE IF NOT EXISTS live_edges (
        case_id VARCHAR, hour TIMESTAMP, {_DIMS}, source VARCHAR, target VARCHAR,
        n BIGINT, wait_n BIGINT, wait_us BIGINT, mixed BOOLEAN)""",
    "live_steps": f"""CREATE TABLE IF NOT EXISTS live_steps (
        case_id VARCHAR, hour TIMESTAMP, {_DIMS}, activity VARCHAR, attempts BIGINT,
        items BIGINT, retries BIGINT, failures BIGINT, successes BIGINT,
        escalations BIGINT)""",
    "live_open": f"""CREATE TABLE IF NOT EXISTS live_open (
        case_id VARCHAR, {_DIMS}, queue VARCHAR, enqueued_ts TIMESTAMP, due_ts TIMESTAMP,
        mixed BOOLEAN)""",
    "live_attempts": """CREATE TABLE IF NOT EXISTS live_attempts (
        case_id VARCHAR, activity VARCHAR, item_no BIGINT, attempt INTEGER, queue VARCHAR,
        workflow VARCHAR, payer VARCHAR, site VARCHAR, due_ts TIMESTAMP, first_ts TIMESTAMP,
        first_seq BIGINT, arrival VARCHAR, wait_start TIMESTAMP, wait_end TIMESTAMP,
        service_start TIMESTAMP, service_end TIMESTAMP, result VARCHAR, outcome VARCHAR,
        resource VARCHAR, resource_kind VARCHAR, error_type VARCHAR, exception_type VARCHAR,
        span_id VARCHAR, wait_s DOUBLE, service_s DOUBLE, workflow_version VARCHAR,
        next_arrival VARCHAR, next_wait_s DOUBLE)""",
    "live_handoffs": """CREATE TABLE IF NOT EXISTS live_handoffs (
        case_id VARCHAR, first_ts TIMESTAMP, source VARCHAR, target VARCHAR, n BIGINT,
        wait_us BIGINT)""",
}

#: Column (or expression) that bounds each table's rows of a case from below by its start,
#: so a refresh's delete skips old row groups by their zone maps.
_TIME_BOUND = {
    "live_cases": "end_ts",
    "live_edges": "hour",
    "live_steps": "hour",
    "live_open": "enqueued_ts",
    "live_attempts": "first_ts",
    "live_handoffs": "first_ts",
}

# Columns a refresh copies out of ``events`` (never the attribute map); ``event_id`` is the
# last key of :data:`mining.figures_queue.EVENT_ORDER`.
_EVENT_COLS = (
    "event_id, case_id, workflow, workflow_version, payer, site, activity, lifecycle, ts, seq, "
    "attempt, queue, due_ts, resource, resource_kind, exception_type, error_type, outcome, "
    "span_id"
)


def _in_list(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _edges_sql(src: str, mixed: str) -> str:
    """Directly-follows edges per case, hour and dimensions of the target, as figures.dfg.

    The same activity instances as :func:`mining.views.instances_cte`, but each window is
    one sort over all rows with the partition key compared to the neighbour's: DuckDB's
    partitioned windows cost ~4x more over thousands of tiny partitions (a refresh's
    shape), and the property tests hold the two formulations equal. As there, an end pairs
    with the row before it unless its key has two starts in a row (overlapping instances):
    those keys pair again FIFO (:func:`mining.views.fifo_instances_sql`).
    """
    key = ", ".join(PAIR_KEY)
    cols = f"case_id, activity, {_DIM_COLS}, ts, seq, lifecycle"
    after_start = " AND ".join(
        ["LAG(lifecycle) OVER w = 'started'"]
        + [f"LAG({c}) OVER w IS NOT DISTINCT FROM {c}" for c in PAIR_KEY]
    )
    overlapping = (
        f"(SELECT {cols}, attempt FROM {src} s SEMI JOIN overlapping o ON "
        f"{same_key('s', 'o')} WHERE lifecycle IN ('started', 'completed', 'failed'))"
    )
    return f"""
        WITH lagged AS MATERIALIZED (
            SELECT * FROM (
                SELECT {cols}, attempt, {after_start} AS after_start, LAG(ts) OVER w AS prev_ts
                FROM {src}
                WHERE lifecycle IN ('started', 'completed', 'failed')
                WINDOW w AS (ORDER BY {key}, ts, seq)
            )
            WHERE lifecycle <> 'started' OR after_start
        ),
        overlapping AS MATERIALIZED (
            SELECT DISTINCT {key} FROM lagged WHERE lifecycle = 'started'
        ),
        paired AS (
            SELECT {cols}, CASE WHEN after_start THEN prev_ts ELSE ts END AS start_ts
            FROM lagged l ANTI JOIN overlapping o ON {same_key("l", "o")}
            WHERE lifecycle <> 'started'
            UNION ALL
            SELECT {cols}, start_ts FROM ({fifo_instances_sql(overlapping)})
        ),
        e AS (
            SELECT case_id, activity AS source, LEAD(activity) OVER w AS target,
                   epoch_us(LEAD(start_ts) OVER w) - epoch_us(ts) AS wait_us,
                   LEAD(ts) OVER w AS t_ts,
                   LEAD(workflow) OVER w AS workflow,
                   LEAD(workflow_version) OVER w AS workflow_version,
                   LEAD(payer) OVER w AS payer, LEAD(site) OVER w AS site,
                   LEAD(case_id) OVER w IS NOT DISTINCT FROM case_id AS same_case
            FROM paired WHERE lifecycle IN ('completed', 'failed')
            -- pm4py's and the engine's DFG order: by start, then completion, then seq.
            WINDOW w AS (ORDER BY case_id, start_ts, ts, seq)
        )
        SELECT e.case_id, date_trunc('hour', t_ts) AS hour, {_DIM_COLS}, source, target,
               count(*) AS n, count(e.wait_us) AS wait_n, sum(e.wait_us) AS wait_us,
               {"any_value(m.mixed)" if mixed == "m.mixed" else mixed} AS mixed
        FROM e {_mixed_join(mixed, "e")}
        WHERE target IS NOT NULL AND same_case
        GROUP BY e.case_id, hour, {_DIM_COLS}, source, target"""


def _open_sql(src: str, mixed: str) -> str:
    """Open items as figures.queue_summary sees them at the newest event (every timed event
    is then at or before "now"): arrivals after the last departure of the same item."""
    return f"""
        WITH last_departure AS (
            SELECT case_id, activity, attempt, queue, max({{'t': ts, 's': seq}}) AS last
            FROM {src}
            WHERE lifecycle IN ({_in_list(QUEUE_DEPARTURES)}) AND ts IS NOT NULL
              AND case_id IS NOT NULL AND activity IS NOT NULL
            GROUP BY case_id, activity, attempt, queue
        )
        SELECT a.case_id, a.workflow, a.workflow_version, a.payer, a.site, a.queue,
               a.ts AS enqueued_ts, a.due_ts, {mixed} AS mixed
        FROM {src} a {_mixed_join(mixed, "a")}
        LEFT JOIN last_departure d
          ON d.case_id = a.case_id AND d.activity = a.activity
         AND d.attempt IS NOT DISTINCT FROM a.attempt AND d.queue IS NOT DISTINCT FROM a.queue
        WHERE a.lifecycle IN ({_in_list(QUEUE_ARRIVALS)}) AND a.ts IS NOT NULL
          AND (d.last IS NULL OR d.last < {{'t': a.ts, 's': a.seq}})"""


_MIXED = "(SELECT case_id, count(*) > 1 AS mixed FROM live_slices GROUP BY case_id)"


def _mixed_join(mixed: str, alias: str) -> str:
    if mixed != "m.mixed":
        return ""
    return f"JOIN {_MIXED} m ON {alias}.case_id IS NOT DISTINCT FROM m.case_id"


def _compute_sql(src: str) -> dict[str, str]:
    """``SELECT``s giving each table's rows for every case in ``src`` (an events relation);
    ``live_slices`` (a temp table from the first entry) must exist for the others."""
    return {
        "live_slices": f"""
            SELECT case_id, {_DIM_COLS}, min(ts) AS start_ts, max(ts) AS end_ts,
                   epoch(max(ts) - min(ts)) AS duration_s, count(*) AS events,
                   count(*) FILTER (WHERE lifecycle = 'enqueued') AS handoffs,
                   count(*) FILTER (WHERE lifecycle = 'retried') AS retries,
                   count(*) FILTER (WHERE lifecycle = 'failed') AS failures,
                   count(*) FILTER (WHERE lifecycle = 'escalated') AS escalations,
                   count(*) - count(ts) AS untimed
            FROM {src} GROUP BY case_id, {_DIM_COLS}""",
        "live_cases": f"""
            SELECT s.*, m.mixed, coalesce(p.mixed_steps, FALSE) AS mixed_steps
            FROM live_slices s {_mixed_join("m.mixed", "s")}
            LEFT JOIN (SELECT case_id, bool_or(mixed) AS mixed_steps FROM ({_steps_sql(src)})
                       GROUP BY case_id) p ON s.case_id IS NOT DISTINCT FROM p.case_id""",
        "live_edges": _edges_sql(src, "m.mixed"),
        "live_steps": f"""
            SELECT case_id, date_trunc('hour', ts) AS hour, {_DIM_COLS}, activity,
                   count(*) FILTER (WHERE lifecycle = 'started') AS attempts,
                   count(*) FILTER (WHERE lifecycle = 'enqueued') AS items,
                   count(*) FILTER (WHERE lifecycle = 'retried') AS retries,
                   count(*) FILTER (WHERE lifecycle = 'failed') AS failures,
                   count(*) FILTER (WHERE lifecycle = 'completed') AS successes,
                   count(*) FILTER (WHERE lifecycle = 'escalated') AS escalations
            FROM {src} WHERE activity IS NOT NULL
            GROUP BY case_id, hour, {_DIM_COLS}, activity""",
        "live_open": _open_sql(src, "m.mixed"),
        "live_attempts": _attempts_sql(src),
        "live_handoffs": _handoffs_sql(src),
    }


def _handoffs_sql(src: str) -> str:
    """Per case and handoff a -> b: the count and summed wait of ``bottlenecks``' edges.

    The same instances (:func:`mining.views.instances_cte`) and the same pairing by
    completion ``(ts, seq)``; ``first_ts`` (the earliest source completion) bounds a
    refresh's delete.
    """
    return f"""
        SELECT * FROM (
            WITH ev AS (SELECT * FROM {src}), inst AS ({instances_cte()}),
                 edges AS (
                     SELECT case_id, activity AS source, LEAD(activity) OVER w AS target,
                            ts, epoch(LEAD(start_ts) OVER w - ts) AS wait_s
                     FROM inst WINDOW w AS (PARTITION BY case_id ORDER BY ts, seq))
            SELECT case_id, min(ts) AS first_ts, source, target, count(*) AS n,
                   CAST(sum(round(wait_s * 1e6)::BIGINT) AS BIGINT) AS wait_us
            FROM edges WHERE target IS NOT NULL GROUP BY case_id, source, target
        )"""


def _steps_sql(src: str) -> str:
    """Per case and step: the step's workflow version, and whether its events disagree on
    workflow, version, payer or site (``mixed``): a filter on those then keeps only part of
    the step's events, and its items are numbered differently than over all of them. The
    version is the step's first event's (:data:`mining.figures_queue.EVENT_ORDER`), so a mixed
    step stores the same one on every rebuild."""
    return f"""
        SELECT case_id, activity, arg_min(workflow_version, ({EVENT_ORDER})) AS workflow_version,
               count(DISTINCT {{'w': workflow, 'v': workflow_version, 'p': payer,
                                's': site}}) > 1 AS mixed
        FROM {src} WHERE activity IS NOT NULL GROUP BY case_id, activity"""


def _attempts_sql(src: str) -> str:
    """The item figures' ``attempts`` for every case in ``src``, with the step's version and
    what came next for the same item (:data:`mining.figures_queue.TRIED_SQL`).

    Items are numbered over the case's whole history, which is what a figure numbers too
    when its filters keep or drop whole steps of a case
    (:func:`mining.figures_queue.stored_attempts`).
    """
    return f"""
        SELECT * FROM (
            WITH marked AS ({_marked_sql(src)}),
                 a AS ({ATTEMPTS_SQL})
            SELECT a.*, p.workflow_version,
                   LEAD(a.arrival) OVER w AS next_arrival, LEAD(a.wait_s) OVER w AS next_wait_s
            FROM a JOIN ({_steps_sql(src)}) p
              ON a.case_id IS NOT DISTINCT FROM p.case_id AND a.activity = p.activity
            WINDOW w AS (PARTITION BY a.case_id, a.activity, a.item_no
                         ORDER BY {", ".join(f"a.{c}" for c in ATTEMPT_ORDER.split(", "))})
        )"""


def _marked_sql(src: str) -> str:
    """:data:`mining.figures_queue.MARKED_SQL` over all of ``src``, each window one sort over
    all rows with the neighbour's step compared, as in :func:`_edges_sql`: ``item_no`` is a
    running count over the whole sort minus its value where the step's rows begin. The item
    figures' property tests hold stored and computed attempts equal
    (``tests/mining/test_stored_attempts.py``); a ``NULL`` new-item flag counts 0, so rows
    the original numbers ``NULL`` get 0, and both leave ``attempts`` (``item_no > 0``).

    ``pos`` numbers all rows in the first sort, whose order within a step is the step's
    :data:`~mining.figures_queue.EVENT_ORDER` (total, like the original's), so the later
    windows sort one integer, and ``attempts`` takes first and last events by it as the
    original does by its per-step numbering: both order a step's rows alike.
    """
    step = f"ORDER BY case_id, activity, {EVENT_ORDER}"
    return f"""
        SELECT * EXCLUDE (first, running, base),
               CAST(running - max(base) OVER (w ROWS UNBOUNDED PRECEDING) AS BIGINT) AS item_no
        FROM (
            SELECT *, CASE WHEN first THEN running - CAST(new_item AS INTEGER) END AS base
            FROM (
                SELECT *, sum(CAST(new_item AS INTEGER)) OVER (w ROWS UNBOUNDED PRECEDING)
                              AS running
                FROM (
                    SELECT case_id, activity, lifecycle, ts, seq, attempt, queue, workflow,
                           payer, site, due_ts, outcome, resource, resource_kind, error_type,
                           exception_type, span_id, first, pos,
                           coalesce(lifecycle = 'enqueued'
                               OR (lifecycle IN ('started', 'completed', 'failed')
                                   AND coalesce(CASE WHEN NOT first THEN prev_lifecycle END,
                                                'completed') IN ('completed', 'resumed')),
                               FALSE) AS new_item
                    FROM (
                        SELECT *, LAG(lifecycle) OVER w AS prev_lifecycle,
                               NOT (LAG(case_id) OVER w IS NOT DISTINCT FROM case_id
                                    AND LAG(activity) OVER w IS NOT DISTINCT FROM activity)
                                   AS first,
                               row_number() OVER w AS pos
                        FROM {src} WHERE activity IS NOT NULL
                        WINDOW w AS ({step})
                    )
                )
                WINDOW w AS (ORDER BY pos)
            )
        )
        WINDOW w AS (ORDER BY pos)"""


#: Bumped whenever a table's columns or meaning change: :func:`ensure` then rebuilds them.
VERSION = 7


def ensure(con: duckdb.DuckDBPyConnection) -> bool:
    """Create the live tables if missing or of an older layout; True when they must be
    filled (:func:`recompute_all`)."""
    existing = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE NOT temporary"
        ).fetchall()
    }
    current = "live_meta" in existing and con.execute(
        "SELECT max(version) = $v FROM live_meta", {"v": VERSION}
    ).fetchall() == [(True,)]
    if not current:
        for table in (*DDL, "live_meta"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute("CREATE TABLE live_meta (version INTEGER)")
        con.execute("INSERT INTO live_meta VALUES ($v)", {"v": VERSION})
    for ddl in DDL.values():
        con.execute(ddl)
    return not current or not set(DDL) <= existing


def _fill(con: duckdb.DuckDBPyConnection, src: str, skip: Iterable[str] = ()) -> None:
    """Insert the rows of every case in ``src``; ``skip``: tables ``src`` gives no rows
    (:func:`mining.live_batch.empty_tables` decides from the rules of the SQL above)."""
    sql = _compute_sql(src)
    skipped = set(skip)
    con.execute(f"CREATE OR REPLACE TEMP TABLE live_slices AS {sql['live_slices']}")
    try:
        for table in DDL:
            if table not in skipped:
                con.execute(f"INSERT INTO {table} BY NAME {sql[table]}")
    finally:
        con.execute("DROP TABLE IF EXISTS live_slices")


def recompute_all(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild every live table from all events (a new file, a prune, an import).

    Runs in the caller's transaction when one is open.
    """
    ensure(con)
    for table in DDL:
        con.execute(f"DELETE FROM {table}")
    _fill(con, f"(SELECT {_EVENT_COLS} FROM events)")


def refresh(
    con: duckdb.DuckDBPyConnection,
    case_ids: Iterable[str | None] | pa.Array | pa.ChunkedArray,
    since: datetime | None = None,
) -> None:
    """Recompute the contributions of ``case_ids`` from their stored events.

    Costs the events of those cases, not the table: ``since`` is the earliest time of the
    events just written (``None``: unknown), and events are read from the earlier of it and
    the stored start of every touched case, so DuckDB skips older row groups by their zone
    maps. Cases with events without a time are read without that bound. Call it in the
    transaction that inserted the events, so readers never see events without aggregates.
    """
    ids = _as_array(case_ids)
    if len(ids) == 0:
        return
    con.register("live_touched_in", pa.table({"case_id": ids}))
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE live_touched AS "
            "SELECT DISTINCT case_id FROM live_touched_in"
        )
    finally:
        con.unregister("live_touched_in")
    try:
        lo = _lower_bound(con, since)
        params = {} if lo is None else {"lo": lo}
        delete_cases(con, "live_touched", lo)
        bound = "TRUE" if lo is None else "ts >= $lo"
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE live_ev AS SELECT {_EVENT_COLS} FROM events e "
            f"SEMI JOIN live_touched t ON e.case_id IS NOT DISTINCT FROM t.case_id "
            f"WHERE {bound}",
            params or None,
        )
        _fill(con, "live_ev")
    finally:
        con.execute("DROP TABLE IF EXISTS live_ev")
        con.execute("DROP TABLE IF EXISTS live_touched")


def _lower_bound(con: duckdb.DuckDBPyConnection, since: datetime | None) -> datetime | None:
    """Earliest time any event of the touched cases can have, or None if unbounded."""
    if since is None:
        return None
    rows = con.execute(
        "SELECT min(start_ts), coalesce(sum(untimed), 0) FROM live_cases c "
        "SEMI JOIN live_touched t ON c.case_id IS NOT DISTINCT FROM t.case_id"
    ).fetchall()
    return earliest(since, *rows[0])


def earliest(since: datetime | None, start: datetime | None, untimed: int) -> datetime | None:
    """The lower bound of a refresh's re-read: the earlier of ``since`` (the batch's earliest
    time) and ``start`` (the stored start of the cases it touches, ``None`` if none is
    stored); ``None`` (unbounded) when the batch's time is unknown or a stored event of
    those cases has none."""
    if since is None or untimed:
        return None
    return since if start is None else min(since, start)


def delete_cases(con: duckdb.DuckDBPyConnection, cases: str, lo: datetime | None) -> None:
    """Delete every live row of the cases in ``cases`` (a relation with ``case_id``).

    ``lo`` bounds every row of those cases from below (see :data:`_TIME_BOUND`), so DuckDB
    skips older row groups by their zone maps.
    """
    for table in DDL:
        bound = "TRUE" if lo is None else f"{_TIME_BOUND[table]} >= date_trunc('hour', $lo)"
        con.execute(
            f"DELETE FROM {table} USING {cases} t "
            f"WHERE {table}.case_id IS NOT DISTINCT FROM t.case_id AND {bound}",
            None if lo is None else {"lo": lo},
        )


def _as_array(case_ids: Iterable[str | None] | pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(case_ids, pa.ChunkedArray):
        return case_ids.combine_chunks().cast(pa.string())
    if isinstance(case_ids, pa.Array):
        return case_ids.cast(pa.string())
    return pa.array(list(case_ids), pa.string())


def in_sync(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the live tables exist and cover exactly the stored events.

    A writer that bypasses :func:`refresh` (an import through another connection, a manual
    delete) makes the counts differ; live figures then compute from events instead, and the
    store rebuilds the tables (:func:`recompute_all`) on its next write or open.
    """
    try:
        rows = con.execute(
            "SELECT (SELECT coalesce(sum(events), 0) FROM live_cases), "
            "(SELECT count(*) FROM events)"
        ).fetchall()
    except duckdb.CatalogException:
        return False
    return bool(rows and rows[0][0] == rows[0][1])


def attempts_ready(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether ``live_attempts`` exists in this layout and covers exactly the stored events.

    A file of an older layout (no table, or other columns) answers False until a store
    opens it for writing and rebuilds it; so does a connection without the live tables.
    """
    try:
        rows = con.execute("SELECT max(version) FROM live_meta").fetchall()
        con.execute("SELECT 1 FROM live_attempts LIMIT 0")
    except duckdb.CatalogException:
        return False
    return rows == [(VERSION,)] and in_sync(con)


def handoffs_ready(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether ``live_handoffs`` exists in this layout and covers exactly the stored events."""
    try:
        con.execute("SELECT 1 FROM live_handoffs LIMIT 0")
    except duckdb.CatalogException:
        return False
    return attempts_ready(con)


def has_mixed_steps(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether any step of a case has events that disagree on workflow, version, payer or
    site (cases that change workflow between steps do not count)."""
    rows = con.execute("SELECT count(*) FROM live_cases WHERE mixed_steps").fetchall()
    return bool(rows and rows[0][0])


# --- figures from the live tables ---------------------------------------------------------


def _dims(filters: Filters) -> tuple[str, dict[str, Any], bool]:
    """``WHERE`` over the dimension filters, its parameters, and whether any is set."""
    where, params = Filters(
        workflow=filters.workflow, payer=filters.payer, site=filters.site
    ).where()
    return where, params, bool(params)


def _mixed_events(filters: Filters) -> tuple[str, dict[str, Any]]:
    """Filtered events of the cases with several slices: a filter may keep part of them."""
    where, params = filters.where()
    return (
        f"(SELECT {_EVENT_COLS} FROM events e SEMI JOIN "
        "(SELECT DISTINCT case_id FROM live_cases WHERE mixed) m "
        f"ON e.case_id IS NOT DISTINCT FROM m.case_id WHERE {where})",
        params,
    )


def overview_live(con: duckdb.DuckDBPyConnection, filters: Filters | None = None) -> pl.DataFrame:
    """:func:`mining.figures.overview` from ``live_cases``; equal to it for any filters.

    Percentiles come from per-case durations at query time. Time filters (and tables out of
    step with events) compute from events.
    """
    filters = filters or Filters()
    if filters.since or filters.until or not in_sync(con):
        return figures.overview(con, filters)
    where, params, _ = _dims(filters)
    # One pass over the matching slices for the totals, one over cases for the rest; a case
    # with one slice (almost all) is one row, only mixed cases are grouped.
    sql = f"""
        WITH s AS (
            SELECT case_id, start_ts, end_ts, duration_s, events, handoffs, retries,
                   escalations, mixed
            FROM live_cases WHERE {where}
        ),
        per_case AS (
            SELECT duration_s, escalations > 0 AS escalated FROM s WHERE NOT mixed
            UNION ALL
            SELECT epoch(max(end_ts) - min(start_ts)), bool_or(escalations > 0)
            FROM s WHERE mixed GROUP BY case_id
        ),
        totals AS (
            SELECT CAST(coalesce(sum(events), 0) AS BIGINT) AS events,
                   CAST(coalesce(sum(handoffs), 0) AS BIGINT) AS handoffs,
                   CAST(coalesce(sum(retries), 0) AS BIGINT) AS retries,
                   min(start_ts) AS first_ts, max(end_ts) AS last_ts
            FROM s
        ),
        cycle AS (
            SELECT count(*) AS cases, quantile_cont(duration_s, [0.5, 0.9]) AS q,
                   avg(CAST(escalated AS INTEGER)) AS escalation_rate
            FROM per_case
        )
        SELECT cases, events, handoffs, q[1] AS median_cycle_s, q[2] AS p90_cycle_s,
               retries / greatest(handoffs, 1) AS retry_rate, escalation_rate,
               first_ts, last_ts
        FROM cycle, totals
    """
    return query_frame(con, sql, params)


def dfg_live(con: duckdb.DuckDBPyConnection, filters: Filters | None = None) -> pl.DataFrame:
    """:func:`mining.figures.dfg` from ``live_edges``; equal to it up to float rounding.

    With a dimension filter, cases with several slices are computed from their events.
    Time filters compute from events.
    """
    filters = filters or Filters()
    if filters.since or filters.until or not in_sync(con):
        return figures.dfg(con, filters)
    where, params, filtered = _dims(filters)
    rows = f"SELECT source, target, n, wait_n, wait_us FROM live_edges WHERE {where}"
    if filtered:
        mixed_src, mixed_params = _mixed_events(filters)
        rows = (
            f"{rows} AND NOT mixed UNION ALL "
            f"SELECT source, target, n, wait_n, wait_us FROM ({_edges_sql(mixed_src, 'FALSE')})"
        )
        params = {**params, **mixed_params}
    sql = f"""
        SELECT source, target, CAST(sum(n) AS BIGINT) AS frequency,
               sum(wait_us) / nullif(sum(wait_n), 0) / 1e6 AS mean_wait_s
        FROM ({rows})
        GROUP BY source, target
        ORDER BY frequency DESC, source, target
    """
    return query_frame(con, sql, params)


def queue_summary_live(
    con: duckdb.DuckDBPyConnection,
    filters: Filters | None = None,
    at: datetime | str | None = None,
) -> pl.DataFrame:
    """:func:`mining.figures.queue_summary` from ``live_open``, as of the newest event or later.

    An earlier ``at``, a time filter or tables out of step compute from events.
    """
    filters = filters or Filters()
    if filters.since or filters.until or not in_sync(con):
        return figures.queue_summary(con, filters, at)
    newest = con.execute("SELECT max(end_ts) FROM live_cases").fetchall()[0][0]
    moment = parse_time("at", at) if at is not None else newest
    if moment is not None and (
        moment.tzinfo is not None or (newest is not None and moment < newest)
    ):
        return figures.queue_summary(con, filters, at)
    where, params, filtered = _dims(filters)
    rows = f"SELECT queue, enqueued_ts, due_ts FROM live_open WHERE {where}"
    if filtered:
        mixed_src, mixed_params = _mixed_events(filters)
        rows = (
            f"{rows} AND NOT mixed UNION ALL "
            f"SELECT queue, enqueued_ts, due_ts FROM ({_open_sql(mixed_src, 'FALSE')})"
        )
        params = {**params, **mixed_params}
    sql = f"""
        SELECT queue, count(*) AS open_items, max(age_s) AS oldest_age_s,
               median(age_s) AS median_age_s,
               count(*) FILTER (WHERE due_ts IS NOT NULL AND due_ts < $at) AS past_due
        FROM (
            SELECT queue, due_ts, epoch(CAST($at AS TIMESTAMP) - enqueued_ts) AS age_s
            FROM ({rows})
        )
        GROUP BY queue ORDER BY oldest_age_s DESC, queue
    """
    return query_frame(con, sql, {**params, "at": moment})


def retry_counts_live(
    con: duckdb.DuckDBPyConnection, filters: Filters | None = None
) -> pl.DataFrame:
    """:func:`mining.figures.retry_counts` from ``live_steps``.

    Exact for dimension filters and for ``since``/``until`` on whole hours (the table's
    grain); other times compute from events.
    """
    filters = filters or Filters()
    _, times = Filters(since=filters.since, until=filters.until).where()
    whole_hours = all(t.minute == t.second == t.microsecond == 0 for t in times.values())
    if not whole_hours or not in_sync(con):
        return figures.retry_counts(con, filters)
    where, params, _ = _dims(filters)
    if "f_since" in times:
        where += " AND hour >= $f_since"
    if "f_until" in times:
        where += " AND hour < $f_until"
    sql = f"""
        SELECT *, retries / greatest(items, 1) AS retry_rate,
               attempts / greatest(successes, 1) AS attempts_per_success
        FROM (
            SELECT activity,
                   CAST(sum(attempts) AS BIGINT) AS attempts,
                   CAST(sum(items) AS BIGINT) AS items,
                   CAST(sum(retries) AS BIGINT) AS retries,
                   CAST(sum(failures) AS BIGINT) AS failures,
                   CAST(sum(successes) AS BIGINT) AS successes,
                   CAST(sum(escalations) AS BIGINT) AS escalations
            FROM live_steps WHERE {where}
            GROUP BY activity
        )
        ORDER BY retries DESC, activity
    """
    return query_frame(con, sql, {**params, **times})
