"""Figures over work items and their attempts: queue wait, rework, SLA, one case's timeline.

The orchestrator's event log tells *items* and *attempts* apart, which a plain event log
cannot: an item is put on a queue (``enqueued``), each try at it is an attempt (``started``
then ``completed`` or ``failed``), a failed attempt goes back on the queue (``retried``, the
next attempt) or to the workbench (``escalated``, then ``resumed`` by a person). So:

- a **retry** is another attempt at the *same* item; it costs the failed attempt's service
  time plus the re-queue wait;
- **rework** is the same step executed again in the same case for a *new* item (another
  ``enqueued``), e.g. a prior authorization status checked again because it was pending.

Two SQL building blocks, both over the filtered events ``ev``:

- ``attempts``: one row per attempt at an item on one queue (an escalation's stay on the
  workbench is a row of its own): when it arrived, when it was taken, when its service
  ended, its result, resource, error and span;
- ``items``: one row per item: arrival, due time, when (if ever) it was done.

Items are numbered per case and step: a new item starts at ``enqueued``, or, in logs without
queue events (imported files), at a step that starts again after it had completed.

Numbering items takes two window sorts over every event, and every item figure needs them.
The collector's store therefore keeps ``attempts`` per case in ``live_attempts``
(:mod:`mining.live`), and :func:`item_ctes` reads it instead whenever the filters cannot
change an item's number (see :func:`stored_attempts`); ``docs/live-aggregates.md``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import polars as pl

from mining.errors import InvalidFilter
from mining.filters import Filters, parse_time
from mining.views import QUEUE_ARRIVALS, QUEUE_DEPARTURES, with_views


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


ARRIVALS = _in(QUEUE_ARRIVALS)
DEPARTURES = _in(QUEUE_DEPARTURES)
#: Lifecycles that end an attempt (``resumed``: a person resolved it on the workbench).
_ENDS = "('completed', 'failed', 'abandoned', 'resumed')"
#: Lifecycles of work done by a resource (who did the attempt).
_WORK = "('started', 'completed', 'failed', 'resumed')"

#: The order of events within a step, total wherever ``event_id`` is unique (the collector's
#: store; files it exported): ``(ts, seq)`` alone leaves ties where ``seq`` repeats or is
#: ``NULL`` at equal times, and then which row counts as first or last, and even an item's
#: number, could change from one run to the next. ``NULL``\ s sort last, as in the
#: ``(ts, seq)`` structs the instance views compare. Frames and imported files number ``seq``
#: by row order, so for them the trailing ``event_id`` never decides anything.
EVENT_ORDER = "ts, seq, event_id"

#: ``marked``: events of a step with the number of the item they belong to, and ``pos``, their
#: place in the step's :data:`EVENT_ORDER`: the aggregates of ``attempts`` take "first" and
#: "last" by it (one integer instead of a struct per aggregate), and any numbering in that
#: order serves as well (:func:`mining.live._marked_sql` numbers all steps in one sort).
#: Only the columns the item figures read are carried through the window's sort (not the
#: attributes map, which halves its cost).
MARKED_SQL = f"""
    SELECT *, CAST(sum(CAST(new_item AS INTEGER)) OVER (
                  PARTITION BY case_id, activity ORDER BY pos
                  ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS BIGINT) AS item_no
    FROM (
        SELECT case_id, activity, lifecycle, ts, seq, attempt, queue, workflow, payer, site,
               due_ts, outcome, resource, resource_kind, error_type, exception_type, span_id,
               row_number() OVER w AS pos,
               lifecycle = 'enqueued'
               OR (lifecycle IN ('started', 'completed', 'failed')
                   AND coalesce(LAG(lifecycle) OVER w, 'completed')
                       IN ('completed', 'resumed')) AS new_item
        FROM {{src}} WHERE activity IS NOT NULL AND {{where}}
        WINDOW w AS (PARTITION BY case_id, activity ORDER BY {EVENT_ORDER})
    )
"""

#: ``attempts``: one row per attempt (and per stay on the workbench) at an item. Its
#: workflow, payer and site are those of its first event: a step's events may disagree on
#: them, and any one of them (``any_value``) could differ between two runs, or between the
#: stored rows and a computation.
ATTEMPTS_SQL = f"""
    SELECT case_id, activity, item_no, attempt, queue,
           arg_min(workflow, pos) AS workflow, arg_min(payer, pos) AS payer,
           arg_min(site, pos) AS site, max(due_ts) AS due_ts,
           min(ts) AS first_ts, min(seq) AS first_seq,
           arg_min(lifecycle, pos) FILTER (WHERE lifecycle IN {ARRIVALS}) AS arrival,
           min(ts) FILTER (WHERE lifecycle IN {ARRIVALS}) AS wait_start,
           min(ts) FILTER (WHERE lifecycle IN {DEPARTURES}) AS wait_end,
           coalesce(min(ts) FILTER (WHERE lifecycle IN {DEPARTURES}),
                    min(ts) FILTER (WHERE lifecycle IN {_ENDS})) AS service_start,
           max(ts) FILTER (WHERE lifecycle IN {_ENDS}) AS service_end,
           arg_max(lifecycle, pos) FILTER (WHERE lifecycle IN {_ENDS}) AS result,
           arg_max(outcome, pos) FILTER (WHERE lifecycle IN {_ENDS}) AS outcome,
           arg_max(resource, pos) FILTER (WHERE lifecycle IN {_WORK}) AS resource,
           arg_max(resource_kind, pos) FILTER (WHERE lifecycle IN {_WORK}) AS resource_kind,
           arg_max(error_type, pos) FILTER (WHERE lifecycle = 'failed') AS error_type,
           arg_max(exception_type, pos) FILTER (WHERE lifecycle IN {_ENDS}) AS exception_type,
           coalesce(arg_min(span_id, pos) FILTER (WHERE lifecycle IN {DEPARTURES}),
                    arg_min(span_id, pos)) AS span_id,
           epoch(wait_end - wait_start) AS wait_s,
           epoch(service_end - service_start) AS service_s
    FROM marked
    WHERE item_no > 0
    GROUP BY case_id, activity, item_no, attempt, queue
"""

#: The columns of ``attempts``, in order: what :data:`ATTEMPTS_SQL` gives and ``live_attempts``
#: keeps (with the step's ``workflow_version``, for filtering, and :data:`TRIED_SQL`'s
#: ``next_arrival`` and ``next_wait_s`` after them).
ATTEMPT_COLUMNS = (
    "case_id, activity, item_no, attempt, queue, workflow, payer, site, due_ts, first_ts, "
    "first_seq, arrival, wait_start, wait_end, service_start, service_end, result, outcome, "
    "resource, resource_kind, error_type, exception_type, span_id, wait_s, service_s"
)

#: The order of an item's attempts: by their first event, then by attempt and queue, which
#: tell the attempts of one item apart (``attempts``' group key), so ties in time and ``seq``
#: still order them the same way on every run and from stored rows as from events.
ATTEMPT_ORDER = "first_ts, first_seq, attempt, queue"

#: ``items``: one row per work item; ``done_ts`` is when an attempt completed or was resumed,
#: ``workflow`` that of its first attempt (:data:`ATTEMPT_ORDER`).
ITEMS_SQL = f"""
    SELECT case_id, activity, item_no,
           arg_min(workflow, ({ATTEMPT_ORDER})) AS workflow,
           min(wait_start) AS enqueued_ts, max(due_ts) AS due_ts,
           min(service_end) FILTER (WHERE result IN ('completed', 'resumed')) AS done_ts,
           count(*) FILTER (WHERE result IS NOT NULL AND result <> 'resumed') AS attempts
    FROM attempts GROUP BY case_id, activity, item_no
"""


def stored_attempts(con: duckdb.DuckDBPyConnection, filters: Filters | None) -> bool:
    """Whether ``attempts`` under ``filters`` can be read from the store's ``live_attempts``.

    ``live_attempts`` numbers items over each case's whole history; the figures number them
    over the filtered events, per case and step. The two agree when the filters keep or drop
    whole steps of a case: no filter, a case filter (variant, durations...), or a workflow /
    version / payer / site filter while no step of a case has events that disagree on those
    (``mixed_steps``; a case moving between workflows from one step to the next is fine). A
    time range can cut an item in two and an attribute filter keeps single events: those
    compute from events, as does a connection without the table or with tables out of step
    with ``events``.
    """
    filters = filters or Filters()
    if filters.since is not None or filters.until is not None or filters.attributes:
        return False
    from mining import live  # mining.live builds on this module

    if not live.attempts_ready(con):
        return False
    dims = (filters.workflow, filters.workflow_version, filters.payer, filters.site)
    return all(d is None for d in dims) or not live.has_mixed_steps(con)


def item_ctes(
    con: duckdb.DuckDBPyConnection | None = None,
    filters: Filters | None = None,
    *,
    items: bool = False,
    tried: bool = False,
    where: str = "TRUE",
) -> tuple[tuple[str, str], ...]:
    """The ``attempts`` CTE (after ``marked``, when computed), ``tried`` (:data:`TRIED_SQL`)
    and ``items`` when asked.

    With ``con`` and ``filters`` given, ``attempts`` is read from the store's
    ``live_attempts`` when :func:`stored_attempts` says it is exact, which saves the two
    window sorts over every event. ``where`` narrows the events first (e.g. to one case),
    before any window runs; it always computes.
    """
    if con is not None and where == "TRUE" and stored_attempts(con, filters):
        clause, _ = (filters or Filters()).where()
        ctes: tuple[tuple[str, str], ...] = (
            ("attempts", f"SELECT {ATTEMPT_COLUMNS} FROM live_attempts WHERE {clause}"),
        )
        if tried:
            stored_tried = (
                f"SELECT {ATTEMPT_COLUMNS}, next_arrival, next_wait_s "
                f"FROM live_attempts WHERE {clause}"
            )
            ctes = (*ctes, ("tried", stored_tried))
    else:
        ctes = (
            ("marked", MARKED_SQL.format(src="ev", where=where)),
            ("attempts", ATTEMPTS_SQL),
        )
        if tried:
            ctes = (*ctes, ("tried", TRIED_SQL))
    return (*ctes, ("items", ITEMS_SQL)) if items else ctes


#: ``tried``: ``attempts`` with what came next for the same item (``retried``, ``escalated``).
TRIED_SQL = f"""
    SELECT *, LEAD(arrival) OVER w AS next_arrival, LEAD(wait_s) OVER w AS next_wait_s
    FROM attempts
    WINDOW w AS (PARTITION BY case_id, activity, item_no ORDER BY {ATTEMPT_ORDER})
"""


def run(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> pl.DataFrame:
    """Run ``sql`` with named ``params`` and return the rows as a Polars frame."""
    return con.sql(sql, params=params).pl()


def as_of(con: duckdb.DuckDBPyConnection, at: datetime | str | None) -> datetime | None:
    """``at`` parsed, or the newest event's time when not given."""
    if at is not None:
        moment = parse_time("at", at)
        if moment.tzinfo is not None:
            from datetime import UTC

            moment = moment.astimezone(UTC).replace(tzinfo=None)
        return moment
    rows = con.execute("SELECT max(ts) FROM events").fetchall()
    return rows[0][0] if rows else None


#: ``every`` values of time series figures and the ``date_trunc`` part each one means.
PERIODS = {"1h": "hour", "1d": "day", "1w": "week"}


def period_part(every: str) -> str:
    """The ``date_trunc`` part of ``every``; :class:`InvalidFilter` for anything else."""
    try:
        return PERIODS[every]
    except KeyError:
        raise InvalidFilter(f"every: {every!r} is not one of {', '.join(PERIODS)}") from None


def queue_wait(con: duckdb.DuckDBPyConnection, filters: Filters | None = None) -> pl.DataFrame:
    """Wait per queue: from arrival (enqueued, retried or escalated) to pick-up.

    ``items`` counts new items put on the queue, ``waits`` every arrival that was picked up
    (retries and escalations arrive again), ``waiting`` the arrivals not picked up yet.
    Wait statistics are over ``waits``. Queue wait is where bots sit idle from the case's
    point of view, so it is where cycle time usually goes.

    Example:
        >>> import duckdb
        >>> from mining.schema import create_events_table
        >>> con = duckdb.connect()
        >>> create_events_table(con)
        >>> _ = con.execute(
        ...     "INSERT INTO events (case_id, activity, queue, attempt, lifecycle, ts, seq) "
        ...     "VALUES ('c1', 'check', 'q', 1, 'enqueued', '2026-03-02 09:00', 1),"
        ...     "       ('c1', 'check', 'q', 1, 'started', '2026-03-02 09:05', 2),"
        ...     "       ('c1', 'check', 'q', 1, 'completed', '2026-03-02 09:06', 3)")
        >>> queue_wait(con).select("queue", "items", "waits", "max_wait_s").rows()
        [('q', 1, 1, 300.0)]
    """
    body = """
        SELECT queue,
               count(*) FILTER (WHERE arrival = 'enqueued') AS items,
               count(wait_s) AS waits,
               count(*) FILTER (WHERE wait_end IS NULL) AS waiting,
               avg(wait_s) AS mean_wait_s,
               median(wait_s) AS median_wait_s,
               quantile_cont(wait_s, 0.95) AS p95_wait_s,
               max(wait_s) AS max_wait_s,
               sum(wait_s) AS total_wait_s
        FROM attempts
        WHERE wait_start IS NOT NULL AND queue IS NOT NULL
        GROUP BY queue ORDER BY total_wait_s DESC NULLS LAST, queue
    """
    sql, params = with_views(body, filters, ctes=item_ctes(con, filters))
    return run(con, sql, params)


def rework(con: duckdb.DuckDBPyConnection, filters: Filters | None = None) -> pl.DataFrame:
    """Steps executed again in the same case for a new item, kept apart from retries.

    A retry is another attempt at the same item (the step failed); rework is another item
    of the same step (the process sent the case back, e.g. a status check that came back
    ``pending``). Per step: ``cases`` that ran it, ``cases_with_rework``, ``rework_rate``,
    ``executions`` (items) and ``extra_executions`` (items beyond the first per case).

    Example:
        >>> import duckdb
        >>> from mining.schema import create_events_table
        >>> con = duckdb.connect()
        >>> create_events_table(con)
        >>> _ = con.execute(
        ...     "INSERT INTO events (case_id, activity, attempt, lifecycle, ts, seq) VALUES "
        ...     "('c1', 'status', 1, 'enqueued', '2026-03-02 09:00', 1),"
        ...     "('c1', 'status', 1, 'failed', '2026-03-02 09:01', 2),"
        ...     "('c1', 'status', 2, 'retried', '2026-03-02 09:01', 3),"
        ...     "('c1', 'status', 2, 'completed', '2026-03-02 09:02', 4),"
        ...     "('c1', 'status', 1, 'enqueued', '2026-03-02 10:00', 5),"
        ...     "('c1', 'status', 1, 'completed', '2026-03-02 10:01', 6)")
        >>> rework(con).select("activity", "cases_with_rework", "extra_executions").rows()
        [('status', 1, 1)]
    """
    body = """
        SELECT activity, count(*) AS cases,
               count(*) FILTER (WHERE items > 1) AS cases_with_rework,
               cases_with_rework / count(*) AS rework_rate,
               CAST(sum(items) AS BIGINT) AS executions,
               CAST(sum(items - 1) AS BIGINT) AS extra_executions
        FROM (SELECT case_id, activity, count(*) AS items FROM items
              WHERE attempts > 0 GROUP BY case_id, activity)
        GROUP BY activity ORDER BY extra_executions DESC, activity
    """
    sql, params = with_views(body, filters, ctes=item_ctes(con, filters, items=True))
    return run(con, sql, params)


def _item_status() -> str:
    return """
        CASE WHEN done_ts IS NOT NULL AND done_ts <= due_ts THEN 'met'
             WHEN done_ts IS NOT NULL OR due_ts < $at THEN 'breached'
             ELSE 'open' END
    """


def sla(
    con: duckdb.DuckDBPyConnection,
    filters: Filters | None = None,
    at: datetime | str | None = None,
    by: str = "step",
) -> pl.DataFrame:
    """SLA compliance of items that carry a due time, per workflow and step or per workflow.

    ``by`` is ``step`` (default) or ``workflow``; statuses are as of ``at`` (default: the
    newest event). An item is ``met`` when it was done (completed, or resumed from the
    workbench) by its due time, ``breached`` when done late or still open past due, else
    ``open``.
    ``compliance_rate`` is met / (met + breached); ``max_late_s`` the worst lateness.

    Example:
        >>> import duckdb
        >>> from mining.schema import create_events_table
        >>> con = duckdb.connect()
        >>> create_events_table(con)
        >>> _ = con.execute(
        ...     "INSERT INTO events (case_id, workflow, activity, lifecycle, ts, seq, due_ts) "
        ...     "VALUES ('c1', 'w', 'a', 'enqueued', '2026-03-02 09:00', 1, '2026-03-02 10:00'),"
        ...     "       ('c1', 'w', 'a', 'completed', '2026-03-02 09:30', 2, '2026-03-02 10:00'),"
        ...     "       ('c2', 'w', 'a', 'enqueued', '2026-03-02 09:00', 3, '2026-03-02 10:00'),"
        ...     "       ('c2', 'w', 'a', 'completed', '2026-03-02 11:00', 4, '2026-03-02 10:00')")
        >>> sla(con).select("activity", "items", "met", "breached", "compliance_rate").rows()
        [('a', 2, 1, 1, 0.5)]
    """
    if by not in ("step", "workflow"):
        raise InvalidFilter(f"by: {by!r} is not 'step' or 'workflow'")
    keys = "workflow, activity" if by == "step" else "workflow"
    body = f"""
        SELECT {keys}, count(*) AS items,
               count(*) FILTER (WHERE status = 'met') AS met,
               count(*) FILTER (WHERE status = 'breached') AS breached,
               count(*) FILTER (WHERE status = 'open') AS open,
               met / nullif(met + breached, 0) AS compliance_rate,
               max(epoch(coalesce(done_ts, CAST($at AS TIMESTAMP)) - due_ts))
                   FILTER (WHERE status = 'breached') AS max_late_s
        FROM (SELECT *, {_item_status()} AS status FROM items
              WHERE due_ts IS NOT NULL AND coalesce(enqueued_ts, due_ts) <= $at)
        GROUP BY {keys} ORDER BY compliance_rate NULLS LAST, {keys}
    """
    sql, params = with_views(body, filters, ctes=item_ctes(con, filters, items=True))
    return run(con, sql, {**params, "at": as_of(con, at)})


def sla_over_time(
    con: duckdb.DuckDBPyConnection,
    filters: Filters | None = None,
    at: datetime | str | None = None,
    every: str = "1d",
) -> pl.DataFrame:
    """SLA compliance per period of due time (``every``: ``1h``, ``1d`` or ``1w``).

    Items are counted in the period their due time falls in, with the statuses of
    :func:`sla` as of ``at``; a trend that a single compliance figure hides.
    """
    part = period_part(every)
    body = f"""
        SELECT date_trunc('{part}', due_ts) AS period, count(*) AS items,
               count(*) FILTER (WHERE status = 'met') AS met,
               count(*) FILTER (WHERE status = 'breached') AS breached,
               count(*) FILTER (WHERE status = 'open') AS open,
               met / nullif(met + breached, 0) AS compliance_rate
        FROM (SELECT *, {_item_status()} AS status FROM items
              WHERE due_ts IS NOT NULL AND coalesce(enqueued_ts, due_ts) <= $at)
        GROUP BY period ORDER BY period
    """
    sql, params = with_views(body, filters, ctes=item_ctes(con, filters, items=True))
    return run(con, sql, {**params, "at": as_of(con, at)})


def case_timeline(
    con: duckdb.DuckDBPyConnection,
    filters: Filters | None = None,
    case_id: str | None = None,
) -> pl.DataFrame:
    """One case as Gantt rows: per attempt, its queue wait and its service, in order.

    ``case_id`` is the case's pseudonym (required). Each row is one attempt at one item
    (an escalation's stay on the workbench is a row too): ``wait_start``/``wait_end`` on
    the queue, ``service_start``/``service_end`` by ``resource``, its ``result``
    (completed, failed, abandoned, resumed; null while running) and the ``span_id`` of its
    ``process`` span, to open the trace.
    """
    if not case_id:
        raise InvalidFilter("case_timeline needs case_id (the case's pseudonym)")
    body = """
        SELECT case_id, workflow, activity, item_no AS item, attempt, queue, arrival,
               wait_start, wait_end, wait_s, service_start, service_end, service_s,
               result, outcome, resource, resource_kind, exception_type, error_type, span_id
        FROM attempts WHERE case_id = $case_id
        ORDER BY first_ts, first_seq, activity, item_no, attempt, queue
    """
    sql, params = with_views(body, filters, ctes=item_ctes(where="case_id = $case_id"))
    return run(con, sql, {**params, "case_id": case_id})
