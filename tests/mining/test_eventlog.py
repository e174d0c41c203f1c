"""``EventLog.open`` on every kind of source gives the same figures; bad sources say why."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pytest

from baton.errors import BatonError
from collector.transfer import export_events, import_file
from mining import EventLog, InvalidFilter, MiningError
from mining.filters import Filters

ROOT = Path(__file__).resolve().parents[2]
CLINIC = ROOT / "sample_logs" / "clinic.parquet"
FIGURES = ("dfg", "performance_dfg", "variants", "start_activities", "end_activities")


@pytest.fixture(scope="module")
def clinic_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The clinic sample log imported into a DuckDB file, as ``baton import`` does."""
    db = tmp_path_factory.mktemp("clinic") / "clinic.duckdb"
    con = duckdb.connect(str(db))
    import_file(con, CLINIC, progress=False)
    con.close()
    return db


@pytest.fixture(scope="module")
def clinic(clinic_db: Path) -> EventLog:
    return EventLog.open(clinic_db)


def _same(a: pl.DataFrame, b: pl.DataFrame) -> None:
    """Equal up to row order and float rounding (sums in a different order)."""
    key = [c for c in a.columns if a.schema[c] in (pl.String, pl.List(pl.String))][:2]
    a, b = a.sort(key), b.sort(key)
    assert a.columns == b.columns
    for column in a.columns:
        if a.schema[column] == pl.Float64:
            assert a[column].to_list() == pytest.approx(b[column].to_list(), rel=1e-9, abs=1e-6)
        else:
            assert a[column].to_list() == b[column].to_list(), column


def test_a_pm4py_frame_gives_the_figures_of_the_store(clinic: EventLog) -> None:
    frame = clinic.to_pm4py()
    assert {"case:concept:name", "concept:name", "time:timestamp", "start_timestamp"} <= set(
        frame.columns
    )
    from_pandas = EventLog.open(frame)
    from_polars = EventLog.open(pl.from_pandas(frame))
    for name in FIGURES:
        expected = getattr(clinic, name)()
        assert expected.height > 0
        _same(getattr(from_pandas, name)(), expected)
        _same(getattr(from_polars, name)(), expected)
    durations = from_pandas.case_durations().select("case_id", "duration_s")
    stored = clinic.case_durations().drop_nulls("duration_s").select("case_id", "duration_s")
    _same(durations, stored)


def test_exported_files_open_to_the_same_process(clinic_db: Path, tmp_path: Path) -> None:
    con = duckdb.connect(str(clinic_db), read_only=True)
    expected = EventLog.from_connection(con).dfg()
    for name, fmt in (("log.xes.gz", "xes"), ("log.csv", "csv"), ("log.parquet", "parquet")):
        export_events(con, fmt, tmp_path / name)
        got = EventLog.open(tmp_path / name).dfg()
        _same(
            got.select("source", "target", "frequency"),
            expected.select("source", "target", "frequency"),
        )
    con.close()


def test_filters_narrow_and_compose(clinic: EventLog) -> None:
    cases = clinic.case_durations().height
    payer = clinic.case_durations()["payer"][0]
    one_payer = clinic.filter(payer=payer)
    assert 0 < one_payer.case_durations().height < cases
    assert set(one_payer.case_durations()["payer"].to_list()) == {payer}

    top = clinic.variants().row(0, named=True)
    one_variant = clinic.filter(variant=top["variant"])
    assert one_variant.variants()["cases"].to_list() == [top["cases"]]
    assert one_variant.events()["case_id"].n_unique() == top["cases"]

    durations = clinic.case_durations().drop_nulls("duration_s")
    median = float(durations["duration_s"].median())
    slow = clinic.filter(min_duration_s=median)
    assert slow.case_durations()["duration_s"].min() >= median
    both = slow.filter(payer=payer)
    assert both.filters == Filters(payer=payer, min_duration_s=median)
    assert set(both.case_durations()["case_id"]) <= set(slow.case_durations()["case_id"])
    # A SQL figure honours case filters too: only the kept cases' attempts are counted.
    kept_events = one_variant.events()
    assert 0 < kept_events["case_id"].n_unique() < cases
    started = kept_events.filter(pl.col("lifecycle") == "started").height
    assert one_variant.figure("retry_counts")["attempts"].sum() == started
    assert clinic.figure("retry_counts")["attempts"].sum() > started


