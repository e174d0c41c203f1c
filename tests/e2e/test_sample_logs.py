"""The committed sample logs are exactly what `make sample-logs` writes, and they agree with
each other and with pm4py's reading."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "sample_logs"
pytestmark = pytest.mark.slow


def test_regenerating_gives_the_same_bytes(tmp_path: Path):
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, str(SAMPLES / "generate.py"), "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(p.name for p in SAMPLES.iterdir() if p.suffix != ".py"
                             and p.name != "README.md")  # fmt: skip
    for name in written:
        assert (out / name).read_bytes() == (SAMPLES / name).read_bytes(), name


@pytest.mark.filterwarnings("ignore:Install the optional requirement:UserWarning")
def test_formats_agree_with_each_other_and_with_pm4py():
    import pm4py

    con = duckdb.connect()
    parquet = con.execute(
        f"SELECT count(*), count(DISTINCT case_id) FROM '{SAMPLES / 'clinic.parquet'}'"
    ).fetchone()
    csv = con.execute(
        f"SELECT count(*), count(DISTINCT case_id) FROM read_csv_auto('{SAMPLES / 'clinic.csv'}')"
    ).fetchone()
    assert parquet == csv and parquet[0] > 1000
    log = pm4py.read_xes(str(SAMPLES / "clinic.xes.gz"), return_legacy_log_object=False)
    assert len(log) == parquet[0]
    assert log["case:concept:name"].nunique() == parquet[1]
    ocel = pm4py.read_ocel2_json(str(SAMPLES / "clinic.jsonocel"))
    assert len(ocel.events) == parquet[0]
    text = "\n".join(p.read_text(errors="ignore") for p in (SAMPLES / "clinic.csv",))
    assert "MRN" not in text and "REF-" not in text
