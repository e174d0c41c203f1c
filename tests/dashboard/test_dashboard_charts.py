"""Chart builders on hand-made frames: no Streamlit, no data source."""

from __future__ import annotations

import polars as pl
import pytest

from dashboard import charts

DFG = pl.DataFrame(
    {
        "source": ["referral_intake", "eligibility_check", "eligibility_check", 'say "hi"'],
        "target": ["eligibility_check", "prior_authorization", "eligibility_check", "scheduling"],
        "frequency": [10, 6, 2, 1],
        "mean_wait_s": [1200.0, 5400.0, 30.0, None],
    }
)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (0.4, "0.4 s"),
        (59, "59 s"),
        (60, "1.0 min"),
        (600, "10 min"),
        (3600, "1.0 h"),
        (86400 * 3.25, "3.2 d"),
        (-90, "-1.5 min"),
        (None, "n/a"),
        (float("nan"), "n/a"),
    ],
)
def test_humanize_seconds(seconds: float | None, text: str) -> None:
    assert charts.humanize_seconds(seconds) == text


def test_dfg_dot_has_every_activity_and_edge() -> None:
    dot = charts.dfg_dot(DFG)
    assert dot.startswith("digraph dfg {") and dot.rstrip().endswith("}")
    for activity in ("referral_intake", "eligibility_check", "prior_authorization", "scheduling"):
        assert f'"{activity}" [label="{activity}\\n' in dot
    assert '"eligibility_check" [label="eligibility_check\\n12"]' in dot  # in-flow 10+2
    assert '"referral_intake" -> "eligibility_check" [label="10"' in dot
    assert '"eligibility_check" -> "eligibility_check" [label="2"' in dot
    assert dot.count("->") == len(DFG)


def test_dfg_dot_escapes_quotes_in_names() -> None:
    assert r'"say \"hi\"" -> "scheduling"' in charts.dfg_dot(DFG)


def test_dfg_dot_thickness_and_colour_follow_the_chosen_measure() -> None:
    by_frequency = charts.dfg_dot(DFG, "frequency")
    assert (
        '"referral_intake" -> "eligibility_check" [label="10", penwidth=6.0, color="#d9534f"]'
        in (by_frequency)
    )
    dot = charts.dfg_dot(DFG, "wait")
    assert '"eligibility_check" -> "prior_authorization" [label="1.5 h", penwidth=6.0' in dot
    assert '"referral_intake" -> "eligibility_check" [label="20 min", penwidth=2.1' in dot
    assert '[label="n/a", penwidth=1.0, color="#9ab3d5"]' in dot


def test_dfg_dot_of_an_empty_frame_is_a_valid_graph() -> None:
    empty = DFG.clear()
    assert "->" not in charts.dfg_dot(empty)


def test_dfg_dot_rejects_an_unknown_measure() -> None:
    with pytest.raises(ValueError, match="measure"):
        charts.dfg_dot(DFG, "median")


def test_simplify_dfg_keeps_the_busiest_activities_and_paths() -> None:
    assert charts.simplify_dfg(DFG).height == DFG.height
    fewer_paths = charts.simplify_dfg(DFG, paths=0.5)
    assert fewer_paths["frequency"].to_list() == [10, 6]
    fewer_activities = charts.simplify_dfg(DFG, activities=0.4)  # 2 of 5 activities
    assert set(fewer_activities["source"]) | set(fewer_activities["target"]) <= {
        "referral_intake",
        "eligibility_check",
    }


def test_queue_aging_heatmap_orders_buckets_by_bucket_order_not_text() -> None:
    aging = pl.DataFrame(
        {
            "queue": ["scheduling", "eligibility", "eligibility", "prior_auth"],
            "age_bucket": ["> 3 d", "4-24 h", "1-3 d", "< 1 h"],
            "bucket_order": [4, 2, 3, 0],
            "items": [1, 2, 3, 4],
        }
    )
    heatmap = charts.queue_aging_heatmap(aging).data[0]
    assert list(heatmap.x) == ["< 1 h", "4-24 h", "1-3 d", "> 3 d"]
    assert list(heatmap.y) == ["eligibility", "prior_auth", "scheduling"]
    assert [list(row) for row in heatmap.z] == [[0, 2, 3, 0], [4, 0, 0, 0], [0, 0, 0, 1]]


def test_queue_summary_bar_shows_open_and_past_due() -> None:
    summary = pl.DataFrame(
        {
            "queue": ["prior_auth", "scheduling"],
            "open_items": [2, 5],
            "oldest_age_s": [9750.0, 343110.0],
            "median_age_s": [9000.0, 1000.0],
            "past_due": [0, 3],
        }
    )
    figure = charts.queue_summary_bar(summary)
    assert [trace.name for trace in figure.data] == ["open", "past due"]
    assert list(figure.data[0].x) == ["scheduling", "prior_auth"]
    assert list(figure.data[0].y) == [5, 2]
    assert list(figure.data[0].customdata) == ["4.0 d", "2.7 h"]
    assert list(figure.data[1].y) == [3, 0]


def test_retry_hotspots_bar_stacks_error_types_busiest_step_first() -> None:
    hotspots = pl.DataFrame(
        {
            "activity": ["prior_authorization", "eligibility_check", "eligibility_check"],
            "error_type": ["PortalTimeout", "PortalUnavailable", "PortalTimeout"],
            "failures": [2, 3, 1],
            "retries": [1, 3, 1],
            "escalations": [1, 0, 0],
        }
    )
    figure = charts.retry_hotspots_bar(hotspots)
    assert figure.layout.barmode == "stack"
    assert [trace.name for trace in figure.data] == ["PortalTimeout", "PortalUnavailable"]
    assert list(figure.data[0].x) == ["eligibility_check", "prior_authorization"]
    assert list(figure.data[0].y) == [1, 2]
    assert list(figure.data[1].y) == [3, 0]


def test_cycle_time_histogram_picks_a_readable_unit_and_splits_escalations() -> None:
    cases = pl.DataFrame(
        {
            "case_id": ["a", "b", "c"],
            "cycle_s": [7200.0, 10800.0, 86400.0],
            "escalated": [False, False, True],
        }
    )
    figure = charts.cycle_time_histogram(cases)
    assert figure.layout.xaxis.title.text == "cycle time (h)"
    assert [trace.name for trace in figure.data] == ["straight through", "escalated"]
    assert list(figure.data[0].x) == [2.0, 3.0]
    assert list(figure.data[1].x) == [24.0]
