"""Export, then import: every format gives back the same rows, every column.

Sources are a Baton-native table (every lifecycle, queues, retries, due times, awkward
attribute text) and imported public logs; an absent ``attributes`` map comes back empty,
the one difference no format can carry.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from collector.exporters import ExportFormat
from collector.transfer import export_events, import_file
from collector.transfer_errors import ExportFailed
from mining.readers import ColumnMapping, ImportOptions
from mining.schema import create_events_table

OUTPUTS = [
    (ExportFormat.XES, "log.xes"),
    (ExportFormat.XES, "log.xes.gz"),
    (ExportFormat.OCEL, "log.jsonocel"),
    (ExportFormat.CSV, "log.csv"),
    (ExportFormat.PARQUET, "log.parquet"),
]

NATIVE_ROWS = """
INSERT INTO events VALUES
('e01', 1, 'case_a', 'referral', '3', 'verify', 'enqueued', '2026-03-02 09:00:00', NULL, NULL,
 'verify', 1, 2, '2026-03-03 09:00:00', 'acme', 'north', NULL, NULL, NULL, 'aa', 'b1',
 MAP {'baton.item_id': 'item-a', 'case:channel': 'fax'}),
('e02', 2, 'case_a', 'referral', '3', 'verify', 'started', '2026-03-02 09:05:00.123456',
 'eligibility_bot#2', 'bot', 'verify', 1, 2, NULL, 'acme', 'north', NULL, NULL, NULL, 'aa',
 'b2', MAP {'case:channel': 'fax', 'note': 'line one
line two	tabbed "quoted" <b>&amp;</b> ünïcødé  '}),
('e03', 3, 'case_a', 'referral', '3', 'verify', 'failed', '2026-03-02 09:05:00.123456',
 'eligibility_bot#2', 'bot', 'verify', 1, 2, NULL, 'acme', 'north', 'application',
 'PortalTimeout', NULL, 'aa', 'b2', MAP {'case:channel': 'fax'}),
('e04', 4, 'case_a', 'referral', '3', 'verify', 'retried', '2026-03-02 09:05:00.123456',
 NULL, 'system', 'verify', 2, 2, NULL, 'acme', 'north', NULL, NULL, NULL, 'aa', 'b3',
 MAP {'case:channel': 'fax'}),
('e05', 5, 'case_a', 'referral', '3', 'verify', 'escalated', '2026-03-02 10:00:00', NULL,
 'system', 'workbench', 3, 2, NULL, 'acme', 'north', 'timeout', 'Timeout', NULL, 'aa', 'b4',
 MAP {'case:channel': 'fax'}),
('e06', 6, 'case_a', 'referral', '3', 'verify', 'resumed', '2026-03-02 11:00:00', 'u_71',
 'human', 'workbench', 3, 2, NULL, 'acme', 'north', NULL, NULL, 'approved', 'aa', 'b5',
 MAP {'case:channel': 'fax'}),
('e07', 7, 'case_a', 'referral', '3', 'submit', 'abandoned', '2026-03-02 11:30:00',
 'submit_bot#1', 'bot', 'submit', 1, 2, NULL, 'acme', 'north', NULL, NULL, NULL, 'aa', 'b6',
 MAP {'case:channel': 'fax'}),
('e08', 9000000000, 'case_a', 'referral', '3', 'submit', 'completed',
 '2026-03-02 11:30:00', 'submit_bot#1', 'bot', 'submit', 2, 2, NULL, 'acme', 'north',
 'business', NULL, 'not_required', 'aa', 'b7', MAP {'case:channel': 'fax'}),
('e09', 1, 'case_b', 'claims', NULL, 'intake', 'completed', '2026-03-01 08:00:00', NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, MAP {}),
('e10', 2, 'case_b', 'claims', NULL, 'review', 'suspend', '2026-03-01 08:00:00', 'r', NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
"""

SAME_ROWS_SQL = """
SELECT * EXCLUDE (attributes), list_sort(coalesce(map_entries(attributes), [])) AS attributes
FROM events ORDER BY event_id
"""


def _rows(connection: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    return connection.execute(SAME_ROWS_SQL).fetchall()


@pytest.fixture
def native(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A table as the collector stores Baton's own events."""
    create_events_table(con)
    con.execute(NATIVE_ROWS)
    return con


@pytest.fixture(params=["reviewing.xes", "ocel20_example.xmlocel", "patients.csv"])
def imported(request, con, datasets: Path) -> duckdb.DuckDBPyConnection:
    """A table imported from a public log (start/complete XES, OCEL, start/complete CSV)."""
    options = ImportOptions()
    if request.param == "patients.csv":
        options = ImportOptions(
            columns=ColumnMapping(
                case="patient",
                activity="handling",
                timestamp="time",
                resource="employee",
                lifecycle="registration_type",
            )
        )
    import_file(con, datasets / request.param, options)
    return con


def _round_trip(source: duckdb.DuckDBPyConnection, fmt: ExportFormat, out: Path) -> None:
    expected = _rows(source)
    report = export_events(source, fmt, out)
    assert report.rows == len(expected)
    target = duckdb.connect()
    try:
        first = import_file(target, out)
        assert first.inserted == len(expected)
        assert _rows(target) == expected
        again = import_file(target, out)
        assert (again.inserted, again.skipped) == (0, len(expected))
    finally:
        target.close()


@pytest.mark.parametrize(("fmt", "name"), OUTPUTS)
def test_native_events_round_trip(native, fmt: ExportFormat, name: str, tmp_path: Path) -> None:
    _round_trip(native, fmt, tmp_path / name)


@pytest.mark.parametrize(("fmt", "name"), OUTPUTS)
def test_imported_logs_round_trip(imported, fmt: ExportFormat, name: str, tmp_path: Path) -> None:
    _round_trip(imported, fmt, tmp_path / name)


@pytest.mark.parametrize(("fmt", "name"), OUTPUTS)
def test_exports_are_deterministic(native, fmt: ExportFormat, name: str, tmp_path: Path) -> None:
    first, second = tmp_path / "a" / name, tmp_path / "b" / name
    export_events(native, fmt, first)
    export_events(native, fmt, second)
    if fmt is ExportFormat.PARQUET:
        assert (
            duckdb.sql(f"SELECT * FROM '{first}'").fetchall()
            == duckdb.sql(f"SELECT * FROM '{second}'").fetchall()
        )
    elif name.endswith(".gz"):
        import gzip

        assert gzip.decompress(first.read_bytes()) == gzip.decompress(second.read_bytes())
    else:
        assert first.read_bytes() == second.read_bytes()


def test_pm4py_reads_the_exported_xes(native, tmp_path: Path, pm4py_quiet) -> None:
    out = tmp_path / "log.xes"
    export_events(native, ExportFormat.XES, out)
    frame = pm4py_quiet("read_xes", str(out))
    theirs = sorted(
        zip(
            frame["case:concept:name"],
            frame["concept:name"],
            frame["time:timestamp"].dt.tz_convert("UTC").dt.tz_localize(None).dt.to_pydatetime(),
            frame["lifecycle:transition"],
            strict=True,
        )
    )
    ours = native.execute("SELECT case_id, activity, ts, lifecycle FROM events").fetchall()
    transitions = {"enqueued": "schedule", "started": "start", "completed": "complete"}
    transitions["failed"] = "ate_abort"
    assert theirs == sorted((c, a, t, transitions.get(lc, lc)) for c, a, t, lc in ours)
    note = frame.loc[frame["concept:name"] == "verify", "note"].dropna().tolist()
    assert note == ['line one\nline two\ttabbed "quoted" <b>&amp;</b> ünïcødé  ']
    assert set(frame["case:channel"].dropna()) == {
        "fax"
    }  # shared case: attributes sit on the trace


def test_pm4py_reads_the_exported_ocel(native, tmp_path: Path, pm4py_quiet) -> None:
    out = tmp_path / "log.jsonocel"
    export_events(native, ExportFormat.OCEL, out)
    ocel = pm4py_quiet("read_ocel2_json", str(out))
    assert len(ocel.events) == 10
    types = ocel.objects["ocel:type"].value_counts().to_dict()
    assert types == {"case": 2, "queue": 3, "resource": 4}
    flat = pm4py_quiet("ocel_flattening", ocel, "queue")
    assert set(flat["case:concept:name"]) == {"queue:verify", "queue:workbench", "queue:submit"}


def test_unknown_export_format_is_an_export_error(native, tmp_path: Path) -> None:
    with pytest.raises(ExportFailed, match="unknown export format 'zip'"):
        export_events(native, "zip", tmp_path / "x.zip")


def test_export_without_events_table_says_so(con, tmp_path: Path) -> None:
    with pytest.raises(ExportFailed, match="no events table"):
        export_events(con, ExportFormat.CSV, tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()


def test_failed_export_leaves_no_file(native, tmp_path: Path, monkeypatch) -> None:
    from collector.exporters import xes

    def broken(rows):
        raise RuntimeError("disk full")

    monkeypatch.setattr(xes, "_trace", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        export_events(native, ExportFormat.XES, tmp_path / "out" / "log.xes")
    assert list((tmp_path / "out").iterdir()) == []
