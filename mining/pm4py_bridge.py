"""Hand an event log to pm4py, the reference every Baton figure is checked against.

pm4py is imported lazily: it prints a licence banner and takes a second to import, and
neither belongs in the CLI or in a request path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import duckdb

from mining.filters import Filters

if TYPE_CHECKING:
    import pandas as pd

CASE_KEY = "case:concept:name"
ACTIVITY_KEY = "concept:name"
TIMESTAMP_KEY = "time:timestamp"
START_KEY = "start_timestamp"
RESOURCE_KEY = "org:resource"

#: Baton's instance columns and the pm4py names they take.
PM4PY_NAMES: Final = {
    "case_id": CASE_KEY,
    "activity": ACTIVITY_KEY,
    "ts": TIMESTAMP_KEY,
    "start_ts": START_KEY,
    "resource": RESOURCE_KEY,
}


def instances_for_pm4py(
    con: duckdb.DuckDBPyConnection, filters: Filters | None = None
) -> pd.DataFrame:
    """The activity-instance view with pm4py's column names, rows in ``(case, ts, seq)`` order.

    ``time:timestamp`` is the completion and ``start_timestamp`` the start, so pm4py's
    performance DFG measures waiting time, as Baton does. Row order breaks timestamp ties
    the way Baton does, because pm4py sorts stably.
    """
    from mining.eventlog import EventLog

    return EventLog.from_connection(con, filters).to_pm4py()
