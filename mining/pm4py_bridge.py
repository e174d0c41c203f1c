"""Hand an event log to pm4py, the reference every Baton figure is checked against.

pm4py is imported lazily: it prints a licence banner and takes a second to import, and
neither belongs in the CLI or in a request path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

from mining.figures import activity_instances
from mining.filters import Filters

if TYPE_CHECKING:
    import pandas as pd

CASE_KEY = "case:concept:name"
ACTIVITY_KEY = "concept:name"
TIMESTAMP_KEY = "time:timestamp"
START_KEY = "start_timestamp"
RESOURCE_KEY = "org:resource"


def instances_for_pm4py(
    con: duckdb.DuckDBPyConnection, filters: Filters | None = None
) -> pd.DataFrame:
    """The activity-instance view with pm4py's column names, rows in ``(case, ts, seq)`` order.

    ``time:timestamp`` is the completion and ``start_timestamp`` the start, so pm4py's
    performance DFG measures waiting time, as Baton does. Row order breaks timestamp ties
    the way Baton does, because pm4py sorts stably.
    """
    frame = activity_instances(con, filters).to_pandas()
    return frame.rename(
        columns={
            "case_id": CASE_KEY,
            "activity": ACTIVITY_KEY,
            "ts": TIMESTAMP_KEY,
            "start_ts": START_KEY,
            "resource": RESOURCE_KEY,
        }
    ).reset_index(drop=True)
