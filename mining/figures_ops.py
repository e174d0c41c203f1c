"""Operations figures: bottlenecks, throughput, handover of work, dotted chart, performance
spectrum and the bot fleet.

Pure functions ``(connection, filters, **params) -> frame`` like :mod:`mining.figures`;
parameters arrive as strings over HTTP, so each one is parsed here with a clear error.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import duckdb
import polars as pl

from baton.durations import parse_duration as baton_duration
from mining.errors import InvalidFilter
from mining.figures_queue import as_of, item_ctes, period_part, run
from mining.filters import Filters
from mining.views import with_views


def parse_duration(name: str, raw: str | float | timedelta) -> timedelta:
    """``'90s'``, ``'5m'``, ``'2h'``, ``'1d'``, ``'1w'`` or a number of seconds.

    Example:
        >>> parse_duration("offline_after", "5m")
        datetime.timedelta(seconds=300)
    """
    if isinstance(raw, timedelta):
        return raw
    if isinstance(raw, int | float):
        return timedelta(seconds=float(raw))
    try:
        return timedelta(seconds=baton_duration(str(raw)))
    except ValueError as exc:
        raise InvalidFilter(f"{name}: {exc}") from None


def parse_count(name: str, raw: str | int) -> int:
    """A positive integer parameter (a row limit)."""
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise InvalidFilter(f"{name}: {raw!r} is not a whole number") from None
    if value < 1:
        raise InvalidFilter(f"{name}: must be at least 1, not {value}")
    return value


def bottlenecks(con: duckdb.DuckDBPyConnection, filters: Filters | None = None) -> pl.DataFrame:
    """Steps and handoffs ranked by the share of all cases' cycle time spent waiting on them.

    A ``step`` row counts its queue waits (first arrival, retries, escalations) and its
    service; a ``handoff`` row a→b counts start(b) - end(a), the time between two steps,
    as the performance DFG measures it. ``wait_share`` is the row's waiting time over the
    sum of all case durations (the same denominator for every row, so rows compare);
    ``time_share`` adds service for steps. A handoff's wait includes the next step's queue
    wait: the two kinds are two views of one delay, not parts of a sum.

    Waits and services are summed in whole microseconds (their resolution), so the sums do
    not depend on the order rows are added in: a step and a handoff with the same wait tie
    exactly, and rank in the same order from events or from the store's tables.

    Example:
        >>> import duckdb
        >>> from mining.schema import create_events_table
        >>> con = duckdb.connect()
        >>> create_events_table(con)
        >>> _ = con.execute(
        ...     "INSERT INTO events (case_id, activity, lifecycle, ts, seq) VALUES "
        ...     "('c1', 'a', 'enqueued', '2026-03-02 09:00', 1),"
        ...     "('c1', 'a', 'started', '2026-03-02 09:00', 2),"
        ...     "('c1', 'a', 'completed', '2026-03-02 09:10', 3),"
        ...     "('c1', 'b', 'enqueued', '2026-03-02 09:10', 4),"
        ...     "('c1', 'b', 'started', '2026-03-02 09:40', 5),"
        ...     "('c1', 'b', 'completed', '2026-03-02 09:50', 6)")
        >>> bottlenecks(con).select("kind", "name", "wait_s", "wait_share").rows()[:2]
        [('step', 'b', 1800.0, 0.6), ('handoff', 'a -> b', 1800.0, 0.6)]
    """
    cycle = """
        SELECT coalesce(sum(d), 0) AS cycle_s
        FROM (SELECT epoch(max(ts) - min(ts)) AS d FROM ev GROUP BY case_id)
    """
    edges = """
        SELECT activity AS source, LEAD(activity) OVER w AS target,
               epoch(LEAD(start_ts) OVER w - ts) AS wait_s
        FROM inst WINDOW w AS (PARTITION BY case_id ORDER BY ts, seq)
    """
    handoffs = """
        SELECT 'handoff', source || ' -> ' || target, source, target, count(*),
               coalesce(sum(round(wait_s * 1e6)::BIGINT) / 1e6, 0), NULL
        FROM edges WHERE target IS NOT NULL GROUP BY source, target
    """
    stored = _stored_handoffs(con, filters)
    if stored:
        where, _ = (filters or Filters()).where()
        handoffs = f"""
            SELECT 'handoff', source || ' -> ' || target, source, target,
                   CAST(sum(n) AS BIGINT), coalesce(sum(wait_us) / 1e6, 0), NULL
            FROM live_handoffs WHERE {where} GROUP BY source, target
        """
    body = f"""
        SELECT kind, name, source, target, occurrences, wait_s, service_s,
               wait_s / nullif(occurrences, 0) AS mean_wait_s,
               wait_s / nullif(cycle_s, 0) AS wait_share,
               (wait_s + coalesce(service_s, 0)) / nullif(cycle_s, 0) AS time_share,
               row_number() OVER (ORDER BY wait_s DESC, kind DESC, name) AS rank
        FROM (
            SELECT 'step' AS kind, activity AS name, NULL AS source, NULL AS target,
                   count(service_end) AS occurrences,
                   coalesce(sum(round(wait_s * 1e6)::BIGINT) / 1e6, 0) AS wait_s,
                   coalesce(sum(round(service_s * 1e6)::BIGINT) / 1e6, 0) AS service_s
            FROM attempts GROUP BY activity
            UNION ALL
            {handoffs}
        ) CROSS JOIN cycle
        ORDER BY rank
    """
    ctes = (*item_ctes(con, filters), ("cycle", cycle))
    if not stored:
        ctes = (*ctes, ("edges", edges))
    sql, params = with_views(body, filters, instances=not stored, ctes=ctes)
    return run(con, sql, params)


def _stored_handoffs(con: duckdb.DuckDBPyConnection, filters: Filters | None) -> bool:
    """Whether the store's ``live_handoffs`` give ``bottlenecks``' handoffs exactly.

    Handoffs pair consecutive steps of a case, so only filters that keep or drop whole cases
    leave them as stored: none, or case filters. A workflow, payer or site filter drops the
    steps of another workflow from the middle of most cases (a case moves between workflows),
    and a time range cuts cases: those compute from events.
    """
    filters = filters or Filters()
    if filters.event_level() != Filters():
        return False
    from mining import live

    return live.handoffs_ready(con)


_STEP = {"hour": "INTERVAL 1 HOUR", "day": "INTERVAL 1 DAY", "week": "INTERVAL 7 DAY"}


def throughput(
    con: duckdb.DuckDBPyConnection, filters: Filters | None = None, every: str = "1d"
) -> pl.DataFrame:
    """Cases started and completed per period (``every``: ``1h``, ``1d`` or ``1w``).

    A case starts at its first event and is completed at its last when nothing is left to
    do (its last event ends an attempt: completed, failed without retry, resumed); periods
    without any case are listed with zeros, so a chart shows the gaps. Weeks start Monday.

    Example:
        >>> import duckdb
        >>> from mining.schema import create_events_table
        >>> con = duckdb.connect()
        >>> create_events_table(con)
        >>> _ = con.execute(
        ...     "INSERT INTO events (case_id, activity, lifecycle, ts, seq) VALUES "
        ...     "('c1', 'a', 'enqueued', '2026-03-02 09:00', 1),"
        ...     "('c1', 'a', 'completed', '2026-03-04 09:00', 2)")
        >>> throughput(con).select("cases_started", "cases_completed").rows()
        [(1, 0), (0, 0), (0, 1)]
    """
    part = period_part(every)
    per_case = """
        SELECT case_id, min(ts) AS start_ts, max(ts) AS end_ts,
               arg_max(lifecycle, (ts, seq)) IN ('completed', 'failed', 'resumed') AS done
        FROM ev GROUP BY case_id
    """
    body = f"""
        SELECT period,
               coalesce(s.n, 0) AS cases_started,
               coalesce(c.n, 0) AS cases_completed
        FROM (
            SELECT unnest(generate_series(date_trunc('{part}', min(start_ts)),
                                          date_trunc('{part}', max(end_ts)),
                                          {_STEP[part]})) AS period
            FROM per_case HAVING count(*) > 0
        ) p
        LEFT JOIN (SELECT date_trunc('{part}', start_ts) AS period, count(*) AS n
                   FROM per_case GROUP BY 1) s USING (period)
        LEFT JOIN (SELECT date_trunc('{part}', end_ts) AS period, count(*) AS n
                   FROM per_case WHERE done GROUP BY 1) c USING (period)
        ORDER BY period
    """
    sql, params = with_views(body, filters, ctes=(("per_case", per_case),))
    return run(con, sql, params)


#: ``work``: who did what when: activity instances and people resolving escalated items.
WORK_SQL = """
    SELECT case_id, activity, resource, resource_kind, ts, seq FROM inst
    WHERE resource IS NOT NULL
    UNION ALL
    SELECT case_id, activity, resource, resource_kind, ts, seq FROM ev
    WHERE lifecycle = 'resumed' AND resource IS NOT NULL
