"""An import keeps the live aggregates exact, in its own transaction."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from collector.transfer import import_file
from mining import compute, live

ROOT = Path(__file__).resolve().parents[2]


def _same(con: duckdb.DuckDBPyConnection, name: str) -> None:
    full, fast = compute(name, con), compute(f"{name}_live", con)
    key = [c for c in full.columns if full.schema[c] == pl.String]
    assert full.sort(key).equals(fast.sort(key)), name


def test_imports_refresh_the_live_aggregates(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "baton.duckdb"))
    import_file(con, ROOT / "sample_logs" / "clinic.parquet", progress=False)
    assert live.in_sync(con)
    first = compute("overview_live", con)["events"].item()

    import_file(con, ROOT / "sample_logs" / "clinic-payer-outage.parquet", progress=False)
    assert live.in_sync(con)
    assert compute("overview_live", con)["events"].item() > first
    for name in ("overview", "dfg", "retry_counts"):
        _same(con, name)

    # Events written around the store leave the tables behind; the next import rebuilds them.
    con.execute("DELETE FROM events WHERE activity = 'submit_claim'")
    assert not live.in_sync(con)
    import_file(con, ROOT / "sample_logs" / "clinic.csv", progress=False)
    assert live.in_sync(con)
    _same(con, "dfg")
