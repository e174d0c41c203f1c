"""Conformance against the playbook: the clinic's own simulation conforms, hand-built deviations
are reported with their kind and span id, and pm4py's token replay agrees on the compiled net."""

from __future__ import annotations

import contextlib
import io
import os
import time
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from mining import Filters, InvalidFilter, ProcessModel, compute, conformance, deviations
from mining.conformance import conformance_over_time, executions
from mining.schema import create_events_table
from orchestrator.playbook import load_playbook

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_logs" / "clinic.parquet"
#: Every sample log of the clinic: an ordinary simulation and the payer-outage scenario.
SAMPLES = (SAMPLE, ROOT / "sample_logs" / "clinic-payer-outage.parquet")
PLAYBOOKS = sorted((ROOT / "orchestrator" / "playbooks").glob("*.yaml"))
PRIOR_AUTH = ROOT / "orchestrator" / "playbooks" / "prior_auth.yaml"


def quiet_pm4py() -> Any:
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pm4py
    return pm4py


def pm4py_replay(con: duckdb.DuckDBPyConnection, model: ProcessModel) -> pl.DataFrame:
    """pm4py's token-based replay of the model's executions on the compiled net, per case."""
    pm4py = quiet_pm4py()
    frame = (
        executions(con, model)
        .rename(
            {"case_id": "case:concept:name", "activity": "concept:name", "ts": "time:timestamp"}
        )
        .to_pandas()
    )
    net, initial, final = model.petri_net()
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        result = pm4py.conformance_diagnostics_token_based_replay(
            frame, net, initial, final, return_diagnostics_dataframe=True
        )
    return pl.from_pandas(result[["case_id", "is_fit", "trace_fitness"]])


def load(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    create_events_table(con)
    con.execute(f"INSERT INTO events SELECT * FROM read_parquet('{path}')")
    return con


@pytest.fixture(scope="module")
def sample() -> Iterator[duckdb.DuckDBPyConnection]:
    con = load(SAMPLE)
    yield con
    con.close()


@pytest.fixture(scope="module", params=SAMPLES, ids=lambda p: p.stem)
def clinic(request: pytest.FixtureRequest) -> Iterator[duckdb.DuckDBPyConnection]:
    """Each clinic sample log in turn."""
    con = load(request.param)
    yield con
    con.close()


# -- the clinic's simulation conforms ---------------------------------------------------------


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda p: p.stem)
def test_every_sample_case_conforms_to_its_playbook(
    clinic: duckdb.DuckDBPyConnection, path: Path
) -> None:
    model = ProcessModel.from_yaml(path)
    per_case = conformance(clinic, model)
    cases = clinic.execute(
        "SELECT count(DISTINCT case_id) FROM events WHERE workflow = ?", [model.workflow]
    ).fetchall()[0][0]
    assert per_case.height == cases > 0
    assert per_case["conforming"].all()
    assert per_case["fitness"].to_list() == [1.0] * cases
    assert set(per_case["workflow"]) == {model.workflow}
    assert deviations(clinic, model).is_empty()


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda p: p.stem)
def test_an_execution_is_a_work_item_not_an_attempt(
    clinic: duckdb.DuckDBPyConnection, path: Path
) -> None:
    """Executions per case equal the orchestrator's own work items that ran (its item ids)."""
    model = ProcessModel.from_yaml(path)
    items = clinic.sql(
        """
        SELECT case_id, count(DISTINCT attributes['baton.item_id']) AS items
        FROM events WHERE workflow = $w AND lifecycle IN ('completed', 'failed')
        GROUP BY case_id
        """,
        params={"w": model.workflow},
    ).pl()
    counted = conformance(clinic, model).filter(pl.col("executions") > 0)
    joined = counted.join(items, on="case_id", how="full", coalesce=True)
    assert joined.height == items.height > 0
    assert joined["executions"].to_list() == joined["items"].to_list()


