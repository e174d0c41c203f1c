"""Activity instances pair ``started`` with ``completed``/``failed`` FIFO, exactly as pm4py does.

Each case is a list of events of one log; Baton's instances come from the SQL view
(:func:`mining.figures.activity_instances`) and from the live tables' edge formulation
(:func:`mining.live.dfg_live` against :func:`mining.figures.dfg`), pm4py's from its own
``interval_lifecycle.to_interval`` on the same events in ``(ts, seq)`` order. pm4py knows no
failure: a ``failed`` end reaches it as ``complete``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mining import figures, live
from mining.schema import create_events_table
from tests.mining.frames import assert_same

os.environ.setdefault("PM4PY_SHOW_PROGRESS_BAR", "False")
pm4py = pytest.importorskip("pm4py")
pytestmark = pytest.mark.filterwarnings(
    "ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning"
)

BASE = dt.datetime(2026, 3, 2, 9)
#: (case, activity, lifecycle, minute); seq is the position in the list.
Event = tuple[str, str, str, int]
Instance = tuple[str, str, dt.datetime, dt.datetime]


def _con(events: list[Event], attempt: int | None = 1) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    create_events_table(con)
    for seq, (case, activity, lifecycle, minute) in enumerate(events, start=1):
        con.execute(
            "INSERT INTO events (event_id, seq, case_id, activity, attempt, lifecycle, ts) "
            "VALUES ($id, $seq, $case, $activity, $attempt, $lifecycle, $ts)",
            {
                "id": f"e{seq}",
                "seq": seq,
                "case": case,
                "activity": activity,
                "attempt": attempt,
                "lifecycle": lifecycle,
                "ts": BASE + dt.timedelta(minutes=minute),
            },
        )
    return con


def baton_instances(events: list[Event], attempt: int | None = 1) -> Counter[Instance]:
    frame = figures.activity_instances(_con(events, attempt))
    rows = frame.select("case_id", "activity", "start_ts", "ts").rows()
    return Counter(tuple(r) for r in rows)


def pm4py_instances(events: list[Event]) -> Counter[Instance]:
    """pm4py's own pairing: each case a trace in ``(ts, seq)`` order, through ``to_interval``."""
    from pm4py.objects.log.obj import Event as PmEvent
    from pm4py.objects.log.obj import EventLog as PmLog
    from pm4py.objects.log.obj import Trace
    from pm4py.objects.log.util import interval_lifecycle

    ordered = sorted(enumerate(events), key=lambda item: (item[1][3], item[0]))
    log = PmLog()
    for case in dict.fromkeys(case for case, *_ in events):
        trace = Trace()
        trace.attributes["concept:name"] = case
        for _, (c, activity, lifecycle, minute) in ordered:
            if c != case:
                continue
            transition = {"started": "start"}.get(lifecycle, "complete")
            trace.append(
                PmEvent(
                    {
                        "concept:name": activity,
                        "lifecycle:transition": transition,
                        "time:timestamp": BASE + dt.timedelta(minutes=minute),
                    }
                )
            )
        log.append(trace)
    out: Counter[Instance] = Counter()
    for trace in interval_lifecycle.to_interval(log):
        for event in trace:
            out[
                (
                    trace.attributes["concept:name"],
                    event["concept:name"],
                    event["start_timestamp"],
                    event["time:timestamp"],
                )
            ] += 1
    return out


def assert_pairs_like_pm4py(events: list[Event]) -> None:
    theirs = pm4py_instances(events)
    assert baton_instances(events) == theirs
    # A missing attempt is one more value of the key, not a different pairing.
    assert baton_instances(events, attempt=None) == theirs
    con = _con(events)
    live.ensure(con)
    live.recompute_all(con)
    assert_same(live.dfg_live(con), figures.dfg(con), "live edges pair like the view")


def at(minutes: int) -> dt.datetime:
    return BASE + dt.timedelta(minutes=minutes)


