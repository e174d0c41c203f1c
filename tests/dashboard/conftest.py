"""Fixtures of the dashboard tests: a referral log on disk, a fake collector, clean caches.

The suite's own ``tests/conftest.py`` already clears ``BATON_*`` and points ``BATON_CONFIG``
at an empty file, so settings here come only from what a test sets.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
import streamlit as st

from tests.dashboard.helpers import FakeCollector, build_referral_log, write_log


@pytest.fixture(scope="session")
def referral_log() -> pa.Table:
    return build_referral_log()


@pytest.fixture
def events_db(tmp_path: Path, referral_log: pa.Table) -> Path:
    """A DuckDB file of the referral log, closed so the dashboard can open it read-only."""
    return write_log(tmp_path / "events.duckdb", referral_log)


@pytest.fixture
def empty_db(tmp_path: Path) -> Path:
    return write_log(tmp_path / "empty.duckdb", None)


@pytest.fixture
def fresh_caches() -> Iterator[None]:
    """Streamlit's caches live as long as the process; a test must not see another's."""
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def fake_collector(events_db: Path) -> Iterator[FakeCollector]:
    with FakeCollector(events_db) as collector:
        yield collector
