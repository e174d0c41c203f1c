"""Conformance against the playbook: did each case follow the routes its workflow declares?

The orchestrator declares every workflow as a playbook; this module compiles a playbook's
routing into a :class:`ProcessModel` (its steps, start step, allowed transitions and end
steps) and checks each case's executed steps against it.

The model is built from the orchestrator's ``Playbook`` object (read by attribute: mining
never imports the orchestrator) or from a playbook YAML file; see :mod:`mining._process_model`.

**What counts as an execution.** The check runs on the activity-instance view
(``started`` paired with ``completed``/``failed``), restricted to the model's workflow: a
case that is handed from workflow to workflow (``next: "@eligibility"``) is checked against
each playbook on its own segment. Consecutive attempts at one work item (a retry raises
``attempt``; an abandoned lease too) are one execution: only the item's last attempt counts,
and its span id is the one a deviation reports. Retries are the retry policy at work, not a
deviation. An escalated item's last attempt counts like any other; when a person resolves
it (``resumed``) the case continues along the step's route. A step that routes to itself
(``pending: check_pa_status``) starts a new item, so each poll is an execution.

**Deviations**, one per offending execution, walking the case with the step it stands at:

- ``unknown_step``: the activity is not a step of the playbook (the walk does not move);
- ``skipped_step``: the step is reachable from where the case stands, but only through
  steps the case never executed (``expected`` names them);
- ``out_of_order``: any other transition the playbook does not allow: a step reached ahead
  of steps the case runs later, or a step behind the one the case stands at (the walk does
  not move back, so a swap of two steps reports both and nothing after them);
- ``not_finished``: the case's segment is over (its last event is a completion, a business
  exception or a person's resolution) but the step it stopped at has no route to ``end`` or
  to another workflow.

A segment whose last event is a technical failure with nothing after it ended by failure
(``on_exhausted: fail``); one whose last event puts work on a queue is still open. Neither is
a deviation.

**Fitness** of a case is the share of its moves the playbook allows: one move per execution
plus, once the segment is over, the move to its end::

    fitness = 1 - deviations / (executions + ended)

A conforming case has fitness 1.0. On cases that ended normally, a case conforms exactly
when pm4py's token-based replay on :meth:`ProcessModel.petri_net` finds it fit (fitness
1.0); the tests check this on the sample logs and on deviating cases. The two numbers differ
below 1.0: token replay counts missing and remaining tokens, this one counts moves.
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from typing import Any

import duckdb
import polars as pl

from mining._process_model import (
    BEFORE_START,
    END,
    ProcessModel,
    model_for,
    path_between,
    successors_of,
)
from mining._sql import query_frame
from mining.filters import Filters
from mining.views import with_views

__all__ = [
    "CaseStatus",
    "DeviationKind",
    "ProcessModel",
    "conformance",
    "conformance_over_time",
    "deviations",
    "executions",
]


class DeviationKind(StrEnum):
    """Why an execution breaks the playbook (the ``kind`` column of :func:`deviations`)."""

    UNKNOWN_STEP = "unknown_step"
    """The activity is not a step of the playbook."""
    SKIPPED_STEP = "skipped_step"
    """The step came early: the steps in between were never executed."""
    OUT_OF_ORDER = "out_of_order"
    """Any other route the playbook does not allow, ahead of or behind where the case stood."""
    NOT_FINISHED = "not_finished"
    """The case's segment is over at a step with no route to ``end`` or another workflow."""


class CaseStatus(StrEnum):
    """How a case's segment in the workflow stands (the ``status`` column): its last event."""

    COMPLETED = "completed"
    """Ended by a completion, a business exception or a person's resolution."""
    FAILED = "failed"
    """Ended by a technical failure with nothing after it (``on_exhausted: fail``)."""
    OPEN = "open"
    """Work is still on a queue or at the workbench."""


# -- the per-case check ------------------------------------------------------------------------

_EXECUTIONS = """
    SELECT case_id, activity, span_id, ts, seq
    FROM (
        SELECT *, sum(new_item) OVER (PARTITION BY case_id ORDER BY ts, seq
                                      ROWS UNBOUNDED PRECEDING) AS item
        FROM (
            SELECT case_id, activity, attempt, span_id, ts, seq,
                   CASE WHEN lag(activity) OVER w IS DISTINCT FROM activity
                          OR attempt IS NULL OR lag(attempt) OVER w IS NULL
                          OR attempt <= lag(attempt) OVER w
                        THEN 1 ELSE 0 END AS new_item
            FROM inst
            WINDOW w AS (PARTITION BY case_id ORDER BY ts, seq)
        )
    )
    QUALIFY lead(item) OVER (PARTITION BY case_id ORDER BY ts, seq) IS DISTINCT FROM item
    ORDER BY case_id, ts, seq
"""