CASES: dict[str, list[Event]] = {
    "start, start, complete, complete (overlap)": [
        ("c1", "a", "started", 0),
        ("c1", "a", "started", 1),
        ("c1", "a", "completed", 2),
        ("c1", "a", "completed", 3),
    ],
    "start, complete, start, complete": [
        ("c1", "a", "started", 0),
        ("c1", "a", "completed", 1),
        ("c1", "a", "started", 2),
        ("c1", "a", "completed", 3),
    ],
    "complete without a start": [
        ("c1", "a", "completed", 0),
        ("c1", "a", "started", 1),
        ("c1", "a", "completed", 2),
        ("c1", "b", "completed", 3),
    ],
    "start never completed": [
        ("c1", "a", "started", 0),
        ("c1", "a", "started", 1),
        ("c1", "a", "completed", 2),
        ("c1", "b", "started", 3),
    ],
    "failed ends pair like completions": [
        ("c1", "a", "started", 0),
        ("c1", "a", "started", 1),
        ("c1", "a", "failed", 2),
        ("c1", "a", "completed", 3),
        ("c1", "a", "failed", 4),
    ],
    "ties in time resolved by seq": [
        ("c1", "a", "started", 0),
        ("c1", "a", "started", 0),
        ("c1", "a", "completed", 5),
        ("c1", "a", "started", 5),
        ("c1", "a", "completed", 5),
        ("c1", "a", "completed", 5),
    ],
    "ends before any start, then overlap": [
        ("c1", "a", "completed", 0),
        ("c1", "a", "completed", 1),
        ("c1", "a", "started", 2),
        ("c1", "a", "started", 3),
        ("c1", "a", "started", 4),
        ("c1", "a", "completed", 5),
        ("c1", "a", "completed", 6),
        ("c1", "a", "completed", 7),
        ("c1", "a", "completed", 8),
    ],
    "overlap in one case, not in another; two activities interleaved": [
        ("c1", "a", "started", 0),
        ("c1", "b", "started", 1),
        ("c1", "a", "started", 2),
        ("c1", "b", "completed", 3),
        ("c1", "a", "completed", 4),
        ("c1", "a", "completed", 5),
        ("c2", "a", "started", 0),
        ("c2", "a", "completed", 1),
        ("c2", "a", "started", 2),
        ("c2", "a", "completed", 3),
    ],
}


@pytest.mark.parametrize("name", list(CASES))
def test_hand_made_cases_pair_like_pm4py(name: str) -> None:
    assert_pairs_like_pm4py(CASES[name])


def test_overlapping_instances_take_the_earliest_waiting_start() -> None:
    """Spelled out once: the first end takes the first start, not the one right before it."""
    got = baton_instances(CASES["start, start, complete, complete (overlap)"])
    assert got == Counter({("c1", "a", at(0), at(2)): 1, ("c1", "a", at(1), at(3)): 1})


def test_an_end_without_a_start_does_not_take_a_later_one() -> None:
    got = baton_instances(CASES["complete without a start"])
    assert got == Counter(
        {("c1", "a", at(0), at(0)): 1, ("c1", "a", at(1), at(2)): 1, ("c1", "b", at(3), at(3)): 1}
    )


def test_attempts_pair_apart() -> None:
    """Starts and ends of different attempts never pair (the orchestrator's retries)."""
    con = duckdb.connect()
    create_events_table(con)
    rows: list[tuple[Any, ...]] = [
        (1, 1, "started", 0),
        (2, 2, "started", 1),
        (3, 2, "completed", 2),
        (4, 1, "failed", 3),
    ]
    for seq, attempt, lifecycle, minute in rows:
        con.execute(
            "INSERT INTO events (event_id, seq, case_id, activity, attempt, lifecycle, ts) "
            "VALUES ($id, $seq, 'c1', 'a', $attempt, $lifecycle, $ts)",
            {
                "id": f"e{seq}",
                "seq": seq,
                "attempt": attempt,
                "lifecycle": lifecycle,
                "ts": at(minute),
            },
        )
    got = figures.activity_instances(con).select("attempt", "start_ts", "ts").rows()
    assert sorted(got) == [(1, at(0), at(3)), (2, at(1), at(2))]


events_strategy = st.lists(
    st.tuples(
        st.sampled_from(["c1", "c2"]),
        st.sampled_from(["a", "b"]),
        st.sampled_from(["started", "started", "completed", "failed"]),
        st.integers(0, 6),
    ),
    max_size=24,
)


@settings(max_examples=60, deadline=None)
@given(events_strategy)
def test_random_logs_pair_like_pm4py(events: list[Event]) -> None:
    assert_pairs_like_pm4py(events)
