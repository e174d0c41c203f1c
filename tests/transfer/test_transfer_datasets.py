"""Every public log in ``../shared/datasets`` imports to what pm4py reads from the same file.

Compared, per event: case, activity, timestamp (UTC, to the microsecond), resource and
lifecycle, as sorted lists, which covers case and event counts, activity counts and
timestamps at once; and per case, the order of activities by ``(ts, seq)`` against pm4py's
stable sort by timestamp, which is what ``seq`` = file order is for.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from collector.transfer import import_file
from mining.readers import ColumnMapping, ImportOptions
from mining.readers._columns import lifecycle_of

XES_LOGS = ["running-example.xes", "08_receipt.xes.gz", "helpdesk.xes.gz", "reviewing.xes"]
SEPSIS = ColumnMapping(case="Case ID", activity="Activity", timestamp="Complete Timestamp")
PATIENTS = ColumnMapping(
    case="patient",
    activity="handling",
    timestamp="time",
    resource="employee",
    lifecycle="registration_type",
)


def _sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple("" if value is None else value for value in row)


def _naive_utc(series: pd.Series) -> list[Any]:
    if series.dt.tz is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    return list(series.dt.to_pydatetime())


def _pm4py_events(frame: pd.DataFrame, case: str, activity: str, ts: str, **optional: str):
    """pm4py's frame as sorted (case, activity, ts, resource, lifecycle) tuples."""
    columns = [
        frame[case].astype(str).tolist(),
        frame[activity].astype(str).tolist(),
        _naive_utc(frame[ts]),
    ]
    for key in ("resource", "lifecycle"):
        name = optional.get(key)
        if name is None or name not in frame:
            columns.append([None] * len(frame))
        else:
            values = frame[name].astype(object).where(frame[name].notna(), None).tolist()
            if key == "lifecycle":
                values = [lifecycle_of(v) for v in values]
            columns.append(values)
    return sorted(zip(*columns, strict=True), key=_sort_key)


def _our_events(con, *, resource: bool = True, lifecycle: bool = True):
    rows = con.execute(
        f"""SELECT case_id, activity, ts,
                   {"resource" if resource else "NULL"},
                   {"lifecycle" if lifecycle else "NULL"}
            FROM events"""
    ).fetchall()
    return sorted(rows, key=_sort_key)


def _pm4py_sequences(frame: pd.DataFrame, case: str, activity: str, ts: str):
    ordered = frame.sort_values([case, ts], kind="stable")
    sequences: dict[str, list[str]] = defaultdict(list)
    for case_id, act in zip(ordered[case].astype(str), ordered[activity].astype(str), strict=True):
        sequences[case_id].append(act)
    return dict(sequences)


def _our_sequences(con):
    rows = con.execute(
        "SELECT case_id, list(activity ORDER BY ts, seq) FROM events GROUP BY case_id"
    ).fetchall()
    return dict(rows)


def _check_xes(con, datasets: Path, name: str, pm4py_quiet) -> None:
    report = import_file(con, datasets / name)
    frame = pm4py_quiet("read_xes", str(datasets / name))
    keys = ("case:concept:name", "concept:name", "time:timestamp")
    assert report.rows == report.inserted == len(frame)
    assert report.cases == frame["case:concept:name"].nunique()
    has_lifecycle = "lifecycle:transition" in frame
    assert _our_events(con, lifecycle=has_lifecycle) == _pm4py_events(
        frame,
        *keys,
        resource="org:resource",
        lifecycle="lifecycle:transition" if has_lifecycle else None,
    )
    assert _our_sequences(con) == _pm4py_sequences(frame, *keys)


@pytest.mark.parametrize("name", XES_LOGS)
def test_xes_log_matches_pm4py(con, datasets: Path, name: str, pm4py_quiet) -> None:
    _check_xes(con, datasets, name, pm4py_quiet)


@pytest.mark.slow
def test_bpic2012_matches_pm4py(con, datasets: Path, pm4py_quiet) -> None:
    """262,200 events mixing SCHEDULE, START and COMPLETE: the standard size test."""
    _check_xes(con, datasets, "bpic2012.xes.gz", pm4py_quiet)
    lifecycles = dict(con.execute("SELECT lifecycle, count(*) FROM events GROUP BY 1").fetchall())
    assert lifecycles == {"completed": 164506, "started": 71376, "enqueued": 26318}


@pytest.mark.parametrize(
    ("name", "mapping", "separator"),
    [("sepsis.csv", SEPSIS, ";"), ("patients.csv", PATIENTS, ",")],
)
def test_csv_log_matches_pm4py(
    con, datasets: Path, name: str, mapping: ColumnMapping, separator: str, pm4py_quiet
) -> None:
    report = import_file(con, datasets / name, ImportOptions(columns=mapping))
    # Only empty fields are missing: pandas' default would read sepsis' case "NA" (24 events)
    # as a missing value and pm4py would then drop the case.
    raw = pd.read_csv(datasets / name, sep=separator, keep_default_na=False, na_values=[""])
    frame = pm4py_quiet(
        "format_dataframe",
        raw,
        case_id=mapping.case,
        activity_key=mapping.activity,
        timestamp_key=mapping.timestamp,
    )
    keys = ("case:concept:name", "concept:name", "time:timestamp")
    assert report.rows == len(frame)
    assert report.cases == frame["case:concept:name"].nunique()
    has_resource = mapping.resource is not None
    expected = _pm4py_events(
        frame,
        *keys,
        resource=mapping.resource if has_resource else None,
        lifecycle=mapping.lifecycle or "lifecycle:transition",
    )
    assert _our_events(con, resource=has_resource) == expected
    assert _our_sequences(con) == _pm4py_sequences(frame, *keys)