def test_sample_has_retries_escalations_and_polls_that_are_not_deviations(
    sample: duckdb.DuckDBPyConnection,
) -> None:
    counts = dict(
        sample.execute(
            "SELECT lifecycle, count(*) FROM events WHERE lifecycle IN "
            "('retried', 'escalated', 'resumed') GROUP BY lifecycle"
        ).fetchall()
    )
    assert counts["retried"] > 0 and counts["escalated"] > 0 and counts["resumed"] > 0
    polls = conformance(sample, ProcessModel.from_yaml(PRIOR_AUTH))
    assert polls["executions"].max() > 3  # check_pa_status looped on "pending"
    assert polls["conforming"].all()


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda p: p.stem)
def test_pm4py_token_replay_agrees_on_the_sample(
    clinic: duckdb.DuckDBPyConnection, path: Path
) -> None:
    """On cases that ended, pm4py's token-based replay fitness equals ours (1.0 each)."""
    model = ProcessModel.from_yaml(path)
    ours = conformance(clinic, model).filter(pl.col("status") == "completed")
    theirs = pm4py_replay(clinic, model)
    both = ours.join(theirs, on="case_id", how="left")
    assert both.height == ours.height > 0
    assert both["is_fit"].to_list() == both["conforming"].to_list()
    assert both["trace_fitness"].to_list() == both["fitness"].to_list()


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda p: p.stem)
def test_model_from_the_orchestrators_playbook_equals_the_yaml_reading(path: Path) -> None:
    assert ProcessModel.from_playbook(load_playbook(path)) == ProcessModel.from_yaml(path)


def test_prior_auth_model() -> None:
    model = ProcessModel.from_yaml(PRIOR_AUTH)
    assert model.workflow == "prior_auth" and model.version == "1"
    assert model.steps == ("check_pa_required", "submit_prior_auth", "check_pa_status")
    assert model.start == "check_pa_required"
    assert model.transitions == {
        ("check_pa_required", "submit_prior_auth"),
        ("submit_prior_auth", "check_pa_status"),
        ("check_pa_status", "check_pa_status"),
    }
    # check_pa_required hands off to @scheduling; check_pa_status ends or hands off.
    assert model.end_steps == {"check_pa_required", "check_pa_status"}


def test_petri_net_is_a_workflow_net_with_one_labelled_transition_per_step() -> None:
    model = ProcessModel.from_yaml(PRIOR_AUTH)
    net, initial, final = model.petri_net()
    labels = sorted(t.label for t in net.transitions if t.label is not None)
    assert labels == sorted(model.steps)
    assert len(net.places) == 2 * len(model.steps) + 2
    assert [p.name for p in initial] == ["source"] and [p.name for p in final] == ["sink"]
    silent = [t for t in net.transitions if t.label is None]
    assert len(silent) == 1 + len(model.transitions) + len(model.end_steps)


# -- hand-built deviations --------------------------------------------------------------------

T0 = datetime(2026, 3, 2, 9, 0)


