"""Fixtures of the dashboard tests: the sample clinic and a referral log on disk, a real
collector with role tokens, a fake collector, clean caches.

The suite's own ``tests/conftest.py`` already clears ``BATON_*`` and points ``BATON_CONFIG``
at an empty file, so settings here come only from what a test sets.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
import streamlit as st

from tests.conftest import baton_cmd, child_env, free_port, wait_for
from tests.dashboard.helpers import FakeCollector, build_referral_log, import_sample_log, write_log


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


SAMPLE_LOG = Path(__file__).resolve().parents[2] / "sample_logs" / "clinic.parquet"
#: Query-API tokens of the real collector the role tests start: role -> token.
TOKENS = {
    "viewer": "viewer-token-0001",
    "analyst": "analyst-token-001",
    "admin": "admin-token-00001",
}


@pytest.fixture(scope="session")
def clinic_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample clinic (``sample_logs/clinic.parquet``) imported into a DuckDB file."""
    return import_sample_log(tmp_path_factory.mktemp("clinic") / "clinic.duckdb", SAMPLE_LOG)


@pytest.fixture(scope="module")
def clinic_collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``baton collector serve`` on a copy of the clinic, with a viewer, analyst and admin
    token; yields its URL."""
    folder = tmp_path_factory.mktemp("clinic-collector")
    db = import_sample_log(folder / "clinic.duckdb", SAMPLE_LOG)
    port = free_port()
    tokens = ",".join(f"{role}:{role}:{token}" for role, token in TOKENS.items())
    proc = subprocess.Popen(
        baton_cmd("collector", "serve", "--db", str(db), "--port", str(port)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=child_env(BATON_COLLECTOR_TOKENS=tokens),
        cwd=folder,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/healthz", proc)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