def test_csv_separator_is_guessed_from_the_header(con, datasets: Path) -> None:
    report = import_file(con, datasets / "sepsis.csv", ImportOptions(columns=SEPSIS))
    assert (report.rows, report.cases) == (15214, 1050)
    (groups,) = con.execute("SELECT count(DISTINCT attributes['org:group']) FROM events").fetchone()
    assert groups > 1  # org:group went into attributes, column by column


@pytest.mark.parametrize(
    ("suffix", "reader"),
    [
        ("jsonocel", "read_ocel2_json"),
        ("xmlocel", "read_ocel2_xml"),
        ("sqlite", "read_ocel2_sqlite"),
    ],
)
def test_ocel_log_matches_pm4py_for_every_object_type(
    datasets: Path, suffix: str, reader: str, pm4py_quiet, tmp_path: Path
) -> None:
    import duckdb

    path = datasets / f"ocel20_example.{suffix}"
    ocel = pm4py_quiet(reader, str(path))
    object_types = sorted(ocel.objects["ocel:type"].unique())
    assert len(object_types) == 4
    for object_type in object_types:
        con = duckdb.connect()
        report = import_file(con, path, ImportOptions(object_type=object_type))
        flat = pm4py_quiet("ocel_flattening", ocel, object_type)
        keys = ("case:concept:name", "concept:name", "time:timestamp")
        assert report.object_type == object_type
        ours = _our_events(con, resource=False, lifecycle=False)
        assert ours == _pm4py_events(flat, *keys), object_type
        assert _our_sequences(con) == _pm4py_sequences(flat, *keys)
        counts = [
            con.execute(f"SELECT count(*) FROM {table}").fetchone()
            for table in (
                "ocel_events",
                "ocel_objects",
                "ocel_event_objects",
                "ocel_object_objects",
            )
        ]
        assert counts == [
            (len(ocel.events),),
            (len(ocel.objects),),
            (len(ocel.relations),),
            (len(ocel.o2o),),
        ]
        con.close()


def test_ocel_default_case_notion_is_the_type_with_most_events(con, datasets: Path) -> None:
    report = import_file(con, datasets / "ocel20_example.jsonocel")
    assert report.object_type == "Invoice"
    assert "related to most events (9 of 13)" in report.notes[0]
    rows = con.execute(
        "SELECT attributes['ocel:eid'], case_id FROM events ORDER BY seq, case_id"
    ).fetchall()
    assert len(rows) == report.rows == 9
    assert rows[0] == ("e5", "R1")  # the first event touching an invoice, kept as ocel:eid


def _pm4py_interval_dfg(pm4py_quiet, frame: pd.DataFrame):
    """pm4py's own pairing of start and complete events, then its DFGs on the intervals."""
    from pm4py.objects.log.util import interval_lifecycle

    log = pm4py_quiet("convert_to_event_log", frame)
    intervals = pm4py_quiet("convert_to_dataframe", interval_lifecycle.to_interval(log))
    frequency, _, _ = pm4py_quiet("discover_dfg", intervals)
    performance = pm4py_quiet("discover_performance_dfg", intervals)[0]
    return dict(frequency), {edge: stats["mean"] for edge, stats in performance.items()}


@pytest.mark.parametrize("name", ["reviewing.xes", "patients.csv"])
def test_start_complete_logs_give_pm4py_interval_dfg(
    con, datasets: Path, name, pm4py_quiet
) -> None:
    """Imported start/complete events pair into the same instances pm4py pairs itself.

    The mining DFG (frequency and mean waiting time, start of b minus end of a) over the
    imported file equals pm4py's DFGs over ``interval_lifecycle.to_interval`` of the file.
    """
    from mining.registry import compute

    if name.endswith(".csv"):
        import_file(con, datasets / name, ImportOptions(columns=PATIENTS))
        raw = pd.read_csv(datasets / name, keep_default_na=False, na_values=[""])
        frame = pm4py_quiet(
            "format_dataframe",
            raw,
            case_id="patient",
            activity_key="handling",
            timestamp_key="time",
        ).rename(columns={"registration_type": "lifecycle:transition", "employee": "org:resource"})
    else:
        import_file(con, datasets / name)
        frame = pm4py_quiet("read_xes", str(datasets / name))
    frequency, waiting = _pm4py_interval_dfg(pm4py_quiet, frame)
    ours = compute("dfg", con).to_dicts()
    assert {(r["source"], r["target"]): r["frequency"] for r in ours} == frequency
    for row in ours:
        assert row["mean_wait_s"] == pytest.approx(waiting[(row["source"], row["target"])])
