"""Import options and identities: start columns, workflows, re-imports, typed Parquet, OCEL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest

from collector.transfer import import_file
from mining.pm4py_bridge import instances_for_pm4py
from mining.readers import ColumnMapping, ImportOptions, SourceFormat

INSTANCES = """case,step,begin,end,who
c1,triage,2024-03-01 08:00:00,2024-03-01 08:10:00,ann
c1,treat,2024-03-01 08:30:00,2024-03-01 09:00:00,bob
c2,triage,,2024-03-01 08:05:00,ann
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_start_column_gives_started_and_completed_events(con, tmp_path: Path) -> None:
    options = ImportOptions(
        columns=ColumnMapping(
            case="case", activity="step", timestamp="end", start="begin", resource="who"
        )
    )
    report = import_file(con, _write(tmp_path, "visits.csv", INSTANCES), options)
    assert report.rows == 5  # the row without a start gives its completion only
    rows = con.execute(
        "SELECT seq, case_id, activity, lifecycle FROM events ORDER BY seq"
    ).fetchall()
    assert rows == [
        (0, "c1", "triage", "started"),
        (1, "c1", "triage", "completed"),
        (2, "c1", "treat", "started"),
        (3, "c1", "treat", "completed"),
        (5, "c2", "triage", "completed"),
    ]
    frame = instances_for_pm4py(con)
    durations = {
        (c, a): (end - start).total_seconds()
        for c, a, start, end in zip(
            frame["case:concept:name"],
            frame["concept:name"],
            frame["start_timestamp"],
            frame["time:timestamp"],
            strict=True,
        )
    }
    assert durations == {("c1", "triage"): 600, ("c1", "treat"): 1800, ("c2", "triage"): 0}


def test_workflow_is_the_file_name_unless_given(con, tmp_path: Path) -> None:
    path = _write(tmp_path, "intake.2024.csv", "case,activity,time\nc1,a,2024-01-01\n")
    assert import_file(con, path).workflows == ("intake.2024",)
    other = duckdb.connect()
    report = import_file(other, path, ImportOptions(workflow="intake"))
    assert (report.workflow, report.inserted) == ("intake", 1)
    assert other.execute("SELECT workflow FROM events").fetchall() == [("intake",)]


def test_same_content_under_another_name_is_the_same_file(con, tmp_path: Path) -> None:
    text = "case,activity,time\nc1,a,2024-01-01\nc1,b,2024-01-02\n"
    first = import_file(con, _write(tmp_path, "a.csv", text))
    second = import_file(con, _write(tmp_path, "copy-of-a.csv", text))
    assert (first.inserted, second.inserted, second.skipped) == (2, 0, 2)
    assert first.import_id == second.import_id
    imports = con.execute("SELECT file_name, inserted FROM imports ORDER BY imported_at").fetchall()
    assert imports == [("a.csv", 2), ("copy-of-a.csv", 0)]


def test_another_mapping_of_the_same_file_is_other_events(con, tmp_path: Path) -> None:
    path = _write(tmp_path, "log.csv", "case,activity,time,unit\nc1,a,2024-01-01,u1\n")
    import_file(con, path)
    remapped = import_file(con, path, ImportOptions(columns=ColumnMapping(case="unit")))
    assert remapped.inserted == 1
    assert con.execute("SELECT count(DISTINCT event_id) FROM events").fetchone() == (2,)


def test_tab_separated_file(con, tmp_path: Path) -> None:
    path = _write(
        tmp_path, "log.tsv", "case\tactivity\ttime\nc1\ta, b\t2024-01-01T10:00:00+02:00\n"
    )
    import_file(con, path)
    row = con.execute("SELECT activity, ts FROM events").fetchone()
    assert row == ("a, b", dt.datetime(2024, 1, 1, 8, 0))


def test_parquet_with_typed_columns_is_mapped(con, tmp_path: Path) -> None:
    path = tmp_path / "typed.parquet"
    pl.DataFrame(
        {
            "ticket": [7, 7, 8],
            "stage": ["open", "close", "open"],
            "at": pl.Series(
                [dt.datetime(2024, 1, 1, 10), dt.datetime(2024, 1, 1, 12), dt.datetime(2024, 1, 2)]
            ).dt.replace_time_zone("Europe/Amsterdam"),
            "cost": [1.5, None, 3.0],
        }
    ).write_parquet(path)
    options = ImportOptions(columns=ColumnMapping(case="ticket", activity="stage", timestamp="at"))
    report = import_file(con, path, options)
    assert (report.rows, report.cases) == (3, 2)
    rows = con.execute("SELECT case_id, ts, attributes FROM events ORDER BY seq").fetchall()
    assert rows == [
        ("7", dt.datetime(2024, 1, 1, 9), {"cost": "1.5"}),
        ("7", dt.datetime(2024, 1, 1, 11), {}),
        ("8", dt.datetime(2024, 1, 1, 23), {"cost": "3.0"}),
    ]


def test_xes_lifecycles_map_onto_the_contract(con, tmp_path: Path) -> None:
    events = "".join(
        f"""<event><string key="concept:name" value="a"/>
        <string key="lifecycle:transition" value="{transition}"/>
        <date key="time:timestamp" value="2024-01-01T10:00:0{i}Z"/></event>"""
        for i, transition in enumerate(["SCHEDULE", "start", "suspend", "ate_abort", "complete"])
    )
    text = f'<log><trace><string key="concept:name" value="c"/>{events}</trace></log>'
    import_file(con, _write(tmp_path, "life.xes", text))
    rows = con.execute("SELECT list(lifecycle ORDER BY seq) FROM events").fetchone()
    assert rows == (["enqueued", "started", "suspend", "failed", "completed"],)


def test_format_can_be_forced_whatever_the_name(con, tmp_path: Path) -> None:
    path = _write(tmp_path, "export.txt", "case,activity,time\nc1,a,2024-01-01\n")
    assert import_file(con, path, ImportOptions(format=SourceFormat.CSV)).rows == 1


def test_ocel_tables_are_stored_once_per_file(con, datasets: Path) -> None:
    path = datasets / "ocel20_example.jsonocel"
    import_file(con, path)
    again = import_file(con, path, ImportOptions(object_type="Purchase Order"))
    assert again.inserted == 5  # another case notion: other rows
    counts = [
        con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("ocel_events", "ocel_objects", "ocel_object_attributes", "imports")
    ]
    assert counts == [13, 9, 12, 2]
    changes = con.execute(
        "SELECT ts, value FROM ocel_object_attributes WHERE object_id = 'R3' ORDER BY ts"
    ).fetchall()
    assert changes[1:] == [
        (dt.datetime(2022, 2, 3, 6, 30), "Yes"),
        (dt.datetime(2022, 2, 3, 22, 30), "No"),
    ]


def test_no_progress_output_when_stderr_is_not_a_terminal(con, datasets: Path, capsys) -> None:
    import_file(con, datasets / "reviewing.xes", progress=True)
    assert capsys.readouterr().err == ""


def test_report_lines_say_what_happened(con, datasets: Path) -> None:
    path = datasets / "running-example.xes"
    import_file(con, path)
    lines = import_file(con, path).lines()
    assert lines[0] == (
        "imported running-example.xes (xes) as workflow 'running-example': "
        "42 events in 6 cases, 0 new, 42 already stored"
    )
    assert lines[-1].endswith("events/s)")


@pytest.mark.parametrize("name", ["log.json", "log.xml", "log.db"])
def test_generic_suffixes_mean_ocel(name: str) -> None:
    from mining.readers import detect_format

    assert detect_format(Path(name)).value.startswith("ocel-")
