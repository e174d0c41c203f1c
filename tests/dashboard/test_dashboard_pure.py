"""Pure pieces of the dashboard on hand-made frames: chart builders, reshaping, roles, filters."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest

from baton.errors import ConfigError
from dashboard import charts_ops, charts_process, derive, ui
from dashboard.access import Role, may_see, parse_user_roles

INSTANCES = pl.DataFrame(
    {
        "case_id": ["c1", "c1", "c1", "c2", "c2"],
        "activity": ["a", "b", "c", "a", "c"],
        "start_ts": [datetime(2026, 3, 2, h) for h in (9, 11, 14, 9, 10)],
        "ts": [datetime(2026, 3, 2, h, 30) for h in (9, 11, 14, 9, 10)],
        "seq": [2, 4, 6, 8, 10],
    }
)


def test_cases_on_an_edge_are_the_directly_follows_pairs() -> None:
    on_ab = derive.cases_on_edge(INSTANCES, "a", "b")
    assert on_ab.select("case_id", "times", "mean_wait_s").rows() == [("c1", 1, 5400.0)]
    assert derive.cases_on_edge(INSTANCES, "a", "c")["case_id"].to_list() == ["c2"]
    assert derive.cases_on_edge(INSTANCES, "c", "a").is_empty()


def test_cases_with_an_activity() -> None:
    assert derive.cases_with_activity(INSTANCES, "c")["case_id"].to_list() == ["c2", "c1"]


def test_variant_frame_reads_the_path_and_sorts_by_cases() -> None:
    variants = pl.DataFrame(
        {"variant": ["a,c", "a,b,c"], "activities": [["a", "c"], ["a", "b", "c"]],
         "cases": [1, 4], "share": [0.2, 0.8]}
    )  # fmt: skip
    frame = derive.variant_frame(variants)
    assert frame.select("variant", "steps", "cases").rows() == [
        ("a → b → c", 3, 4),
        ("a → c", 2, 1),
    ]


def test_previous_period_has_the_same_length_just_before() -> None:
    values = ui.filter_values("claims", date(2026, 3, 3), date(2026, 3, 4), payer="Medicare")
    assert values == {
        "workflow": "claims",
        "payer": "Medicare",
        "since": "2026-03-03T00:00:00",
        "until": "2026-03-05T00:00:00",
    }
    assert ui.previous_period(values) == {
        **values,
        "since": "2026-03-01T00:00:00",
        "until": "2026-03-03T00:00:00",
    }
    assert ui.previous_period({"since": "2026-03-03T00:00:00"}) is None


@pytest.mark.parametrize(
    ("role", "page", "allowed"),
    [
        (Role.VIEWER, "overview", True),
        (Role.VIEWER, "case_explorer", False),
        (Role.ANALYST, "case_explorer", True),
        (Role.ANALYST, "workbench", False),
        (Role.ADMIN, "workbench", True),
        (Role.VIEWER, "alerts", True),
    ],
)
def test_pages_by_role(role: Role, page: str, allowed: bool) -> None:
    assert may_see(role, page) is allowed


def test_user_roles_must_name_a_role() -> None:
    assert parse_user_roles(" a@x.org:viewer , b@x.org:ADMIN ") == {
        "a@x.org": Role.VIEWER,
        "b@x.org": Role.ADMIN,
    }
    with pytest.raises(ConfigError, match="email:role"):
        parse_user_roles("a@x.org")


def test_deltas_read_as_people_say_them() -> None:
    assert charts_ops.count_delta(10, 7) == "+3"
    assert charts_ops.rate_delta(0.1, 0.125) == "-2.5 pp"
    assert charts_ops.duration_delta(60, 3660) == "-1.0 h"
    assert charts_ops.duration_delta(None, 5) is None


def test_heatmap_fills_missing_cells_with_zero() -> None:
    hotspots = pl.DataFrame(
        {"activity": ["a", "a", "b"], "payer": ["p", "q", "p"], "retries": [2, 1, 5]}
    )
    trace = charts_ops.heatmap(hotspots, "activity", "payer", "retries", "t").data[0]
    assert list(trace.y) == ["a", "b"] and list(trace.x) == ["p", "q"]
    assert [list(row) for row in trace.z] == [[2, 1], [5, 0]]


def test_bars_humanize_durations_and_keep_the_frames_order() -> None:
    frame = pl.DataFrame({"bot": ["b2", "b1"], "median_run_s": [7200.0, 90.0]})
    trace = charts_ops.bars(frame, "bot", "median_run_s", "t", seconds=True).data[0]
    assert list(trace.x) == ["b2", "b1"]
    assert list(trace.y) == [2.0, 0.025]
    assert list(trace.text) == ["2.0 h", "1.5 min"]


def test_gantt_draws_a_wait_and_a_service_bar_per_attempt() -> None:
    timeline = pl.DataFrame(
        {
            "activity": ["check", "check"],
            "item": [1, 1],
            "attempt": [1, 2],
            "wait_start": [datetime(2026, 3, 2, 9), datetime(2026, 3, 2, 10)],
            "wait_end": [datetime(2026, 3, 2, 9, 30), datetime(2026, 3, 2, 10, 5)],
            "service_start": [datetime(2026, 3, 2, 9, 30), datetime(2026, 3, 2, 10, 5)],
            "service_end": [datetime(2026, 3, 2, 9, 31), None],
            "result": ["failed", None],
        }
    )
    figure = charts_process.gantt(timeline)
    assert [trace.name for trace in figure.data] == ["wait", "failed", "wait", "running"]
    assert list(figure.layout.yaxis.categoryarray) == ["check 1.1", "check 1.2"]
    assert figure.data[0].x[0] == 30 * 60 * 1000  # milliseconds on a date axis


def test_performance_spectrum_draws_one_line_per_case() -> None:
    segments = pl.DataFrame(
        {
            "segment": ["a → b", "a → b"],
            "start_ts": [datetime(2026, 3, 2, 9), datetime(2026, 3, 2, 10)],
            "end_ts": [datetime(2026, 3, 2, 11), datetime(2026, 3, 2, 10, 30)],
        }
    )
    trace = charts_process.performance_spectrum(segments).data[0]
    assert list(trace.y) == [1.0, 0.0, None, 1.0, 0.0, None]
