"""Sample clinic logs imported with ``baton import`` into real DuckDB files, once per session."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import baton_cmd, child_env

SAMPLES = Path(__file__).resolve().parents[2] / "sample_logs"


@pytest.fixture(scope="session")
def imported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``normal`` and ``outage``: the sample logs, each in its own DuckDB file."""
    folder = tmp_path_factory.mktemp("samples")
    files = {"normal": "clinic.parquet", "outage": "clinic-payer-outage.parquet"}
    out = {}
    for name, file in files.items():
        db = folder / f"{name}.duckdb"
        result = subprocess.run(
            baton_cmd("import", str(SAMPLES / file), "--db", str(db)),
            capture_output=True, text=True, env=child_env(), cwd=folder, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        out[name] = db
    return out


@pytest.fixture
def copy_of(imported: dict[str, Path], tmp_path: Path) -> Callable[[str], Path]:
    """A private copy of an imported log, for tests that write alert state into it."""

    def copy(name: str) -> Path:
        target = tmp_path / f"{name}.duckdb"
        shutil.copy(imported[name], target)
        return target

    return copy
