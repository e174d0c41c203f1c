"""Frame comparison the live-table tests share: exact, but floats to 1e-9.

Sums of floats depend on the order DuckDB's threads add them in, so a stored total and a
recomputed one may differ in the last bits while every count, id and time is equal.
"""

from __future__ import annotations

import math

import polars as pl


def assert_same(got: pl.DataFrame, want: pl.DataFrame, what: str) -> None:
    """``got`` equals ``want`` column by column, row by row (floats to a relative 1e-9)."""
    assert got.columns == want.columns, what
    assert got.dtypes == want.dtypes, what
    assert got.height == want.height, (what, got, want)
    for column in want.columns:
        for a, b in zip(got[column].to_list(), want[column].to_list(), strict=True):
            if isinstance(a, float) and isinstance(b, float):
                assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), (what, column, a, b)
            else:
                assert a == b, (what, column, got, want)
