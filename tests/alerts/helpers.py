"""A small hand-written clinic log for alert tests, and a rules-file writer.

Times are naive UTC from ``T0``; each helper writes the events that put an item on a queue
or take it off, the way the orchestrator records them.
"""

from __future__ import annotations

import itertools
import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from mining.schema import create_events_table

T0 = datetime(2026, 3, 3, 9, 0)
H = timedelta(hours=1)
M = timedelta(minutes=1)


class Log:
    """Events in a DuckDB database (in memory, or a file)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self._seq = itertools.count(1)
        create_events_table(con)

    def event(self, case: str, activity: str, lifecycle: str, ts: datetime, queue: str,
              attempt: int = 1, due: datetime | None = None) -> None:  # fmt: skip
        seq = next(self._seq)
        self.con.execute(
            "INSERT INTO events (event_id, seq, case_id, workflow, activity, lifecycle, ts, "
            "queue, attempt, due_ts, payer) VALUES (?, ?, ?, 'referral', ?, ?, ?, ?, ?, ?, "
            "'Summit Mutual')",
            [f"{case}-{seq}", seq, case, activity, lifecycle, ts, queue, attempt, due],
        )

    def wait(self, case: str, queue: str, since: datetime, until: datetime | None = None,
             due: timedelta | None = None) -> None:  # fmt: skip
        """An item enqueued at ``since`` and (if ``until``) picked up and completed then."""
        self.event(case, queue, "enqueued", since, queue, due=since + due if due else None)
        if until is not None:
            self.event(case, queue, "started", until, queue)
            self.event(case, queue, "completed", until + M, queue)


def memory_log() -> Log:
    return Log(duckdb.connect())


def write_rules(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path
