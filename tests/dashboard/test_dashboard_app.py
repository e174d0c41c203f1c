"""Every page, run by Streamlit's AppTest on the sample clinic (a DuckDB file, or a real
collector serving it), and the numbers each page shows checked against :mod:`mining`.

A page passes when it raises nothing, shows no error box, puts nothing in the URL, and the
metrics and tables it shows are what :func:`mining.compute` returns for the same filters;
a filter change must change them the way ``mining`` says.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import charts, charts_ops, derive
from dashboard.config import DEFAULT_PLAYBOOKS
from tests.conftest import free_port
from tests.dashboard.conftest import TOKENS
from tests.dashboard.helpers import build_referral_log, compute, write_log

pytestmark = pytest.mark.usefixtures("fresh_caches")

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
PAGES = [
    "overview",
    "process_map",
    "bottlenecks",
    "queues",
    "retries",
    "bots",
    "variants",
    "conformance",
    "case_explorer",
    "workbench",
]
#: Pages that need a figure another part of Baton may not have registered yet.
NEEDS = {"variants": "variants", "conformance": "conformance_over_time"}


def run_app(monkeypatch: pytest.MonkeyPatch, **env: str) -> AppTest:
    for name, value in env.items():
        monkeypatch.setenv(f"BATON_DASHBOARD_{name.upper()}", value)
    at = AppTest.from_file(APP, default_timeout=90).run()
    assert not at.exception, at.exception
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def deltas(at: AppTest) -> dict[str, str | None]:
    return {metric.label: metric.delta for metric in at.metric}


def visit(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, at.exception
    assert not at.error, [error.value for error in at.error]
    assert not at.query_params, "nothing, least of all a case id, belongs in the URL"
    return at


def registered(name: str) -> bool:
    import mining

    return name in mining.FIGURES


@pytest.fixture(params=["db", "collector"])
def app(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, clinic_db: Path
) -> AppTest:
    """The app reading the clinic from the file, or from a real collector (admin token)."""
    if request.param == "db":
        return run_app(monkeypatch, db=str(clinic_db))
    url = request.getfixturevalue("clinic_collector")
    return run_app(monkeypatch, collector=url, token=TOKENS["admin"])


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_error(app: AppTest, page: str) -> None:
    visit(app, page)
    assert app.title[0].value
    if page in NEEDS and not registered(NEEDS[page]):
        assert app.info[0].value.startswith("Not available in this version")


def _overview_expected(db: Path, values: dict[str, str]) -> dict[str, str]:
    row = compute(db, "overview", values).row(0, named=True)
    at = {"at": values["until"]} if "until" in values else {}
    open_items = int(compute(db, "queue_summary", {**values, **at})["open_items"].sum())
    completed = int(compute(db, "throughput", values)["cases_completed"].sum())
    sla = compute(db, "sla", {**values, **at, "by": "workflow"})
    met, breached = int(sla["met"].sum()), int(sla["breached"].sum())
    return {
        "Cases in flight": f"{open_items:,}",
        "Throughput": f"{completed:,}",
        "Cases": f"{row['cases']:,}",
        "SLA compliance": f"{met / (met + breached):.1%}",
        "Median cycle time": charts.humanize_seconds(row["median_cycle_s"]),
        "P90 cycle time": charts.humanize_seconds(row["p90_cycle_s"]),
        "Retry rate": f"{row['retry_rate']:.1%}",
        "Escalation rate": f"{row['escalation_rate']:.1%}",
    }


def test_overview_shows_what_mining_computes(app: AppTest, clinic_db: Path) -> None:
    visit(app, "overview")
    assert metrics(app) == _overview_expected(clinic_db, {})
    assert metrics(app)["Cases"] == "167"
    assert len(app.get("plotly_chart")) == 3  # throughput, SLA over time, cycle times
    shown = app.dataframe[0].value
    assert sorted(shown["case_id"]) == sorted(compute(clinic_db, "case_durations")["case_id"])
    assert len(app.download_button) == 1


def test_overview_trends_compare_with_the_period_before(
    monkeypatch: pytest.MonkeyPatch, clinic_db: Path
) -> None:
    at = run_app(monkeypatch, db=str(clinic_db))
    at.selectbox(key="sidebar_range").set_value("Custom dates").run()
    at.date_input(key="sidebar_since").set_value(date(2026, 3, 3)).run()
    at.date_input(key="sidebar_until").set_value(date(2026, 3, 3)).run()
    now = {"since": "2026-03-03T00:00:00", "until": "2026-03-04T00:00:00"}
    before = {"since": "2026-03-02T00:00:00", "until": "2026-03-03T00:00:00"}
    assert metrics(at) == _overview_expected(clinic_db, now)
    row_now = compute(clinic_db, "overview", now).row(0, named=True)
    row_before = compute(clinic_db, "overview", before).row(0, named=True)
    shown = deltas(at)
    assert shown["Cases"] == charts_ops.count_delta(row_now["cases"], row_before["cases"])
    assert shown["Median cycle time"] == charts_ops.duration_delta(
        row_now["median_cycle_s"], row_before["median_cycle_s"]
    )
    assert shown["Retry rate"] == charts_ops.rate_delta(
        row_now["retry_rate"], row_before["retry_rate"]
    )
    assert all(delta is not None for delta in shown.values()), shown


def test_every_sidebar_filter_changes_the_numbers_on_every_page(
    monkeypatch: pytest.MonkeyPatch, clinic_db: Path
) -> None:
    at = run_app(monkeypatch, db=str(clinic_db))
    unfiltered = metrics(at)
    for key, value in (("payer", "Medicare"), ("site", "Westgate"), ("workflow", "claims")):
        at.selectbox(key=f"sidebar_{key}").set_value(value).run()
        assert metrics(at) == _overview_expected(clinic_db, {key: value})
        assert metrics(at)["Cases"] != unfiltered["Cases"]
        at.selectbox(key=f"sidebar_{key}").set_value(None).run()
    at.selectbox(key="sidebar_payer").set_value("Medicare").run()
    visit(at, "queues")
    summary = compute(clinic_db, "queue_summary", {"payer": "Medicare"})
    assert at.dataframe[0].value["open_items"].tolist() == summary["open_items"].to_list()
    visit(at, "overview")
    assert metrics(at)["Cases"] == _overview_expected(clinic_db, {"payer": "Medicare"})["Cases"]


def test_relative_time_ranges_end_at_the_newest_event(
    monkeypatch: pytest.MonkeyPatch, clinic_db: Path
) -> None:
    at = run_app(monkeypatch, db=str(clinic_db))
    at.selectbox(key="sidebar_range").set_value("Last 24 hours").run()
    newest = compute(clinic_db, "overview")["last_ts"][0]
    end = newest + timedelta(microseconds=1)
    values = {
        "since": (end - timedelta(days=1)).isoformat(timespec="microseconds"),
        "until": end.isoformat(timespec="microseconds"),
    }
    assert metrics(at) == _overview_expected(clinic_db, values)
    assert metrics(at)["Cases"] != "167"


def test_process_map_draws_what_mining_computes(app: AppTest, clinic_db: Path) -> None:
    visit(app, "process_map")
    dfg = compute(clinic_db, "dfg")
    assert app.get("graphviz_chart")[0].proto.spec == charts.dfg_dot(dfg, "frequency")
    table = app.dataframe[0].value
    assert table["frequency"].tolist() == dfg["frequency"].to_list()

    app.radio(key="process_map_measure").set_value("Mean waiting time").run()
    assert app.get("graphviz_chart")[0].proto.spec == charts.dfg_dot(dfg, "mean_wait_s")
    app.slider(key="process_map_paths").set_value(50).run()
    fewer = charts.simplify_dfg(dfg, 1.0, 0.5)
    assert app.get("graphviz_chart")[0].proto.spec == charts.dfg_dot(fewer, "mean_wait_s")
    assert app.get("graphviz_chart")[0].proto.spec.count("->") < dfg.height

    if registered("performance_dfg"):  # the performance overlay's other aggregates
        app.slider(key="process_map_paths").set_value(100).run()
        app.radio(key="process_map_measure").set_value("P95 waiting time").run()
        full = derive.with_performance(dfg, compute(clinic_db, "performance_dfg"))
        assert app.get("graphviz_chart")[0].proto.spec == charts.dfg_dot(full, "p95_wait_s")


def test_process_map_lists_the_cases_behind_a_path(app: AppTest, clinic_db: Path) -> None:
    visit(app, "process_map")
    dfg = compute(clinic_db, "dfg")
    source, target = dfg.row(0)[:2]
    app.selectbox(key="process_map_pick").set_value(f"{source} → {target}").run()
    expected = derive.cases_on_edge(compute(clinic_db, "activity_instances"), source, target)
    shown = app.dataframe[1].value
    assert shown["case_id"].tolist() == expected["case_id"].to_list()
    assert int(shown["times"].sum()) == dfg.row(0, named=True)["frequency"]

    app.selectbox(key="process_map_pick").set_value(source).run()
    instances = compute(clinic_db, "activity_instances")
    expected_cases = instances.filter(pl.col("activity") == source)["case_id"].n_unique()
    assert len(app.dataframe[1].value) == expected_cases


def test_bottlenecks_rank_what_mining_ranks(app: AppTest, clinic_db: Path) -> None:
    visit(app, "bottlenecks")
    ranking = compute(clinic_db, "bottlenecks")
    table = app.dataframe[0].value
    assert table["name"].tolist() == ranking["name"].to_list()
    assert table["wait_share"].tolist() == pytest.approx(ranking["wait_share"].to_list())
    assert len(app.get("plotly_chart")) == 3  # steps, handoffs, performance spectrum


def test_queues_show_open_items(app: AppTest, clinic_db: Path) -> None:
    visit(app, "queues")
    summary = compute(clinic_db, "queue_summary")
    table = app.dataframe[0].value
    assert table["queue"].tolist() == summary["queue"].to_list()
    assert table["open_items"].tolist() == summary["open_items"].to_list()
    assert metrics(app)["Open items"] == f"{int(summary['open_items'].sum()):,}"
    assert metrics(app)["Oldest item"] == charts.humanize_seconds(summary["oldest_age_s"].max())
    waits = compute(clinic_db, "queue_wait")
    assert app.dataframe[1].value["items"].tolist() == waits["items"].to_list()
    assert len(app.get("plotly_chart")) == 3
    oldest = compute(clinic_db, "open_items")
    assert app.dataframe[2].value["case_id"].tolist() == oldest["case_id"].head(20).to_list()
    assert len(app.download_button) == 4  # summary, waits, oldest items, near or past due


def test_retries_show_hotspots_and_time_lost(app: AppTest, clinic_db: Path) -> None:
    visit(app, "retries")
    by_step = compute(clinic_db, "retry_hotspots", {"by": "activity"})
    retries, successes = int(by_step["retries"].sum()), int(by_step["successes"].sum())
    assert metrics(app) == {
        "Retries": f"{retries:,}",
        "Retries per success": f"{retries / successes:.2f}",
        "Time lost to retries": charts.humanize_seconds(float(by_step["time_lost_s"].sum())),
    }
    hotspots = compute(clinic_db, "retry_hotspots", {"by": "activity,payer,error_type"})
    assert app.dataframe[0].value["retries"].tolist() == hotspots["retries"].to_list()
    counts = compute(clinic_db, "retry_counts")
    assert app.dataframe[1].value["activity"].tolist() == counts["activity"].to_list()
    assert len(app.get("plotly_chart")) == 3


def test_bots_show_the_fleet(app: AppTest, clinic_db: Path) -> None:
    visit(app, "bots")
    bots = compute(clinic_db, "bot_stats")
    table = app.dataframe[0].value
    assert table["bot"].tolist() == bots["bot"].to_list()
    assert table["status"].tolist() == bots["status"].to_list()
    states = dict(bots.group_by("status").len().iter_rows())
    assert metrics(app)["Offline"] == str(states.get("offline", 0))
    assert len(app.get("plotly_chart")) == 2


@pytest.mark.skipif(not registered("variants"), reason="mining has no variants figure yet")
def test_variants_show_what_mining_counts(app: AppTest, clinic_db: Path) -> None:
    visit(app, "variants")
    variants = derive.variant_frame(compute(clinic_db, "variants"))
    assert metrics(app)["Variants"] == f"{variants.height:,}"
    assert app.dataframe[0].value["cases"].tolist() == variants["cases"].to_list()


@pytest.mark.skipif(
    not registered("conformance_over_time"), reason="mining has no conformance figures yet"
)
def test_conformance_against_the_first_playbook(app: AppTest, clinic_db: Path) -> None:
    visit(app, "conformance")
    playbook = {"playbook": str(sorted(DEFAULT_PLAYBOOKS.glob("*.yaml"))[0])}
    over_time = compute(clinic_db, "conformance_over_time", playbook)
    assert metrics(app)["Cases checked"] == f"{int(over_time['cases'].sum()):,}"
    per_case = compute(clinic_db, "conformance", playbook).filter(~pl.col("conforming"))
    if per_case.height:
        assert app.dataframe[0].value["case_id"].tolist() == per_case["case_id"].to_list()


def test_case_explorer_shows_one_case_timeline(app: AppTest, clinic_db: Path) -> None:
    visit(app, "case_explorer")
    assert app.info[0].value.startswith("Pick a case")
    cases = compute(clinic_db, "case_durations")
    escalated = cases.filter(pl.col("escalated")).sort("cycle_s", descending=True)
    case_id = escalated["case_id"][0]
    app.selectbox(key="case_explorer_case").set_value(case_id).run()
    assert not app.exception and not app.error
    assert not app.query_params
    timeline = compute(clinic_db, "case_timeline", {"case_id": case_id})
    table = app.dataframe[0].value
    assert table["activity"].tolist() == timeline["activity"].to_list()
    assert metrics(app)["Escalations"] == str(int((timeline["arrival"] == "escalated").sum()))
    assert int(metrics(app)["Escalations"]) >= 1
    assert len(app.get("plotly_chart")) == 1


@pytest.mark.parametrize("page", ["overview", "process_map", "queues", "retries", "bottlenecks"])
def test_empty_log_says_how_to_get_data(
    monkeypatch: pytest.MonkeyPatch, empty_db: Path, page: str
) -> None:
    at = visit(run_app(monkeypatch, db=str(empty_db)), page)
    assert at.info[0].value.startswith("No data yet: run `baton simulate`")
    assert not at.metric and not at.get("plotly_chart")


def test_filters_matching_nothing_are_not_an_empty_log(
    monkeypatch: pytest.MonkeyPatch, events_db: Path
) -> None:
    at = run_app(monkeypatch, db=str(events_db))
    at.selectbox(key="sidebar_range").set_value("Custom dates").run()
    at.date_input(key="sidebar_since").set_value(date(2027, 1, 1)).run()
    assert at.info[0].value.startswith("No events match these filters")


@pytest.mark.parametrize("page", ["overview", "process_map", "queues", "retries"])
def test_unreachable_collector_is_an_error_message(
    monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    at = run_app(monkeypatch, collector=url)
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception
    assert at.error[0].value.startswith(f"collector unreachable at {url}")


def test_missing_file_is_an_error_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    at = run_app(monkeypatch, db=str(tmp_path / "nope.duckdb"))
    assert at.error[0].value == f"no DuckDB file at {tmp_path / 'nope.duckdb'}"


def test_conflicting_settings_are_an_error_message(
    monkeypatch: pytest.MonkeyPatch, events_db: Path
) -> None:
    at = run_app(monkeypatch, db=str(events_db), collector="http://127.0.0.1:4318")
    assert "not both" in at.error[0].value


def test_refresh_reads_the_source_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    db = write_log(tmp_path / "growing.duckdb", None)
    at = run_app(monkeypatch, db=str(db), refresh_s="60")
    assert at.info[0].value.startswith("No data yet")
    assert at.toggle(key="sidebar_live").value is True
    db.unlink()
    write_log(db, build_referral_log())
    at.button[0].click().run()
    assert not at.exception
    assert metrics(at)["Cases"] == "8"