"""


def resource_work(con: duckdb.DuckDBPyConnection, filters: Filters | None = None) -> pl.DataFrame:
    """The work rows :func:`handover` counts, ordered by case then ``(ts, seq)``.

    Executed steps (activity instances, at their end) and escalated items resolved by a
    person (``resumed``): the frame to hand to pm4py's social-network functions.
    """
    sql, params = with_views(
        "SELECT * FROM work ORDER BY case_id, ts, seq",
        filters,
        instances=True,
        ctes=(("work", WORK_SQL),),
    )
    return run(con, sql, params)


def handover(con: duckdb.DuckDBPyConnection, filters: Filters | None = None) -> pl.DataFrame:
    """Handover of work between resources: bot to bot, bot to person, person to bot.

    The count of direct successions of resources within a case (work rows of
    :func:`resource_work`, in ``(ts, seq)`` order), as pm4py's handover-of-work network
    with ``beta=0``; ``share`` is the count over all successions, which is the value
    ``pm4py.discover_handover_of_work_network`` reports. A resource followed by itself is
    counted too, as pm4py does.

    Example:
        >>> import duckdb
        >>> from mining.schema import create_events_table
        >>> con = duckdb.connect()
        >>> create_events_table(con)
        >>> _ = con.execute(
        ...     "INSERT INTO events (case_id, activity, lifecycle, ts, seq, resource,"
        ...     " resource_kind) VALUES "
        ...     "('c1', 'a', 'completed', '2026-03-02 09:00', 1, 'bot1', 'bot'),"
        ...     "('c1', 'a', 'resumed', '2026-03-02 09:05', 2, 'ann', 'human'),"
        ...     "('c1', 'b', 'completed', '2026-03-02 09:10', 3, 'bot1', 'bot')")
        >>> handover(con).select("source", "target", "handovers", "share").rows()
        [('ann', 'bot1', 1, 0.5), ('bot1', 'ann', 1, 0.5)]
    """
    body = """
        SELECT source, target, min(source_kind) AS source_kind,
               min(target_kind) AS target_kind, count(*) AS handovers,
               count(*) / sum(count(*)) OVER () AS share
        FROM (
            SELECT resource AS source, resource_kind AS source_kind,
                   LEAD(resource) OVER w AS target, LEAD(resource_kind) OVER w AS target_kind
            FROM work WINDOW w AS (PARTITION BY case_id ORDER BY ts, seq)
        )
        WHERE target IS NOT NULL
        GROUP BY source, target ORDER BY handovers DESC, source, target
    """
    sql, params = with_views(body, filters, instances=True, ctes=(("work", WORK_SQL),))
    return run(con, sql, params)


def dotted_chart(
    con: duckdb.DuckDBPyConnection, filters: Filters | None = None, limit: str | int = 20000
) -> pl.DataFrame:
    """Events as dots: ``case_index`` (cases numbered in order of their start) against time.

    At most ``limit`` events (default 20000), earliest-starting cases first; each event with
    its activity, lifecycle and resource, so a chart can colour by any of them.

    Example:
        >>> import duckdb
        >>> from mining.schema import create_events_table
        >>> con = duckdb.connect()
        >>> create_events_table(con)
        >>> _ = con.execute(
        ...     "INSERT INTO events (case_id, activity, lifecycle, ts, seq) VALUES "
        ...     "('late', 'a', 'completed', '2026-03-02 10:00', 1),"
        ...     "('early', 'a', 'completed', '2026-03-02 09:00', 2),"
        ...     "('early', 'b', 'completed', '2026-03-02 11:00', 3)")
        >>> dotted_chart(con, limit=2).select("case_index", "case_id", "activity").rows()
        [(1, 'early', 'a'), (1, 'early', 'b')]
    """
    rows = parse_count("limit", limit)
    body = f"""
        SELECT c.case_index, e.case_id, e.workflow, e.ts, e.seq, e.activity, e.lifecycle,
               e.resource, e.resource_kind
        FROM ev e JOIN (
            SELECT case_id, row_number() OVER (ORDER BY min(ts), min(seq), case_id)
                       AS case_index
            FROM ev GROUP BY case_id
        ) c USING (case_id)
        ORDER BY c.case_index, e.ts, e.seq
        LIMIT {rows}
    """
    sql, params = with_views(body, filters)
    return run(con, sql, params)


def performance_spectrum(
    con: duckdb.DuckDBPyConnection,
    filters: Filters | None = None,
    segments: str | int = 20000,
    activities: str | None = None,
) -> pl.DataFrame:
    """Segments of the performance spectrum: each time a case went from step a to step b.

    One row per consecutive pair of executed steps in a case: ``source_end_ts`` (end of a)
    and ``target_start_ts`` (start of b), drawn as a line between two time axes; at most
    ``segments`` rows (default 20000), earliest first. ``activities`` (comma-separated,
    e.g. ``a,b,c``) keeps only the pairs a→b and b→c.

    Example:
        >>> import duckdb
        >>> from mining.schema import create_events_table
        >>> con = duckdb.connect()
        >>> create_events_table(con)
        >>> _ = con.execute(
        ...     "INSERT INTO events (case_id, activity, lifecycle, ts, seq) VALUES "
        ...     "('c1', 'a', 'completed', '2026-03-02 09:00', 1),"
        ...     "('c1', 'b', 'started', '2026-03-02 09:30', 2),"
        ...     "('c1', 'b', 'completed', '2026-03-02 09:40', 3)")
        >>> performance_spectrum(con).select("source", "target", "wait_s").rows()
        [('a', 'b', 1800.0)]
    """
    rows = parse_count("segments", segments)
    params: dict[str, Any] = {}
    keep = ""
    if activities:
        chain = [a.strip() for a in activities.split(",") if a.strip()]
        if len(chain) < 2:
            raise InvalidFilter("activities: name at least two steps, e.g. a,b")
        params["pairs"] = [f"{a}\x00{b}" for a, b in itertools.pairwise(chain)]
        keep = "AND source || chr(0) || target IN (SELECT unnest($pairs))"
    body = f"""
        SELECT case_id, source, target, source_end_ts, target_start_ts,
               epoch(target_start_ts - source_end_ts) AS wait_s
        FROM (
            SELECT case_id, activity AS source, ts AS source_end_ts, seq,
                   LEAD(activity) OVER w AS target, LEAD(start_ts) OVER w AS target_start_ts
            FROM inst WINDOW w AS (PARTITION BY case_id ORDER BY ts, seq)
        )
        WHERE target IS NOT NULL {keep}
        ORDER BY source_end_ts, seq, case_id
        LIMIT {rows}
    """
    sql, filter_params = with_views(body, filters, instances=True)
    return run(con, sql, {**filter_params, **params})


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchall()
    return bool(rows and rows[0][0])


def bot_stats(
    con: duckdb.DuckDBPyConnection,
    filters: Filters | None = None,
    at: datetime | str | None = None,
    offline_after: str | timedelta = "5m",
) -> pl.DataFrame:
    """The bot fleet as of ``at`` (default: the newest event): work, health and load per bot.

    Per bot (resource of kind ``bot``): ``attempts`` started, ``successes``,
    ``success_rate`` (of finished attempts), ``median_run_s``; ``last_seen`` (its last event
    or heartbeat); ``version`` when its events or spans carry ``baton.bot.version``;
    ``status``: ``offline`` when silent longer than ``offline_after`` (default ``5m``),
    else ``busy`` with an attempt open at ``at``, else ``idle``; ``utilization``: time busy
    over the window from the ``since`` filter (or the first event) to ``at``.

    Example:
        >>> import duckdb
        >>> from mining.schema import create_events_table
        >>> con = duckdb.connect()
        >>> create_events_table(con)
        >>> _ = con.execute(
        ...     "INSERT INTO events (case_id, activity, lifecycle, ts, seq, resource,"
        ...     " resource_kind) VALUES "
        ...     "('c1', 'a', 'started', '2026-03-02 09:00', 1, 'bot1', 'bot'),"
        ...     "('c1', 'a', 'completed', '2026-03-02 09:30', 2, 'bot1', 'bot'),"
        ...     "('c2', 'a', 'started', '2026-03-02 09:50', 3, 'bot1', 'bot')")
        >>> bot_stats(con, at="2026-03-02T10:00", offline_after="15m").select(
        ...     "bot", "attempts", "successes", "status", "utilization").rows()
        [('bot1', 2, 1, 'busy', 0.6666666666666666)]
    """
    moment = as_of(con, at)
    silence = parse_duration("offline_after", offline_after)
    beats = "SELECT NULL::VARCHAR AS bot, NULL::TIMESTAMP AS ts WHERE FALSE"
    if _has_table(con, "log_records"):
        beats = """
            SELECT attributes['baton.resource'] AS bot, max(ts) AS ts FROM log_records
            WHERE event_name = 'baton.heartbeat' AND ts <= $at GROUP BY bot
        """
    span_versions = "SELECT NULL::VARCHAR AS bot, NULL::VARCHAR AS version WHERE FALSE"
    if _has_table(con, "spans"):
        span_versions = """
            SELECT bot, arg_max(version, start_ts) AS version FROM (
                SELECT map_from_entries(attributes)['baton.bot.id'] AS bot,
                       map_from_entries(attributes)['baton.bot.version'] AS version, start_ts
                FROM spans WHERE start_ts <= $at)
            WHERE bot IS NOT NULL AND coalesce(version, '') <> '' GROUP BY bot
        """
    seen = """
        SELECT resource AS bot, max(ts) AS ts,
               arg_max(attributes['baton.bot.version'], ts)
                   FILTER (WHERE attributes['baton.bot.version'] IS NOT NULL) AS version
        FROM ev WHERE resource_kind = 'bot' AND ts <= $at GROUP BY resource
    """
    runs = """
        SELECT resource AS bot, service_start,
               CASE WHEN service_end <= $at THEN service_end END AS end_ts,
               CASE WHEN service_end <= $at THEN result END AS result,
               CASE WHEN service_end <= $at THEN service_s END AS service_s
        FROM attempts
        WHERE resource_kind = 'bot' AND service_start IS NOT NULL AND service_start <= $at
    """
    body = """
        SELECT s.bot, count(r.service_start) AS attempts,
               count(*) FILTER (WHERE r.result = 'completed') AS successes,
               successes / nullif(count(r.result), 0) AS success_rate,
               median(r.service_s) AS median_run_s,
               greatest(s.ts, any_value(h.ts)) AS last_seen,
               coalesce(any_value(s.version), any_value(v.version)) AS version,
               CASE WHEN epoch(CAST($at AS TIMESTAMP) - greatest(s.ts, any_value(h.ts)))
                         > $silence_s THEN 'offline'
                    WHEN count(*) FILTER (WHERE r.service_start IS NOT NULL
                                          AND r.end_ts IS NULL) > 0 THEN 'busy'
                    ELSE 'idle' END AS status,
               coalesce(sum(epoch(coalesce(r.end_ts, CAST($at AS TIMESTAMP))
                                  - greatest(r.service_start, w.start_ts)))
                            FILTER (WHERE coalesce(r.end_ts, CAST($at AS TIMESTAMP))
                                          > w.start_ts), 0)
                   / nullif(epoch(CAST($at AS TIMESTAMP) - any_value(w.start_ts)), 0)
                   AS utilization
        FROM seen s
        LEFT JOIN runs r USING (bot)
        LEFT JOIN beats h USING (bot)
        LEFT JOIN span_versions v USING (bot)
        CROSS JOIN (SELECT coalesce(CAST($window_start AS TIMESTAMP), min(ts)) AS start_ts
                    FROM ev) w
        GROUP BY s.bot, s.ts ORDER BY s.bot
    """
    ctes = (
        *item_ctes(con, filters),
        ("beats", beats),
        ("span_versions", span_versions),
        ("seen", seen),
        ("runs", runs),
    )
    sql, params = with_views(body, filters, ctes=ctes)
    since = (filters or Filters()).since
    params.update(
        at=moment,
        silence_s=silence.total_seconds(),
        window_start=params.get("f_since") if since is not None else None,
    )
    return run(con, sql, params)
