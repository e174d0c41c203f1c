"""The live refresh of a batch the collector has just stored, without re-reading new cases.

:func:`mining.live.refresh` keeps the live tables exact with one rule: delete a touched
case's rows, then compute them again from all of its stored events. For a case the batch
*creates* (no row in ``live_cases`` yet) that rule does work that cannot change anything:
there are no rows to delete, and every event of the case is in the batch, so reading them
back from ``events`` (a semi-join over the table) returns exactly the rows the insert just
returned. Under OTLP load most cases are new (a trace is usually one request), and for the
worst shape, a trace per span, every case is.

:func:`refresh` therefore splits the touched cases in one pass over ``live_cases``: new
cases contribute straight from the inserted rows, and only cases already known take the
delete-and-recompute path. Both feed one :func:`mining.live._fill`, the same SQL as a full
recomputation, so the result stays equal to :func:`mining.live.recompute_all` (the property
tests in ``tests/mining/test_live_aggregates.py`` write through the store and check that).
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa

from mining import live
from mining.views import QUEUE_ARRIVALS

#: Columns the events insert must return for :func:`refresh` (``RETURNING``) after
#: ``event_id``, which it returns first anyway (the audit chain's key).
COLUMNS = live._EVENT_COLS.removeprefix("event_id, ")
_NAMES = [name.strip() for name in live._EVENT_COLS.split(",")]

_SAME_CASE = "{a}.case_id IS NOT DISTINCT FROM {b}.case_id"

# Touched cases, whether ``live_cases`` knows them, and for known ones the earliest start
# and the count of events without a time (which lift the lower bound of the re-read).
_CLASSIFY = f"""
CREATE OR REPLACE TEMP TABLE live_touched AS
WITH t AS (SELECT DISTINCT case_id FROM live_batch_in),
     c AS (
         SELECT case_id, min(start_ts) AS start_ts, sum(untimed) AS untimed
         FROM live_cases l SEMI JOIN t ON {_SAME_CASE.format(a="l", b="t")}
         GROUP BY case_id
     )
SELECT t.case_id, c.start_ts, c.untimed, c.untimed IS NOT NULL AS known
FROM t LEFT JOIN c ON {_SAME_CASE.format(a="t", b="c")}
"""


def refresh(
    con: duckdb.DuckDBPyConnection, inserted: pa.Table, since: datetime | None = None
) -> None:
    """Bring the live tables up to date with ``inserted``, the events just stored.

    ``inserted`` holds exactly the rows this transaction inserted (after de-duplication),
    with ``event_id`` and every column of :data:`COLUMNS`; ``since`` is the earliest time
    among the events written (``None``: unknown or untimed), as for
    :func:`mining.live.refresh`. Call it in the transaction that inserted them, so readers
    never see events without aggregates.
    """
    if inserted.num_rows == 0:
        return
    con.register("live_batch_in", inserted.select(_NAMES))
    try:
        con.execute(_CLASSIFY)
        ((known, start, untimed),) = con.execute(
            "SELECT count(*) FILTER (WHERE known), min(start_ts), coalesce(sum(untimed), 0) "
            "FROM live_touched"
        ).fetchall()
        if not known:
            # Every touched case is new: its events are the inserted rows, nothing to delete.
            live._fill(con, "live_batch_in", empty_tables(con, "live_batch_in"))
            return
        lo = live.earliest(since, start, untimed)
        live.delete_cases(con, "(SELECT case_id FROM live_touched WHERE known)", lo)
        bound = "TRUE" if lo is None else "ts >= $lo"
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE live_ev AS
            SELECT {live._EVENT_COLS} FROM live_batch_in b
            SEMI JOIN (SELECT case_id FROM live_touched WHERE NOT known) t
              ON {_SAME_CASE.format(a="b", b="t")}
            UNION ALL
            SELECT {live._EVENT_COLS} FROM events e
            SEMI JOIN (SELECT case_id FROM live_touched WHERE known) t
              ON {_SAME_CASE.format(a="e", b="t")}
            WHERE {bound}""",
            None if lo is None else {"lo": lo},
        )
        live._fill(con, "live_ev", empty_tables(con, "live_ev"))
    finally:
        con.unregister("live_batch_in")
        con.execute("DROP TABLE IF EXISTS live_ev")
        con.execute("DROP TABLE IF EXISTS live_touched")


def empty_tables(con: duckdb.DuckDBPyConnection, src: str) -> list[str]:
    """Live tables that cannot get a row from the cases in ``src`` (all of their events).

    Planning each table's statement costs a few milliseconds whatever the rows, so a batch
    skips the ones that would insert nothing: ``live_edges`` and ``live_handoffs`` follow one
    instance end (``completed``/``failed``) by the next in the same case, so need a case with
    two; ``live_open`` holds queue arrivals only. Traces of one span (a request, a health
    check) are cases with one end each.
    """
    ((ends, arrivals),) = con.execute(
        f"""SELECT coalesce(max(ends), 0), coalesce(sum(arrivals), 0) FROM (
            SELECT count(*) FILTER (WHERE lifecycle IN ('completed', 'failed')) AS ends,
                   count(*) FILTER (WHERE lifecycle IN ({live._in_list(QUEUE_ARRIVALS)}))
                       AS arrivals
            FROM {src} GROUP BY case_id)"""
    ).fetchall()
    empty = [] if ends > 1 else ["live_edges", "live_handoffs"]
    return empty if arrivals else [*empty, "live_open"]