_SEGMENTS = """
    SELECT case_id, arg_min(workflow, (ts, seq)) AS workflow,
           arg_max(workflow_version, (ts, seq)) AS workflow_version,
           min(ts) AS start_ts, max(ts) AS end_ts,
           CASE
               WHEN arg_max(lifecycle, (ts, seq)) IN ('completed', 'resumed') THEN 'completed'
               WHEN arg_max(lifecycle, (ts, seq)) = 'failed'
                    AND arg_max(exception_type, (ts, seq)) = 'business' THEN 'completed'
               WHEN arg_max(lifecycle, (ts, seq)) = 'failed' THEN 'failed'
               ELSE 'open'
           END AS status
    FROM ev GROUP BY case_id
"""

_DEVIATION_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "case_id": pl.String,
    "kind": pl.String,
    "activity": pl.String,
    "expected": pl.String,
    "span_id": pl.String,
    "ts": pl.Datetime("us"),
    "seq": pl.Int64,
}


def _segment_filters(model: ProcessModel, filters: Filters | None) -> Filters:
    """``filters`` restricted to the model's workflow (matching nothing if they name another)."""
    filters = filters or Filters()
    if filters.workflow not in (None, model.workflow):
        return dataclasses.replace(filters, workflow="\x00 no workflow has this name")
    return dataclasses.replace(filters, workflow=model.workflow)


