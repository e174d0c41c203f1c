"""Every page, run by Streamlit's AppTest on a real DuckDB file or a fake collector.

The numbers a page shows must be the ones :func:`mining.compute` gives on the same file,
whichever source the dashboard reads.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import charts
from tests.conftest import free_port
from tests.dashboard.helpers import (
    REFERRAL_STEPS,
    FakeCollector,
    build_referral_log,
    compute,
    write_log,
)

pytestmark = pytest.mark.usefixtures("fresh_caches")

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
PAGES = [
    "app_pages/overview.py",
    "app_pages/process_map.py",
    "app_pages/queues.py",
    "app_pages/retries.py",
]


def run_app(monkeypatch: pytest.MonkeyPatch, **env: str) -> AppTest:
    for name, value in env.items():
        monkeypatch.setenv(f"BATON_DASHBOARD_{name.upper()}", value)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def visit(at: AppTest, page: str) -> AppTest:
    at.switch_page(page).run()
    assert not at.exception, at.exception
    assert not at.error, [error.value for error in at.error]
    assert not at.query_params, "nothing, least of all a case id, belongs in the URL"
    return at


@pytest.fixture(params=["db", "collector"])
def app(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, events_db: Path
) -> AppTest:
    """The app reading the referral log from the file, or from a collector serving it."""
    if request.param == "db":
        return run_app(monkeypatch, db=str(events_db))
    collector = request.getfixturevalue("fake_collector")
    assert isinstance(collector, FakeCollector)
    return run_app(monkeypatch, collector=collector.url)


def test_every_page_renders_without_error(app: AppTest) -> None:
    for page in PAGES:
        visit(app, page)
        assert app.title[0].value


def test_overview_shows_what_mining_computes(app: AppTest, events_db: Path) -> None:
    visit(app, "app_pages/overview.py")
    expected = compute(events_db, "overview").row(0, named=True)
    assert metrics(app) == {
        "Cases": f"{expected['cases']:,}",
        "Events": f"{expected['events']:,}",
        "Handoffs": f"{expected['handoffs']:,}",
        "Escalation rate": f"{expected['escalation_rate']:.1%}",
        "Median cycle time": charts.humanize_seconds(expected["median_cycle_s"]),
        "P90 cycle time": charts.humanize_seconds(expected["p90_cycle_s"]),
        "Retry rate": f"{expected['retry_rate']:.1%}",
    }
    assert metrics(app)["Cases"] == "8" and metrics(app)["Events"] == "98"
    assert len(app.get("plotly_chart")) == 1
    shown = app.dataframe[0].value
    assert sorted(shown["case_id"]) == sorted(compute(events_db, "case_durations")["case_id"])


def test_process_map_draws_every_activity(app: AppTest, events_db: Path) -> None:
    visit(app, "app_pages/process_map.py")
    dfg = compute(events_db, "dfg")
    dot = app.get("graphviz_chart")[0].proto.spec
    assert dot == charts.dfg_dot(dfg, "frequency")
    for activity, _queue in REFERRAL_STEPS:
        assert f'"{activity}"' in dot
    table = app.dataframe[0].value
    assert table["frequency"].tolist() == dfg["frequency"].to_list()
    assert len(app.download_button) == 1

    app.radio(key="process_map_measure").set_value("Waiting time").run()
    assert app.get("graphviz_chart")[0].proto.spec == charts.dfg_dot(dfg, "wait")


def test_queues_show_open_items(app: AppTest, events_db: Path) -> None:
    visit(app, "app_pages/queues.py")
    summary = compute(events_db, "queue_summary")
    table = app.dataframe[0].value
    assert table["queue"].tolist() == summary["queue"].to_list()
    assert table["open_items"].tolist() == summary["open_items"].to_list()
    assert len(app.get("plotly_chart")) == 2
    assert len(app.download_button) == 1


def test_retries_show_counts_and_hotspots(app: AppTest, events_db: Path) -> None:
    visit(app, "app_pages/retries.py")
    counts = compute(events_db, "retry_counts")
    table = app.dataframe[0].value
    assert table["activity"].tolist() == counts["activity"].to_list()
    assert table["retries"].tolist() == counts["retries"].to_list()
    assert len(app.get("plotly_chart")) == 1
    assert len(app.download_button) == 1


def test_sidebar_filters_apply_on_every_page(
    monkeypatch: pytest.MonkeyPatch, events_db: Path
) -> None:
    at = run_app(monkeypatch, db=str(events_db))
    at.selectbox(key="sidebar_workflow").set_value("billing").run()
    expected = compute(events_db, "overview", {"workflow": "billing"})
    assert metrics(at)["Cases"] == f"{expected['cases'][0]:,}" == "1"

    visit(at, "app_pages/queues.py")  # billing's only case is finished: nothing waits
    assert "No open items" in at.info[0].value
    visit(at, "app_pages/overview.py")
    assert metrics(at)["Cases"] == "1", "the filter survives page switches"


def test_date_filters_are_inclusive_days(monkeypatch: pytest.MonkeyPatch, events_db: Path) -> None:
    at = run_app(monkeypatch, db=str(events_db))
    at.date_input(key="sidebar_since").set_value(date(2026, 3, 9)).run()
    at.date_input(key="sidebar_until").set_value(date(2026, 3, 9)).run()
    expected = compute(
        events_db, "overview", {"since": "2026-03-09T00:00:00", "until": "2026-03-10T00:00:00"}
    )
    assert metrics(at)["Events"] == f"{expected['events'][0]:,}"
    assert 0 < expected["events"][0] < 98


@pytest.mark.parametrize("page", PAGES)
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
    at.date_input(key="sidebar_since").set_value(date(2027, 1, 1)).run()
    assert at.info[0].value.startswith("No events match these filters")


@pytest.mark.parametrize("page", PAGES)
def test_unreachable_collector_is_an_error_message(
    monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    at = run_app(monkeypatch, collector=url)
    at.switch_page(page).run()
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
    db.unlink()
    write_log(db, build_referral_log())
    at.button[0].click().run()
    assert not at.exception
    assert metrics(at)["Cases"] == "8"
