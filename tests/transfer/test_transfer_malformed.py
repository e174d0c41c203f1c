"""A malformed file imports nothing, and the error names the line, row or element at fault."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import duckdb
import pytest

from collector import transfer
from collector.transfer import import_file
from collector.transfer_errors import ImportFailed
from mining.readers import ColumnMapping, ImportOptions

XES = """<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="1849-2016" xmlns="http://www.xes-standard.org/">
  <trace>
    <string key="concept:name" value="c1"/>
    <event>
      <string key="concept:name" value="register"/>
      <date key="time:timestamp" value="2024-01-01T10:00:00+01:00"/>
    </event>
    <event>
      <string key="concept:name" value="decide"/>
      <date key="time:timestamp" value="2024-01-01T11:00:00+01:00"/>
    </event>
  </trace>
</log>
"""
CSV = """case,activity,time
c1,register,2024-01-01T10:00:00Z
c1,decide,2024-01-01T11:00:00Z
c2,register,yesterday
c2,decide,2024-01-02T11:00:00Z
"""
TABLES = ("events", "imports", "ocel_events", "ocel_objects", "ocel_event_objects")


@pytest.fixture
def seeded(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """A database holding one good import, so "nothing imported" is checked against rows."""
    good = tmp_path / "good.xes"
    good.write_text(XES)
    import_file(con, good)
    return con


def _counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    counts = {}
    for table in TABLES:
        try:
            counts[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        except duckdb.CatalogException:
            counts[table] = -1
    return counts


def _fails(con, path: Path, match: str, options: ImportOptions | None = None) -> None:
    before = _counts(con)
    with pytest.raises(ImportFailed, match=match):
        import_file(con, path, options)
    assert _counts(con) == before


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_truncated_xes_names_the_line(seeded, tmp_path: Path) -> None:
    lines = XES.splitlines(keepends=True)
    path = _write(tmp_path, "cut.xes", "".join(lines[:8]))
    _fails(seeded, path, r"cut\.xes: line \d+: malformed XML: .*(end|EOF)")


def test_truncated_gzip_xes_fails_whole(seeded, tmp_path: Path) -> None:
    data = gzip.compress(XES.encode() * 1)
    path = tmp_path / "cut.xes.gz"
    path.write_bytes(data[: len(data) // 2])
    _fails(seeded, path, r"cut\.xes\.gz: (corrupt or truncated gzip data|line \d+: malformed)")


def test_xes_event_without_timestamp_names_its_line(seeded, tmp_path: Path) -> None:
    text = XES.replace('      <date key="time:timestamp" value="2024-01-01T11:00:00+01:00"/>\n', "")
    _fails(seeded, _write(tmp_path, "no-ts.xes", text), r"line 9: <event> has no time:timestamp")


def test_xes_bad_date_names_its_event_line(seeded, tmp_path: Path) -> None:
    text = XES.replace("2024-01-01T11:00:00+01:00", "next tuesday")
    _fails(
        seeded, _write(tmp_path, "bad.xes", text), r"line 9: <event> time:timestamp 'next tuesday'"
    )


def test_xes_trace_without_name_names_its_line(seeded, tmp_path: Path) -> None:
    text = XES.replace('    <string key="concept:name" value="c1"/>\n', "")
    _fails(seeded, _write(tmp_path, "anon.xes", text), r"line 3: <trace> has no concept:name")


def test_xml_that_is_not_xes_is_refused(seeded, tmp_path: Path) -> None:
    path = _write(tmp_path, "other.xes", "<?xml version='1.0'?><html><body/></html>")
    _fails(seeded, path, r"not an XES log \(root element is <html>")


def test_csv_bad_timestamp_names_the_line(seeded, tmp_path: Path) -> None:
    _fails(
        seeded,
        _write(tmp_path, "bad.csv", CSV),
        r"bad\.csv: line 4: column 'time': 'yesterday' is not a date-time",
    )


def test_csv_empty_case_names_the_line(seeded, tmp_path: Path) -> None:
    text = CSV.replace("yesterday", "2024-01-02T10:00:00Z").replace("c2,decide", ",decide")
    _fails(seeded, _write(tmp_path, "nocase.csv", text), r"line 5: empty case \(column 'case'\)")


def test_csv_without_known_columns_asks_for_a_mapping(seeded, tmp_path: Path) -> None:
    path = _write(tmp_path, "odd.csv", "who,what,when\nc1,a,2024-01-01\n")
    _fails(seeded, path, r"which column is the case\? give --case-column \(columns: 'who', 'what'")


def test_csv_mapping_to_a_missing_column_lists_the_columns(seeded, tmp_path: Path) -> None:
    options = ImportOptions(columns=ColumnMapping(case="Case ID"))
    _fails(
        seeded,
        _write(tmp_path, "x.csv", CSV),
        r"no column 'Case ID' \(--case-column\); has 'case', 'activity', 'time'",
        options,
    )


def test_csv_timestamp_format_is_used_and_named_in_errors(seeded, tmp_path: Path) -> None:
    text = "case,activity,time\nc1,a,02-01-2024 10:00\nc1,b,31-01-2024 9h\n"
    options = ImportOptions(timestamp_format="%d-%m-%Y %H:%M")
    _fails(seeded, _write(tmp_path, "fmt.csv", text), r"line 3: .*format '%d-%m-%Y %H:%M'", options)


def _ocel(tmp_path: Path, datasets: Path) -> dict:
    return json.loads((datasets / "ocel20_example.jsonocel").read_text())


def test_ocel_json_missing_field_names_the_element(seeded, tmp_path: Path, datasets: Path) -> None:
    document = _ocel(tmp_path, datasets)
    del document["events"][3]["time"]
    path = _write(tmp_path, "log.jsonocel", json.dumps(document))
    _fails(seeded, path, r"log\.jsonocel: events\[3\] \(id 'e4'\): missing 'time'")


def test_ocel_json_relationship_without_object_names_it(seeded, tmp_path, datasets) -> None:
    document = _ocel(tmp_path, datasets)
    del document["events"][0]["relationships"][0]["objectId"]
    path = _write(tmp_path, "log.json", json.dumps(document))
    _fails(seeded, path, r"events\[0\] \(id 'e1'\) relationships\[0\]: missing 'objectId'")


def test_ocel_json_syntax_error_names_line_and_column(seeded, tmp_path, datasets) -> None:
    text = json.dumps(_ocel(tmp_path, datasets), indent=1).replace('"e4"', '"e4",,', 1)
    path = _write(tmp_path, "log.jsonocel", text)
    _fails(seeded, path, r"line \d+ column \d+: malformed JSON")


def test_ocel_json_duplicate_event_id_is_refused(seeded, tmp_path, datasets) -> None:
    document = _ocel(tmp_path, datasets)
    document["events"][5]["id"] = "e1"
    _fails(seeded, _write(tmp_path, "dup.json", json.dumps(document)), r"events\[5\].*duplicate")


def test_ocel_xml_event_without_time_names_its_line(seeded, tmp_path, datasets) -> None:
    text = (datasets / "ocel20_example.xmlocel").read_text()
    text = text.replace(
        '<event id="e2" type="Approve Purchase Requisition" time="2022-01-09T16:30:00">',
        '<event id="e2" type="Approve Purchase Requisition">',
    )
    line = next(i for i, row in enumerate(text.splitlines(), 1) if 'id="e2"' in row)
    _fails(seeded, _write(tmp_path, "log.xmlocel", text), rf"line {line}: <event> has no 'time'")


def test_ocel_bad_event_time_names_the_event(seeded, tmp_path, datasets) -> None:
    document = _ocel(tmp_path, datasets)
    document["events"][2]["time"] = "soon"
    path = _write(tmp_path, "log.jsonocel", json.dumps(document))
    _fails(seeded, path, r"events\[2\] \(id 'e3'\): time 'soon' is not a date-time")


def test_unknown_object_type_lists_the_types(seeded, datasets: Path) -> None:
    options = ImportOptions(object_type="Truck")
    _fails(
        seeded,
        datasets / "ocel20_example.sqlite",
        r"no object type 'Truck' \(object types: 'Invoice', 'Payment', 'Purchase Order'",
        options,
    )


def test_ocel_sqlite_without_its_tables_is_refused(seeded, tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    sqlite3.connect(path).execute(
        "CREATE TABLE event (ocel_id TEXT, ocel_type TEXT)"
    ).connection.close()
    _fails(seeded, path, r"not an OCEL 2.0 SQLite file \(no table 'object'\)")


def test_not_a_sqlite_file_is_refused(seeded, tmp_path: Path) -> None:
    _fails(seeded, _write(tmp_path, "text.sqlite", "hello"), r"not a readable OCEL 2.0 SQLite file")


def test_unknown_file_type_and_missing_file(seeded, tmp_path: Path) -> None:
    _fails(
        seeded, _write(tmp_path, "log.docx", "x"), r"unknown file type \(expected one of .xes.gz"
    )
    _fails(seeded, tmp_path / "absent.xes", r"absent\.xes: no such file")


def test_failure_while_storing_rolls_back_everything(
    seeded, tmp_path, datasets, monkeypatch
) -> None:
    """The events are inserted first; a failure in the OCEL tables undoes them too."""

    def broken(*args, **kwargs):
        raise duckdb.IOException("disk full")

    monkeypatch.setattr(transfer, "_load_ocel", broken)
    _fails(seeded, datasets / "ocel20_example.jsonocel", r"could not store the events: .*disk full")