class LogBuilder:
    """Events of hand-built cases, as the orchestrator would record them."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.clock = T0

    def event(self, case_id: str, activity: str, lifecycle: str, **extra: Any) -> None:
        self.clock += timedelta(minutes=1)
        row = {
            "event_id": f"e{len(self.rows)}",
            "seq": len(self.rows),
            "case_id": case_id,
            "workflow": "prior_auth",
            "workflow_version": "1",
            "activity": activity,
            "lifecycle": lifecycle,
            "ts": self.clock,
            "attempt": 1,
        }
        self.rows.append(row | extra)

    def case(self, case_id: str, steps: list[str], open_next: str | None = None) -> list[str]:
        """Run ``steps`` (``name`` or ``name:retry|escalate|fail|business``); spans per step.

        Returns the span id of each step's execution (its last attempt).
        """
        spans = []
        for i, spec in enumerate(steps):
            activity, _, how = spec.partition(":")
            self.event(case_id, activity, "enqueued", span_id=f"{case_id}/send{i}")
            attempts = 2 if how == "retry" else 1
            for attempt in range(1, attempts + 1):
                span = f"{case_id}/{i}.{attempt}"
                self.event(case_id, activity, "started", attempt=attempt, span_id=span)
                if how in ("escalate", "fail") or (how == "retry" and attempt == 1):
                    self.event(
                        case_id, activity, "failed", attempt=attempt, span_id=span,
                        exception_type="application",
                    )  # fmt: skip
                    if how == "retry":
                        self.event(case_id, activity, "retried", attempt=2, span_id=span)
                elif how == "business":
                    self.event(
                        case_id, activity, "failed", attempt=attempt, span_id=span,
                        exception_type="business", outcome="denied",
                    )  # fmt: skip
                else:
                    self.event(case_id, activity, "completed", attempt=attempt, span_id=span)
            if how == "escalate":
                self.event(case_id, activity, "escalated", queue="workbench")
                self.event(case_id, activity, "resumed", outcome="resolved")
            spans.append(span)
        if open_next:
            self.event(case_id, open_next, "enqueued")
        return spans

    def into(self, con: duckdb.DuckDBPyConnection) -> None:
        create_events_table(con)
        frame = pl.DataFrame(self.rows)
        con.register("built", frame.to_arrow())
        con.execute("INSERT INTO events BY NAME SELECT * FROM built")
        con.unregister("built")


REQ, SUBMIT, STATUS = "check_pa_required", "submit_prior_auth", "check_pa_status"


@pytest.fixture
def built() -> Iterator[tuple[duckdb.DuckDBPyConnection, dict[str, list[str]]]]:
    log = LogBuilder()
    spans = {
        "ok": log.case("ok", [REQ, SUBMIT, STATUS, STATUS]),
        "ok_handoff": log.case("ok_handoff", [REQ]),
        "retried": log.case("retried", [REQ, f"{SUBMIT}:retry", STATUS]),
        "escalated": log.case("escalated", [REQ, f"{SUBMIT}:escalate", STATUS]),
        "denied": log.case("denied", [REQ, SUBMIT, f"{STATUS}:business"]),
        "failed": log.case("failed", [REQ, f"{SUBMIT}:fail"]),
        "open": log.case("open", [REQ, SUBMIT], open_next=STATUS),
        "skip": log.case("skip", [REQ, STATUS]),
        "skip_start": log.case("skip_start", [SUBMIT, STATUS]),
        "swap": log.case("swap", [SUBMIT, REQ, STATUS]),
        "unknown": log.case("unknown", [REQ, "fax_payer", SUBMIT, STATUS]),
        "not_finished": log.case("not_finished", [REQ, SUBMIT]),
        "rework": log.case("rework", [REQ, SUBMIT, SUBMIT, STATUS]),
    }
    con = duckdb.connect(":memory:")
    log.into(con)
    yield con, spans
    con.close()


CONFORMING = ("ok", "ok_handoff", "retried", "escalated", "denied", "failed", "open")


def test_hand_built_conforming_cases(
    built: tuple[duckdb.DuckDBPyConnection, dict[str, list[str]]],
) -> None:
    con, _ = built
    per_case = conformance(con, ProcessModel.from_yaml(PRIOR_AUTH))
    rows = {r["case_id"]: r for r in per_case.iter_rows(named=True)}
    for case_id in CONFORMING:
        assert rows[case_id]["conforming"], case_id
        assert rows[case_id]["fitness"] == 1.0
    assert rows["retried"]["executions"] == 3  # two attempts at submit_prior_auth: one step
    assert rows["escalated"]["executions"] == 3
    assert {rows[c]["status"] for c in ("failed", "open", "denied")} == {
        "failed", "open", "completed",
    }  # fmt: skip
    assert rows["failed"]["status"] == "failed" and rows["open"]["status"] == "open"


#: case -> [(kind, activity, expected, index of the offending step in the case)]
EXPECTED: dict[str, list[tuple[str, str | None, str, int]]] = {
    "skip": [("skipped_step", STATUS, SUBMIT, 1)],
    "skip_start": [("skipped_step", SUBMIT, REQ, 0)],
    "swap": [("out_of_order", SUBMIT, REQ, 0), ("out_of_order", REQ, STATUS, 1)],
    "unknown": [("unknown_step", "fax_payer", SUBMIT, 1)],
    "not_finished": [("not_finished", SUBMIT, STATUS, 1)],
    "rework": [("out_of_order", SUBMIT, STATUS, 2)],
}


def test_hand_built_deviations_have_kind_expected_and_span(
    built: tuple[duckdb.DuckDBPyConnection, dict[str, list[str]]],
) -> None:
    con, spans = built
    found = deviations(con, ProcessModel.from_yaml(PRIOR_AUTH))
    got: dict[str, list[tuple[Any, ...]]] = {}
    for row in found.iter_rows(named=True):
        got.setdefault(row["case_id"], []).append(
            (row["kind"], row["activity"], row["expected"], row["span_id"])
        )
    want = {
        case_id: [(kind, act, exp, spans[case_id][i]) for kind, act, exp, i in items]
        for case_id, items in EXPECTED.items()
    }
    assert got == want
    assert found.columns[:6] == ["case_id", "kind", "activity", "expected", "span_id", "ts"]
    assert found.sort("ts", "seq").equals(found)


def test_hand_built_fitness_counts_moves(
    built: tuple[duckdb.DuckDBPyConnection, dict[str, list[str]]],
) -> None:
    con, _ = built
    per_case = conformance(con, ProcessModel.from_yaml(PRIOR_AUTH))
    fitness = dict(zip(per_case["case_id"], per_case["fitness"], strict=True))
    # executions + 1 move to the end; one deviation per offending move
    assert fitness["skip"] == pytest.approx(1 - 1 / 3)
    assert fitness["swap"] == pytest.approx(1 - 2 / 4)
    assert fitness["unknown"] == pytest.approx(1 - 1 / 5)
    assert fitness["not_finished"] == pytest.approx(1 - 1 / 3)
    deviating = per_case.filter(~pl.col("conforming"))
    assert sorted(deviating["case_id"]) == sorted(EXPECTED)
    assert (deviating["fitness"] < 1.0).all()


def test_pm4py_token_replay_agrees_on_which_hand_built_cases_fit(
    built: tuple[duckdb.DuckDBPyConnection, dict[str, list[str]]],
) -> None:
    """Same verdict on every case that ended, except one pm4py cannot see.

    pm4py's token replay skips activities that are not in the net, so a case whose only
    deviation is an unknown step replays as fit there; Baton reports it.
    """
    con, _ = built
    model = ProcessModel.from_yaml(PRIOR_AUTH)
    ours = conformance(con, model).filter(pl.col("status") == "completed")
    both = ours.join(pm4py_replay(con, model), on="case_id")
    assert both.height == ours.height == 11
    unknown = both.filter(pl.col("case_id") == "unknown")
    assert unknown["is_fit"].to_list() == [True] and unknown["conforming"].to_list() == [False]
    seen = both.filter(pl.col("case_id") != "unknown")
    assert seen["is_fit"].to_list() == seen["conforming"].to_list()
    fit = seen.filter(pl.col("conforming"))
    assert fit["trace_fitness"].to_list() == fit["fitness"].to_list() == [1.0] * fit.height
    assert (seen.filter(~pl.col("conforming"))["trace_fitness"] < 1.0).all()


def test_filters_scope_the_check(
    built: tuple[duckdb.DuckDBPyConnection, dict[str, list[str]]],
) -> None:
    con, _ = built
    model = ProcessModel.from_yaml(PRIOR_AUTH)
    assert conformance(con, model, Filters(workflow="claims")).is_empty()
    assert deviations(con, model, Filters(workflow="claims")).is_empty()
    same = conformance(con, model, Filters(workflow="prior_auth"))
    assert same.equals(conformance(con, model))
    first_hour = conformance(con, model, Filters(until=T0 + timedelta(minutes=30)))
    assert 0 < first_hour.height < same.height


def test_conformance_over_time(
    built: tuple[duckdb.DuckDBPyConnection, dict[str, list[str]]],
    sample: duckdb.DuckDBPyConnection,
) -> None:
    con, _ = built
    model = ProcessModel.from_yaml(PRIOR_AUTH)
    days = conformance_over_time(con, model)
    assert days["cases"].to_list() == [13]
    assert days["conforming_cases"].to_list() == [len(CONFORMING)]
    assert days["conforming_share"][0] == pytest.approx(len(CONFORMING) / 13)
    per_day = conformance_over_time(sample, model)
    assert per_day["cases"].sum() == conformance(sample, model).height
    assert per_day["mean_fitness"].to_list() == [1.0] * per_day.height
    assert per_day["day"].is_sorted()


# -- the figures and their playbook parameter -------------------------------------------------


def test_registry_figures_take_a_playbook_path(sample: duckdb.DuckDBPyConnection) -> None:
    model = ProcessModel.from_yaml(PRIOR_AUTH)
    got = compute("conformance", sample, {"playbook": str(PRIOR_AUTH)})
    assert got.equals(conformance(sample, model))
    assert compute("deviations", sample, {"playbook": str(PRIOR_AUTH)}).is_empty()
    over_time = compute("conformance_over_time", sample, {"playbook": str(PRIOR_AUTH)})
    assert over_time.equals(conformance_over_time(sample, model))
    with pytest.raises(InvalidFilter, match="needs 'playbook'"):
        compute("conformance", sample, {})


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("bad.yaml", "workflow: x\nsteps: [\n", "not valid YAML"),
        ("nosteps.yaml", "workflow: x\n", "'steps' must be a non-empty list"),
        ("list.yaml", "- a\n- b\n", "not a playbook"),
        ("noname.yaml", "workflow: x\nsteps:\n  - bot: b\n", "every step needs a 'name'"),
        ("target.yaml", "workflow: x\nsteps:\n  - {name: a, next: b}\n", "unknown step 'b'"),
        ("routes.yaml", "workflow: x\nsteps:\n  - {name: a, routes: [b]}\n", "'routes' must be"),
        ("twice.yaml", "workflow: x\nsteps:\n  - {name: a}\n  - {name: a}\n", "defined twice"),
        ("playbook.txt", "workflow: x\nsteps:\n  - {name: a}\n", "expected a .yaml"),
        ("missing.yaml", None, "no such file"),
    ],
)
def test_unusable_playbook_files_are_named_in_the_error(
    tmp_path: Path, sample: duckdb.DuckDBPyConnection, name: str, text: str | None, problem: str
) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(InvalidFilter) as caught:
        compute("conformance", sample, {"playbook": str(path)})
    assert problem in str(caught.value)
    assert str(path) in str(caught.value)


def test_playbook_file_is_reread_when_it_changes(
    tmp_path: Path, sample: duckdb.DuckDBPyConnection
) -> None:
    path = tmp_path / "prior_auth.yaml"
    path.write_text(PRIOR_AUTH.read_text())
    assert compute("deviations", sample, {"playbook": str(path)}).is_empty()
    # a playbook without the polling loop: every second poll is now out of order
    path.write_text(PRIOR_AUTH.read_text().replace("pending: check_pa_status", "pending: end"))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    found = compute("deviations", sample, {"playbook": str(path)})
    assert set(found["kind"]) == {"out_of_order"}
    assert set(found["activity"]) == {"check_pa_status"}


# -- speed -------------------------------------------------------------------------------------


def test_ten_thousand_cases_in_well_under_two_seconds() -> None:
    con = duckdb.connect(":memory:")
    create_events_table(con)
    con.execute(
        f"""
        INSERT INTO events
        SELECT e.* REPLACE (case_id || '_' || k AS case_id, seq + k * 1000000 AS seq)
        FROM read_parquet('{SAMPLE}') e, range(60) copies(k)
        """
    )
    con.execute("DELETE FROM events WHERE activity = 'submit_prior_auth' AND hash(case_id) % 7 = 0")
    model = ProcessModel.from_yaml(PRIOR_AUTH)
    conformance(con, model)  # warm
    started = time.perf_counter()
    per_case = conformance(con, model)
    elapsed = time.perf_counter() - started
    assert per_case.height > 9000
    assert 0 < (~per_case["conforming"]).sum() < per_case.height
    assert elapsed < 2.0, f"conformance of {per_case.height} cases took {elapsed:.2f} s"
