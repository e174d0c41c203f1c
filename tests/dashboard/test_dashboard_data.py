"""Both sources return what mining computes, and fail with one clear message."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from baton.errors import UnreachableError
from dashboard import data
from dashboard.config import DashboardSettings
from dashboard.errors import FigureRequestFailed, SourceNotFound
from tests.conftest import free_port
from tests.dashboard.helpers import FakeCollector, compute

pytestmark = pytest.mark.usefixtures("fresh_caches")

FIGURES = ["overview", "dfg", "case_durations", "queue_aging", "queue_summary",
           "retry_counts", "retry_hotspots", "activity_instances"]  # fmt: skip


@pytest.mark.parametrize("name", FIGURES)
def test_db_source_equals_mining(events_db: Path, name: str) -> None:
    frame = data.DbSource(events_db).figure(name, {})
    assert_frame_equal(frame, compute(events_db, name))


@pytest.mark.parametrize("name", FIGURES)
def test_collector_source_equals_mining(fake_collector: FakeCollector, name: str) -> None:
    frame = data.CollectorSource(fake_collector.url).figure(name, {})
    assert_frame_equal(frame, compute(fake_collector.db, name))


def test_collector_source_sends_filters_and_asks_for_arrow(fake_collector: FakeCollector) -> None:
    values = {"workflow": "referral", "since": "2026-03-03T00:00:00", "site": ""}
    frame = data.CollectorSource(fake_collector.url + "/").figure("overview", values)
    assert fake_collector.requests == [
        ("overview", {"workflow": "referral", "since": "2026-03-03T00:00:00", "format": "arrow"})
    ]
    expected = compute(fake_collector.db, "overview", {k: v for k, v in values.items() if v})
    assert_frame_equal(frame, expected)


def test_collector_error_carries_the_servers_message(fake_collector: FakeCollector) -> None:
    with pytest.raises(FigureRequestFailed, match="no figure named 'nope'"):
        data.CollectorSource(fake_collector.url).figure("nope", {})


def test_collector_busy_is_unreachable(fake_collector: FakeCollector) -> None:
    fake_collector.status = 503
    with pytest.raises(UnreachableError, match="unavailable: store is busy"):
        data.CollectorSource(fake_collector.url).figure("overview", {})


def test_collector_answering_something_else_is_named(fake_collector: FakeCollector) -> None:
    fake_collector.body = b"<html>not a collector</html>"
    with pytest.raises(FigureRequestFailed, match="not an Arrow IPC stream"):
        data.CollectorSource(fake_collector.url).figure("overview", {})


def test_collector_refusing_connections_is_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(UnreachableError, match=f"collector unreachable at {url}: connection ref"):
        data.CollectorSource(url).figure("overview", {})


def test_db_source_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFound, match="no DuckDB file at"):
        data.DbSource(tmp_path / "missing.duckdb").figure("overview", {})
    assert not (tmp_path / "missing.duckdb").exists()


def test_db_source_file_without_events(tmp_path: Path) -> None:
    path = tmp_path / "other.duckdb"
    duckdb.connect(str(path)).close()
    with pytest.raises(SourceNotFound, match="has no events table"):
        data.DbSource(path).figure("overview", {})


def test_db_source_does_not_keep_the_file_open(events_db: Path) -> None:
    data.DbSource(events_db).figure("overview", {})
    duckdb.connect(str(events_db)).close()  # a writer can open it again


def test_source_for_prefers_the_file(events_db: Path) -> None:
    assert data.source_for(DashboardSettings(db=events_db)) == data.DbSource(events_db)
    assert data.source_for(DashboardSettings(collector="http://c:1")) == data.CollectorSource(
        "http://c:1"
    )


def test_load_figure_reads_the_configured_source(
    events_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATON_DASHBOARD_DB", str(events_db))
    frame = data.load_figure("overview", data.as_key({"workflow": "billing"}))
    assert isinstance(frame, pl.DataFrame)
    assert frame["cases"].to_list() == [1]
