"""The SQL views every figure builds on: filtered events and activity instances.

An *activity instance* is one executed step: a ``started`` event paired with the
``completed`` or ``failed`` event that follows it for the same case, activity and attempt.
Logs with one timestamp per step (imported files) have only ``completed`` events; those
become instances whose start equals their end. Instances carry the ``seq`` of their end
event, and every ordering is by ``(ts, seq)``, which is how pm4py orders ties.
"""

from __future__ import annotations

from typing import Any

from mining.filters import Filters

#: Lifecycles that put an item on a queue, and the ones that take it off again.
QUEUE_ARRIVALS = ("enqueued", "retried", "escalated")
QUEUE_DEPARTURES = ("started", "resumed")


def events_cte(filters: Filters | None) -> tuple[str, dict[str, Any]]:
    """``ev`` as a CTE body: the events that pass ``filters``."""
    where, params = (filters or Filters()).where()
    return f"SELECT * FROM events WHERE {where}", params


def instances_cte() -> str:
    """``inst`` as a CTE body over ``ev``: one row per activity instance."""
    return """
        SELECT case_id, workflow, workflow_version, activity, attempt, resource,
               resource_kind, queue, payer, site,
               start_ts, ts, seq, lifecycle, exception_type, error_type, outcome, span_id
        FROM (
            SELECT *,
                   LAG(lifecycle) OVER w AS prev_lifecycle,
                   LAG(ts) OVER w AS prev_ts
            FROM ev
            WHERE lifecycle IN ('started', 'completed', 'failed')
            WINDOW w AS (PARTITION BY case_id, activity, attempt ORDER BY ts, seq)
        ) paired
        CROSS JOIN LATERAL (
            SELECT CASE WHEN paired.prev_lifecycle = 'started' THEN paired.prev_ts
                        ELSE paired.ts END AS start_ts
        )
        WHERE lifecycle IN ('completed', 'failed')
    """


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
