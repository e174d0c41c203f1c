"""Which source the dashboard reads, from flags, environment and defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.errors import ConfigError
from dashboard.config import DEFAULT_COLLECTOR, DashboardSettings, load_settings


def test_default_is_the_local_collector() -> None:
    assert load_settings() == DashboardSettings(collector=DEFAULT_COLLECTOR, port=8501)


def test_environment_names_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATON_DASHBOARD_DB", "events.duckdb")
    monkeypatch.setenv("BATON_DASHBOARD_PORT", "8600")
    settings = load_settings()
    assert (settings.collector, settings.db, settings.port) == (None, Path("events.duckdb"), 8600)


def test_a_flag_replaces_the_other_source_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BATON_DASHBOARD_COLLECTOR", "http://collector:4318")
    assert load_settings(db=Path("copy.duckdb"), collector=None).collector is None
    monkeypatch.setenv("BATON_DASHBOARD_DB", "copy.duckdb")
    assert load_settings(collector="http://other:4318", db=None).db is None


def test_both_sources_at_once_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATON_DASHBOARD_COLLECTOR", "http://collector:4318")
    monkeypatch.setenv("BATON_DASHBOARD_DB", "copy.duckdb")
    with pytest.raises(ConfigError, match="not both"):
        load_settings()


@pytest.mark.parametrize(("name", "value"), [("PORT", "eighty"), ("REFRESH_S", "-5")])
def test_bad_values_are_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(f"BATON_DASHBOARD_{name}", value)
    with pytest.raises(ConfigError, match=name.lower()):
        load_settings()
