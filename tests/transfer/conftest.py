"""Fixtures for import/export tests: the public datasets, a fresh database, pm4py kept quiet.

Fixtures rather than an importable helper module, so the tests run under any import mode.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

# Read at import time: the suite's autouse fixture clears BATON_* variables for each test.
DATASETS = Path(
    os.environ.get("BATON_DATASETS")
    or Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"
).resolve()

#: Every column of the events table, attributes as sorted entries: rows compare exactly.
ALL_COLUMNS_SQL = """
SELECT * EXCLUDE (attributes), list_sort(map_entries(attributes)) AS attributes
FROM events ORDER BY event_id
"""


@pytest.fixture
def datasets() -> Path:
    """The shared public logs; skips (saying where it looked) when they are not there."""
    if not DATASETS.is_dir():
        pytest.skip(f"public datasets not found at {DATASETS} (set BATON_DATASETS to the folder)")
    return DATASETS


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    """An empty in-memory database."""
    connection = duckdb.connect(":memory:")
    yield connection
    connection.close()


@pytest.fixture
def all_rows() -> Callable[[duckdb.DuckDBPyConnection], list[tuple[Any, ...]]]:
    """Every events row with every column, in ``event_id`` order."""
    return lambda connection: connection.execute(ALL_COLUMNS_SQL).fetchall()


@pytest.fixture
def pm4py_quiet() -> Callable[..., Any]:
    """Call a pm4py function with its banner, progress bars and warnings suppressed.

    pm4py warns (e.g. about optional Rust readers) and the suite turns warnings into errors.
    """

    def call(name: str, *args: Any, **kwargs: Any) -> Any:
        sink = io.StringIO()
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink):
            warnings.simplefilter("ignore")
            with contextlib.redirect_stderr(sink):
                import pm4py

                return getattr(pm4py, name)(*args, **kwargs)

    return call
