"""The SQL views every figure builds on: filtered events and activity instances.

An *activity instance* is one executed step: a ``completed`` or ``failed`` event of a case,
activity and attempt, with the ``started`` event it ends. Starts and ends pair first in, first
out, exactly as pm4py's ``interval_lifecycle.to_interval`` pairs ``start`` and ``complete``:
in ``(ts, seq)`` order, an end takes the earliest start of its case, activity and attempt that
no earlier end took. An end that finds no start waiting is an instance whose start equals its
end (logs with one timestamp per step, imported files, have only such ``completed`` events); a
start never ended is no instance. Instances carry the ``seq`` of their end event, and every
ordering is by ``(ts, seq)``, which is how pm4py orders ties.

FIFO differs from pairing an end with the row right before it only where two starts of one
case, activity and attempt follow each other (start, start, end, end: overlapping instances).
The view therefore pairs with the row before, one window over the events as cheap as it gets,
finds those few *overlapping keys* on the way, and pairs only their events again, FIFO
(:func:`fifo_instances_sql`). Measurements: ``docs/benchmarks.md``, "FIFO pairing".
"""

from __future__ import annotations

from typing import Any

from mining.filters import Filters

#: Lifecycles that put an item on a queue, and the ones that take it off again.
QUEUE_ARRIVALS = ("enqueued", "retried", "escalated")
QUEUE_DEPARTURES = ("started", "resumed")

#: The columns of ``inst``, in order.
INSTANCE_COLUMNS = (
    "case_id, workflow, workflow_version, activity, attempt, resource, resource_kind, queue, "
    "payer, site, start_ts, ts, seq, lifecycle, exception_type, error_type, outcome, span_id"
)
#: What starts and ends pair within. Imported logs have one attempt, so there it is pm4py's
#: key: the case and the activity.
PAIR_KEY = ("case_id", "activity", "attempt")


def same_key(a: str, b: str) -> str:
    """SQL: relations ``a`` and ``b`` have the same :data:`PAIR_KEY` (a missing value too)."""
    return " AND ".join(f"{a}.{c} IS NOT DISTINCT FROM {b}.{c}" for c in PAIR_KEY)


def events_cte(filters: Filters | None) -> tuple[str, dict[str, Any]]:
    """``ev`` as a CTE body: the events that pass ``filters``."""
    where, params = (filters or Filters()).where()
    return f"SELECT * FROM events WHERE {where}", params


def fifo_instances_sql(src: str) -> str:
    """The instances of ``src`` (its ``started``, ``completed``, ``failed`` rows) paired FIFO:
    ``src``'s end rows with a ``start_ts``.

    Per key in ``(ts, seq)`` order, let S_j be the number of starts up to the j-th end,
    d_j = S_j - j and R_j the least d of the first j ends (R_0 = +inf). The j-th end finds a
    start waiting iff d_j >= min(0, R_{j-1}), and then takes start number j + min(0, R_j)
    (-min(0, R_j) ends so far found none). Two windows and a join instead of a queue: fine
    for the few overlapping keys, too slow for every key (:func:`instances_cte`).
    """
    key = ", ".join(PAIR_KEY)
    return f"""
        SELECT * FROM (
            WITH numbered AS MATERIALIZED (
                SELECT *, count(*) FILTER (WHERE lifecycle = 'started') OVER w AS n_start,
                          count(*) FILTER (WHERE lifecycle <> 'started') OVER w AS n_end
                FROM {src}
                WINDOW w AS (PARTITION BY {key} ORDER BY ts, seq ROWS UNBOUNDED PRECEDING)
            ),
            ends AS (
                SELECT *,
                       CASE WHEN n_start - n_end >= least(0, coalesce(min(n_start - n_end)
                                 OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0))
                            THEN n_end + least(0, min(n_start - n_end)
                                 OVER (w ROWS UNBOUNDED PRECEDING))
                       END AS start_no
                FROM numbered WHERE lifecycle <> 'started'
                WINDOW w AS (PARTITION BY {key} ORDER BY n_end)
            )
            SELECT e.* EXCLUDE (n_start, n_end, start_no),
                   CASE WHEN e.start_no IS NULL THEN e.ts ELSE s.ts END AS start_ts
            FROM ends e
            LEFT JOIN (SELECT {key}, n_start, ts FROM numbered WHERE lifecycle = 'started') s
              ON {same_key("s", "e")} AND s.n_start = e.start_no
        )"""


def instances_cte() -> str:
    """``inst`` as a CTE body over ``ev``: one row per activity instance (see the module).

    ``paired`` keeps the end rows, each with the row before it, and the starts that follow
    a start (rare): their keys are the only ones FIFO pairs differently, and are paired
    again from their events.
    """
    key = ", ".join(PAIR_KEY)
    by_previous = INSTANCE_COLUMNS.replace(
        "start_ts", "CASE WHEN prev_lifecycle = 'started' THEN prev_ts ELSE ts END AS start_ts"
    )
    overlapping = (
        "(SELECT ev.* FROM ev SEMI JOIN overlapping o ON "
        f"{same_key('ev', 'o')} WHERE lifecycle IN ('started', 'completed', 'failed'))"
    )
    return f"""
        SELECT * FROM (
            WITH paired AS MATERIALIZED (
                SELECT * FROM (
                    SELECT *, LAG(lifecycle) OVER w AS prev_lifecycle,
                           LAG(ts) OVER w AS prev_ts
                    FROM ev
                    WHERE lifecycle IN ('started', 'completed', 'failed')
                    WINDOW w AS (PARTITION BY {key} ORDER BY ts, seq)
                )
                WHERE lifecycle <> 'started' OR prev_lifecycle = 'started'
            ),
            overlapping AS MATERIALIZED (
                SELECT DISTINCT {key} FROM paired WHERE lifecycle = 'started'
            )
            SELECT {by_previous}
            FROM paired p ANTI JOIN overlapping o ON {same_key("p", "o")}
            WHERE lifecycle <> 'started'
            UNION ALL
            SELECT {INSTANCE_COLUMNS} FROM ({fifo_instances_sql(overlapping)})
        )"""


def with_views(
    body: str,
    filters: Filters | None,
    *,
    instances: bool = False,
    ctes: tuple[tuple[str, str], ...] = (),
) -> tuple[str, dict[str, Any]]:
    """Wrap ``body`` in the CTEs it reads: ``ev`` always, ``inst`` when asked, then ``ctes``.

    ``ev`` is inlined wherever it is read (``NOT MATERIALIZED``): a scan of the events
    table reads only the columns each use needs, where a materialized ``ev`` would copy
    every column, the attributes map too (less memory; faster only on a loaded machine).
    """
    ev_sql, params = events_cte(filters)
    parts = [f"ev AS NOT MATERIALIZED ({ev_sql})"]
    if instances:
        parts.append(f"inst AS ({instances_cte()})")
    parts.extend(f"{name} AS ({sql})" for name, sql in ctes)
    return f"WITH {', '.join(parts)}\n{body}", params
