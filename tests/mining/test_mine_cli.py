"""``baton mine``: every figure from a file or a collector, as a table, JSON or CSV, and its
error paths (one line, exit 1)."""

from __future__ import annotations

import csv
import io
import json
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import polars as pl
import pytest

from baton.cli import main
from collector.transfer import import_file
from mining import FIGURES, compute
from mining.filters import Filters

CLINIC = Path(__file__).resolve().parents[2] / "sample_logs" / "clinic.parquet"
TEST_KEY = "test-pseudonym-key-0123456789abcdef"


@pytest.fixture(scope="module")
def clinic_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file holding the clinic sample, as ``baton import`` writes it."""
    path = tmp_path_factory.mktemp("mine") / "clinic.duckdb"
    con = duckdb.connect(str(path))
    try:
        import_file(con, CLINIC)
    finally:
        con.close()
    return path


@pytest.fixture
def baton(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run the root CLI in-process: ``(exit code, stdout, stderr)``."""

    def run(*args: str) -> tuple[int, str, str]:
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def expected(db: Path, name: str, values: dict[str, str] | None = None) -> pl.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return compute(name, con, values)
    finally:
        con.close()


def test_list_names_every_figure_with_a_line_of_doc(baton) -> None:
    for args in (("mine", "--list"), ("mine", "list")):
        code, out, _ = baton(*args)
        assert code == 0
        listed = {line.split()[0] for line in out.splitlines() if line.strip()}
        assert listed == set(FIGURES)
        assert all(len(line.split(maxsplit=1)) == 2 for line in out.splitlines())


@pytest.mark.parametrize(
    ("name", "args", "values"),
    [
        ("queue_wait", ["--workflow", "prior_auth"], {"workflow": "prior_auth"}),
        ("throughput", ["--param", "every=1h"], {"every": "1h"}),
        ("sla", ["--payer", "Medicare", "--param", "by=workflow"],
         {"payer": "Medicare", "by": "workflow"}),
        ("retry_hotspots", ["--since", "2026-03-03T00:00:00Z", "--param", "by=activity,payer"],
         {"since": "2026-03-03T00:00:00Z", "by": "activity,payer"}),
        ("handover", ["--attr", "baton.max_attempts=4"], {"attr.baton.max_attempts": "4"}),
    ],
)  # fmt: skip
def test_json_equals_the_figure(baton, clinic_db, name, args, values) -> None:
    code, out, err = baton("mine", name, "--db", str(clinic_db), *args, "--json")
    assert code == 0, err
    rows = json.loads(out)
    want = expected(clinic_db, name, values)
    assert len(rows) == want.height > 0
    got = pl.DataFrame(rows)
    assert got.columns == want.columns
    for column in want.columns:
        mine = got[column].to_list()
        theirs = want[column].to_list()
        if want[column].dtype.is_temporal():
            assert all(v.endswith("Z") for v in mine if v is not None)
            theirs = [v.isoformat() + "Z" if v is not None else None for v in theirs]
        if want[column].dtype.is_float():
            assert mine == pytest.approx(theirs, nan_ok=True)
        else:
            assert mine == theirs


def test_csv_has_a_header_and_every_row(baton, clinic_db) -> None:
    code, out, _ = baton("mine", "dotted_chart", "--db", str(clinic_db), "--param", "limit=40",
                         "--csv")  # fmt: skip
    assert code == 0
    table = list(csv.DictReader(io.StringIO(out)))
    want = expected(clinic_db, "dotted_chart", {"limit": "40"})
    assert len(table) == 40
    assert list(table[0]) == want.columns
    assert table[0]["ts"].endswith("Z") and "T" in table[0]["ts"]
    assert [r["case_id"] for r in table] == want["case_id"].to_list()


def test_default_output_is_a_table(baton, clinic_db) -> None:
    code, out, _ = baton("mine", "queue_wait", "--db", str(clinic_db))
    assert code == 0
    assert out.startswith("queue_wait (9 rows)")
    for queue in expected(clinic_db, "queue_wait")["queue"]:
        assert queue in out


def test_filter_options_follow_the_filters_dataclass(baton) -> None:
    import dataclasses

    code, out, _ = baton("mine", "queue_wait", "--help")
    assert code == 0
    for field in dataclasses.fields(Filters):
        if field.name != "attributes":
            assert "--" + field.name.replace("_", "-") in out
    assert "--attr" in out and "--param" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["mine", "no_such_figure", "--db", "{db}"], "error: no figure named 'no_such_figure'"),
        (["mine", "queue_wait", "--db", "{db}", "--since", "yesterday"],
         "error: since: 'yesterday' is not an ISO-8601 time"),
        (["mine", "queue_wait", "--db", "{db}", "--param", "colour=red"],
         "error: unknown filter: colour"),
        (["mine", "queue_wait", "--db", "{db}", "--param", "novalue"],
         "error: --param 'novalue': expected name=value"),
        (["mine", "throughput", "--db", "{db}", "--param", "every=2d"], "error: every: '2d'"),
        (["mine", "case_timeline", "--db", "{db}"], "error: case_timeline needs case_id"),
        (["mine", "queue_wait", "--db", "{missing}"], "does not exist"),
    ],
)  # fmt: skip
def test_errors_are_one_line_and_exit_1(baton, clinic_db, tmp_path, args, message) -> None:
    argv = [a.format(db=clinic_db, missing=tmp_path / "missing.duckdb") for a in args]
    code, out, err = baton(*argv)
    assert code == 1
    assert out == ""
    assert err.startswith("error: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "missing.duckdb").exists()


def test_no_source_and_two_formats_are_usage_errors(baton, clinic_db) -> None:
    assert baton("mine", "queue_wait")[0] == 2
    assert baton("mine", "queue_wait", "--db", str(clinic_db), "--json", "--csv")[0] == 2


def test_a_file_held_by_a_collector_names_it_and_collector_answers(
    baton, clinic_db, tmp_path, start_collector
) -> None:
    db = tmp_path / "live.duckdb"
    db.write_bytes(clinic_db.read_bytes())
    want = expected(db, "rework")
    collector = start_collector(db)
    code, out, err = baton("mine", "rework", "--db", str(db))
    assert code == 1
    assert err == f"error: {db} is held by a running collector; use --collector {collector.url}\n"
    code, out, err = baton("mine", "rework", "--collector", collector.url, "--json")
    assert code == 0, err
    assert pl.DataFrame(json.loads(out)).equals(want)
    code, out, err = baton("mine", "no_such_figure", "--collector", collector.url)
    assert code == 1
    assert err.startswith("error: no figure named 'no_such_figure'")
    code, out, err = baton("mine", "queue_wait", "--collector", collector.url,
                           "--since", "later")  # fmt: skip
    assert (code, err) == (1, "error: since: 'later' is not an ISO-8601 time\n")


def test_unreachable_collector(baton) -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, _, err = baton("mine", "queue_wait", "--collector", f"http://127.0.0.1:{port}")
    assert code == 1
    assert err.startswith("error: collector unreachable at http://127.0.0.1:")


def test_pm4py_is_never_imported_nor_its_banner_printed(clinic_db, tmp_path) -> None:
    script = (
        "import sys\n"
        "from baton.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('pm4py' in sys.modules, file=sys.stderr)\n"
    )
    env = {"BATON_PSEUDONYM_KEY": TEST_KEY, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script, "mine", "handover", "--db", str(clinic_db), "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "False"
    assert json.loads(done.stdout)  # nothing but JSON on stdout
