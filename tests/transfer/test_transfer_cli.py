"""``import_command`` and ``export_command`` as the root CLI will mount them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from baton.errors import BatonError
from collector.errors import DatabaseLocked, StoreNotFound
from collector.store import open_readonly
from collector.transfer_cli import export_command, import_command
from collector.transfer_errors import ImportFailed

_HOLD = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command("import")(import_command)
    app.command("export")(export_command)
    return app


def _run(app: typer.Typer, *args: str):
    return CliRunner().invoke(app, list(args))


def test_import_then_export(cli, datasets: Path, tmp_path: Path) -> None:
    db = tmp_path / "state" / "baton.duckdb"
    result = _run(
        cli,
        "import",
        str(datasets / "patients.csv"),
        "--db",
        str(db),
        "--case-column",
        "patient",
        "--activity-column",
        "handling",
        "--timestamp-column",
        "time",
        "--resource-column",
        "employee",
        "--lifecycle-column",
        "registration_type",
        "--workflow",
        "clinic",
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        "imported patients.csv (csv) as workflow 'clinic': 5442 events in 500 cases, 5442 new\n"
    )
    out = tmp_path / "clinic.xes.gz"
    result = _run(cli, "export", str(out), "--db", str(db), "--format", "xes")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"exported 5442 events in 500 cases to {out} (xes)")
    con = open_readonly(db)
    try:
        assert con.execute("SELECT count(*) FROM imports").fetchone() == (1,)
    finally:
        con.close()


def test_ocel_object_type_option(cli, datasets: Path, tmp_path: Path) -> None:
    db = tmp_path / "baton.duckdb"
    path = datasets / "ocel20_example.xmlocel"
    result = _run(cli, "import", str(path), "--db", str(db), "--object-type", "Purchase Order")
    assert result.exit_code == 0, result.output
    assert "case notion: object type 'Purchase Order' (5 of 13 events)" in result.output


def test_csv_options_reach_the_reader(cli, tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("k|what|when\nc1|a|02/01/2024 10:00\n")
    db = tmp_path / "baton.duckdb"
    result = _run(
        cli,
        "import",
        str(path),
        "--db",
        str(db),
        "--separator",
        "|",
        "--case-column",
        "k",
        "--activity-column",
        "what",
        "--timestamp-column",
        "when",
        "--timestamp-format",
        "%d/%m/%Y %H:%M",
    )
    assert result.exit_code == 0, result.output
    con = open_readonly(db)
    try:
        assert con.execute("SELECT strftime(ts, '%Y-%m-%d %H:%M') FROM events").fetchone() == (
            "2024-01-02 10:00",
        )
    finally:
        con.close()


def test_errors_are_baton_errors(cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("case,activity,time\nc1,a,never\n")
    result = _run(cli, "import", str(bad), "--db", str(tmp_path / "b.duckdb"))
    assert isinstance(result.exception, ImportFailed)
    assert isinstance(result.exception, BatonError)
    assert "line 2" in str(result.exception)
    result = _run(
        cli,
        "export",
        str(tmp_path / "x.csv"),
        "--db",
        str(tmp_path / "no.duckdb"),
        "--format",
        "csv",
    )
    assert isinstance(result.exception, StoreNotFound)


def test_db_held_by_another_process_is_reported(cli, datasets: Path, tmp_path: Path) -> None:
    db = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        result = _run(cli, "import", str(datasets / "running-example.xes"), "--db", str(db))
        assert isinstance(result.exception, DatabaseLocked)
        assert "held by another process" in str(result.exception)
        result = _run(cli, "export", str(tmp_path / "x.csv"), "--db", str(db), "--format", "csv")
        assert isinstance(result.exception, DatabaseLocked)
    finally:
        holder.communicate("", timeout=20)


def test_db_defaults_to_the_collector_setting(
    cli, datasets: Path, tmp_path: Path, monkeypatch
) -> None:
    db = tmp_path / "from-env.duckdb"
    monkeypatch.setenv("BATON_COLLECTOR_DB", str(db))
    result = _run(cli, "import", str(datasets / "running-example.xes"))
    assert result.exit_code == 0, result.output
    assert db.is_file()