def _frames(
    con: duckdb.DuckDBPyConnection, model: ProcessModel, filters: Filters | None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """``(segments, executions, deviations)`` of the model's workflow."""
    scoped = _segment_filters(model, filters)
    sql, params = with_views(_SEGMENTS + " ORDER BY start_ts, case_id", scoped)
    segments = query_frame(con, sql, params)
    found = executions(con, model, filters)
    return segments, found, _find_deviations(model, segments, found)


def _find_deviations(
    model: ProcessModel, segments: pl.DataFrame, executions: pl.DataFrame
) -> pl.DataFrame:
    """Vectorised screen, then a walk over the few cases that fail it."""
    steps = pl.Series(model.steps, dtype=pl.String)
    allowed = pl.Series(
        [f"{a}\x1f{b}" for a, succ in successors_of(model).items() for b in succ], dtype=pl.String
    )
    ends = pl.Series(sorted(model.end_steps), dtype=pl.String)
    known = pl.when(pl.col("activity").is_in(steps)).then(pl.col("activity"))
    screened = executions.with_columns(
        known=known,
        prev=known.shift(1).over("case_id").forward_fill().over("case_id").fill_null(BEFORE_START),
    ).with_columns(
        ok=pl.col("known").is_not_null()
        & (pl.col("prev") + "\x1f" + pl.col("activity")).is_in(allowed)
    )
    per_case = screened.group_by("case_id").agg(
        bad_step=(~pl.col("ok")).any(), last=pl.col("known").drop_nulls().last()
    )
    per_case = segments.select("case_id", "status").join(per_case, on="case_id", how="left")
    suspects = per_case.filter(
        pl.col("bad_step").fill_null(False)
        | (
            (pl.col("status") == CaseStatus.COMPLETED)
            & ~pl.col("last").fill_null(BEFORE_START).is_in(ends)
        )
    )
    if suspects.is_empty():
        return pl.DataFrame(schema=_DEVIATION_SCHEMA)
    status = dict(zip(suspects["case_id"], suspects["status"], strict=True))
    rows: list[tuple[Any, ...]] = []
    suspect_rows = executions.filter(pl.col("case_id").is_in(suspects["case_id"].implode()))
    for (case_id,), group in suspect_rows.group_by("case_id", maintain_order=True):
        rows.extend(_walk(model, str(case_id), group.rows(), status[case_id]))
    for case_id in set(status) - set(suspect_rows["case_id"]):
        rows.extend(_walk(model, case_id, [], status[case_id]))
    return pl.DataFrame(rows, schema=_DEVIATION_SCHEMA, orient="row").sort("ts", "seq", "case_id")


def _walk(
    model: ProcessModel, case_id: str, executions: list[tuple[Any, ...]], status: str
) -> list[tuple[Any, ...]]:
    """The deviations of one case: rows ``(case_id, activity, span_id, ts, seq)`` in order."""
    present = {row[1] for row in executions}
    found: list[tuple[Any, ...]] = []
    at = BEFORE_START
    last: tuple[Any, ...] | None = None

    def expected_after(step: str) -> str:
        return "|".join(model.successors(step)) or END

    for _, activity, span_id, ts, seq in executions:
        kind: str | None = None
        expected = ""
        if activity not in model.steps:
            kind, expected = DeviationKind.UNKNOWN_STEP, expected_after(at)
        elif not model.allows(at, activity):
            between = path_between(model, at, activity)
            if between is not None and not present.intersection(between):
                kind, expected = DeviationKind.SKIPPED_STEP, "|".join(between)
            else:
                kind, expected = DeviationKind.OUT_OF_ORDER, expected_after(at)
            if between is not None:
                at = activity
        else:
            at = activity
        if kind is not None:
            found.append((case_id, kind, activity, expected, span_id, ts, seq))
        if activity in model.steps:
            last = (activity, span_id, ts, seq)
    if status == CaseStatus.COMPLETED and at not in model.end_steps:
        activity, span_id, ts, seq = last or (None, None, None, None)
        found.append(
            (case_id, DeviationKind.NOT_FINISHED, activity, expected_after(at), span_id, ts, seq)
        )
    return found


def executions(
    con: duckdb.DuckDBPyConnection, model: ProcessModel, filters: Filters | None = None
) -> pl.DataFrame:
    """The executions the check walks: each work item's last attempt in the model's workflow.

    One row per execution (``case_id``, ``activity``, ``span_id``, ``ts``, ``seq``) in
    ``(case, ts, seq)`` order: what a replay in pm4py on :meth:`ProcessModel.petri_net`
    should be given to judge the same thing.
    """
    scoped = _segment_filters(model, filters)
    sql, params = with_views(_EXECUTIONS, scoped, instances=True)
    return query_frame(con, sql, params)


def conformance(
    con: duckdb.DuckDBPyConnection, model: ProcessModel, filters: Filters | None = None
) -> pl.DataFrame:
    """Per case of ``model``'s workflow: status, executions, deviations, fitness, conforming.

    See the module docstring for what counts as an execution, a deviation and fitness.

    Example:
        >>> import duckdb
        >>> from mining.schema import create_events_table
        >>> con = duckdb.connect()
        >>> create_events_table(con)
        >>> model = ProcessModel.from_routes("claims", "1", {"submit_claim": ["end"]})
        >>> conformance(con, model).columns[:4]
        ['case_id', 'workflow', 'workflow_version', 'status']
    """
    segments, executions, found = _frames(con, model, filters)
    counts = executions.group_by("case_id").agg(executions=pl.len())
    per_case = found.group_by("case_id").agg(deviations=pl.len())
    moves = pl.col("executions") + (pl.col("status") != CaseStatus.OPEN).cast(pl.Int64)
    return (
        segments.join(counts, on="case_id", how="left")
        .join(per_case, on="case_id", how="left")
        .with_columns(
            executions=pl.col("executions").fill_null(0).cast(pl.Int64),
            deviations=pl.col("deviations").fill_null(0).cast(pl.Int64),
        )
        .with_columns(
            fitness=pl.when(moves > 0)
            .then(1.0 - pl.col("deviations") / moves)
            .otherwise(1.0)
            .cast(pl.Float64),
            conforming=pl.col("deviations") == 0,
        )
        .select(
            "case_id",
            "workflow",
            "workflow_version",
            "status",
            "start_ts",
            "end_ts",
            "executions",
            "deviations",
            "fitness",
            "conforming",
        )
    )


def deviations(
    con: duckdb.DuckDBPyConnection, model: ProcessModel, filters: Filters | None = None
) -> pl.DataFrame:
    """One row per deviation: case, kind, activity, expected step(s), span id, time.

    ``expected`` joins alternatives with ``|``; ``span_id`` is the span of the offending
    execution (for ``not_finished``, the step the case stopped at). Ordered by ``(ts, seq)``.
    """
    return _frames(con, model, filters)[2]


def conformance_over_time(
    con: duckdb.DuckDBPyConnection, model: ProcessModel, filters: Filters | None = None
) -> pl.DataFrame:
    """Per day a case entered the workflow: cases, conforming cases, their share, mean fitness.

    Cases are grouped by the UTC day of their first event in the workflow (a cohort), so a
    day's figures change only while its cases are still running.
    """
    per_case = conformance(con, model, filters)
    return (
        per_case.group_by(day=pl.col("start_ts").dt.date())
        .agg(
            cases=pl.len(),
            conforming_cases=pl.col("conforming").sum().cast(pl.Int64),
            mean_fitness=pl.col("fitness").mean(),
        )
        .with_columns(conforming_share=pl.col("conforming_cases") / pl.col("cases"))
        .sort("day")
    )


# -- the figures the query API serves ---------------------------------------------------------


def conformance_figure(
    con: duckdb.DuckDBPyConnection, filters: Filters | None = None, playbook: str | None = None
) -> pl.DataFrame:
    """:func:`conformance` against the playbook YAML at path ``playbook``."""
    return conformance(con, model_for(playbook, "conformance"), filters)


def deviations_figure(
    con: duckdb.DuckDBPyConnection, filters: Filters | None = None, playbook: str | None = None
) -> pl.DataFrame:
    """:func:`deviations` against the playbook YAML at path ``playbook``."""
    return deviations(con, model_for(playbook, "deviations"), filters)


def conformance_over_time_figure(
    con: duckdb.DuckDBPyConnection, filters: Filters | None = None, playbook: str | None = None
) -> pl.DataFrame:
    """:func:`conformance_over_time` against the playbook YAML at path ``playbook``."""
    return conformance_over_time(con, model_for(playbook, "conformance_over_time"), filters)
