"""Discovery as an offline job: pm4py's inductive miner on the activity-instance view, written
as PNML and BPMN that replay the clinic sample log, from the library and from the CLI."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from mining import FIGURES, EmptyLog, Filters, InvalidFilter, discover
from mining.pm4py_bridge import instances_for_pm4py
from mining.schema import create_events_table

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_logs" / "clinic.parquet"


def quiet_pm4py() -> Any:
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pm4py
    return pm4py


@pytest.fixture(scope="module")
def sample() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(":memory:")
    create_events_table(con)
    con.execute(f"INSERT INTO events SELECT * FROM read_parquet('{SAMPLE}')")
    yield con
    con.close()


def replay_fitness(
    con: duckdb.DuckDBPyConnection, pnml: Path, filters: Filters | None = None
) -> Any:
    pm4py = quiet_pm4py()
    net, initial, final = pm4py.read_pnml(str(pnml))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return net, pm4py.fitness_token_based_replay(
            instances_for_pm4py(con, filters), net, initial, final
        )


def test_discovered_model_replays_the_sample_log(
    sample: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    model = discover(sample, tmp_path / "models")
    assert model.pnml == tmp_path / "models" / "discovered.pnml" and model.pnml.stat().st_size
    assert model.bpmn == tmp_path / "models" / "discovered.bpmn" and model.bpmn.stat().st_size
    instances = instances_for_pm4py(sample)
    assert model.activity_instances == len(instances)
    assert model.cases == instances["case:concept:name"].nunique()
    net, fitness = replay_fitness(sample, model.pnml)
    assert fitness["log_fitness"] >= 0.99
    assert fitness["perc_fit_traces"] >= 99.0
    activities = set(instances["concept:name"])
    assert {t.label for t in net.transitions if t.label} == activities


def test_bpmn_holds_every_activity_and_a_layout(
    sample: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    model = discover(sample, tmp_path, name="clinic")
    pm4py = quiet_pm4py()
    diagram = pm4py.read_bpmn(str(model.bpmn))
    tasks = {n.get_name() for n in diagram.get_nodes() if type(n).__name__ == "Task"}
    assert tasks == set(instances_for_pm4py(sample)["concept:name"])
    bounds = [
        (b.get("x"), b.get("y"))
        for b in ET.parse(model.bpmn).iter("{http://www.omg.org/spec/DD/20100524/DC}Bounds")
    ]
    assert len(bounds) == len(diagram.get_nodes())
    assert len(set(bounds)) == len(bounds)  # laid out: no two shapes on top of each other


def test_filters_and_noise_reach_the_miner(
    sample: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    only = Filters(workflow="prior_auth")
    model = discover(sample, tmp_path, only, name="prior_auth", noise_threshold=0.2)
    net, fitness = replay_fitness(sample, model.pnml, only)
    assert {t.label for t in net.transitions if t.label} == {
        "check_pa_required", "submit_prior_auth", "check_pa_status",
    }  # fmt: skip
    assert fitness["log_fitness"] > 0.9


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"filters": Filters(workflow="no such workflow")}, EmptyLog, "no activity instances"),
        ({"noise_threshold": 1.5}, InvalidFilter, "between 0 and 1"),
        ({"name": "../escape"}, InvalidFilter, "plain file name"),
    ],
)
def test_unusable_requests_fail_clearly(
    sample: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    kwargs: dict[str, Any],
    error: type[Exception],
    match: str,
) -> None:
    with pytest.raises(error, match=match):
        discover(sample, tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_discovery_is_not_a_figure_of_the_query_api() -> None:
    assert not any("discover" in name for name in FIGURES)


# -- the CLI command, as the `baton mine` group registers it ----------------------------------

#: A ``baton mine`` stand-in: registers the command and reports Baton errors as the root does.
APP = """
import sys
import typer
from baton.errors import BatonError
from mining.cli_discover import discover_command

app = typer.Typer(pretty_exceptions_enable=False)
app.command("discover")(discover_command)
app.command("version")(lambda: None)
try:
    app(sys.argv[1:])
except BatonError as exc:
    typer.echo(f"error: {exc}", err=True)
    sys.exit(1)
"""


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", APP, *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def test_cli_writes_the_files_and_prints_only_json(tmp_path: Path) -> None:
    """A fresh process imports pm4py: its licence banner must not reach stdout."""
    db = tmp_path / "clinic.duckdb"
    with duckdb.connect(str(db)) as con:
        create_events_table(con)
        con.execute(f"INSERT INTO events SELECT * FROM read_parquet('{SAMPLE}')")
    done = run_cli(
        "discover", "--db", str(db), "--out", str(tmp_path / "out"), "--json",
        "--workflow", "referral", "--name", "referral", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["pnml"] == str(tmp_path / "out" / "referral.pnml")
    assert Path(result["pnml"]).is_file() and Path(result["bpmn"]).is_file()
    assert result["cases"] > 0 and result["activity_instances"] >= result["cases"]
    assert "PM4Py" not in done.stdout


def test_cli_reads_a_parquet_log_and_rejects_a_missing_file(tmp_path: Path) -> None:
    done = run_cli("discover", "--db", str(SAMPLE), "--out", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-2:] == [str(tmp_path / "discovered.pnml"), str(tmp_path / "discovered.bpmn")]
    missing = run_cli("discover", "--db", str(tmp_path / "nope.duckdb"), cwd=tmp_path)
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr


def test_cli_says_when_another_process_holds_the_database(tmp_path: Path) -> None:
    db = tmp_path / "held.duckdb"
    with duckdb.connect(str(db)) as holder:
        create_events_table(holder)
        done = run_cli("discover", "--db", str(db), "--out", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: {db} is open in another process (a running collector?)")
    assert not (tmp_path / "discovered.pnml").exists()