def test_end_activity_filter_keeps_whole_cases(clinic: EventLog) -> None:
    ends = clinic.end_activities()
    activity, count = ends.row(0)
    narrowed = clinic.filter(end_activity=activity)
    assert narrowed.end_activities().rows() == [(activity, count)]
    assert narrowed.start_activities()["cases"].sum() == count


def test_time_filter_on_a_frame_keeps_instances_completed_in_range() -> None:
    frame = pd.DataFrame(
        {
            "case:concept:name": ["a", "a", "b"],
            "concept:name": ["x", "y", "x"],
            "time:timestamp": pd.to_datetime(
                ["2026-03-02T09:00Z", "2026-03-03T09:00Z", "2026-03-02T10:00Z"]
            ),
        }
    )
    log = EventLog.open(frame).filter(until="2026-03-03T00:00:00+00:00")
    assert log.instances()["activity"].to_list() == ["x", "x"]
    assert log.dfg().height == 0
    with pytest.raises(InvalidFilter, match="no 'payer' column"):
        EventLog.open(frame).filter(payer="Acme").dfg()


def test_lifecycle_frames_are_paired_into_instances() -> None:
    rows = [
        ("c1", "triage", "start", "2026-03-02T09:00:00"),
        ("c1", "triage", "complete", "2026-03-02T09:10:00"),
        ("c1", "treat", "start", "2026-03-02T09:30:00"),
        ("c1", "treat", "complete", "2026-03-02T10:00:00"),
    ]
    frame = pl.DataFrame(
        rows,
        schema=["case:concept:name", "concept:name", "lifecycle:transition", "time:timestamp"],
        orient="row",
    ).with_columns(pl.col("time:timestamp").str.to_datetime())
    log = EventLog.open(frame)
    assert log.service_times().select("activity", "mean_s").rows() == [
        ("treat", 1800.0),
        ("triage", 600.0),
    ]
    assert log.performance_dfg().select("source", "target", "mean_s").rows() == [
        ("triage", "treat", 1200.0)
    ]


def test_a_running_collector_serves_the_same_figures(
    clinic_db: Path, tmp_path: Path, start_collector
) -> None:
    db = tmp_path / "live.duckdb"
    db.write_bytes(clinic_db.read_bytes())
    collector = start_collector(db)
    with pytest.raises(MiningError, match="held by a running collector"):
        EventLog.open(db)
    remote = EventLog.open(collector.url)
    local_copy = EventLog.open(clinic_db)
    for name in ("dfg", "variants", "start_activities"):
        _same(getattr(remote, name)(), getattr(local_copy, name)())
    narrowed = remote.filter(workflow="referral", min_duration_s=60)
    expected = local_copy.filter(workflow="referral", min_duration_s=60)
    _same(narrowed.dfg(), expected.dfg())
    assert narrowed.queue_summary(at=datetime(2026, 3, 3)).columns == (
        expected.queue_summary(at=datetime(2026, 3, 3)).columns
    )
    with pytest.raises(InvalidFilter, match="unknown filter"):
        remote.figure("dfg", colour="red")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("missing.xes", "no such file"),
        ("notes.txt", "unknown file type"),
        (42, "cannot open a int"),
        (pl.DataFrame({"case": ["a"], "step": ["x"]}), "lacks column"),
        ("http://127.0.0.1:9", "unreachable"),
    ],
)
def test_bad_sources_say_what_is_wrong(tmp_path: Path, source: object, message: str) -> None:
    if isinstance(source, str) and source == "notes.txt":
        (tmp_path / source).write_text("hello")
    if isinstance(source, str) and not source.startswith("http"):
        source = tmp_path / source
    with pytest.raises(BatonError, match=message):  # MiningError, or UnreachableError
        EventLog.open(source).dfg()


def test_a_database_without_events_says_import_first(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    duckdb.connect(str(db)).close()
    with pytest.raises(MiningError, match="baton import"):
        EventLog.open(db)
