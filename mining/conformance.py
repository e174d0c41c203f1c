"""Conformance against the playbook: did each case follow the routes its workflow declares?

The orchestrator declares every workflow as a playbook; this module compiles a playbook's
routing into a :class:`ProcessModel` (its steps, start step, allowed transitions and end
steps) and checks each case's executed steps against it.

**Layering.** ``mining`` never imports the orchestrator (it sits to the left in the data
flow), so the model is built either from any object shaped like the orchestrator's
``Playbook`` (:meth:`ProcessModel.from_playbook`, duck-typed) or straight from a playbook
YAML file (:meth:`ProcessModel.from_yaml`). Validating a playbook (bots, retry settings,
reachability, loops without exit) stays the orchestrator's job; the YAML reader only reads
the routing and refuses a file it cannot make a model of.

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
import functools
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import yaml

from mining.errors import InvalidFilter
from mining.filters import Filters
from mining.views import with_views

#: Routing target that ends the case, and the prefix of a handoff to another workflow.
END = "end"
HANDOFF = "@"
#: The walk's position before the first step (never a step name: steps cannot contain it).
BEFORE_START = "▶"


class DeviationKind:
    """Kinds of deviation :func:`deviations` reports (plain strings in the frame)."""

    UNKNOWN_STEP = "unknown_step"
    SKIPPED_STEP = "skipped_step"
    OUT_OF_ORDER = "out_of_order"
    NOT_FINISHED = "not_finished"


#: How a case's segment in the workflow stands: its last event decides.
STATUSES = ("completed", "failed", "open")


def _is_exit(target: str) -> bool:
    return target == END or target.startswith(HANDOFF)


@dataclasses.dataclass(frozen=True)
class ProcessModel:
    """A workflow's routing: steps, start step, allowed transitions and end steps.

    ``transitions`` holds ``(from_step, to_step)`` pairs between steps; a step is an end
    step when one of its routes leaves the workflow (``end`` or ``@workflow``).

    Example:
        >>> model = ProcessModel.from_routes(
        ...     "referral", "2", {"receive": ["register", "end"], "register": ["@eligibility"]}
        ... )
        >>> model.start, sorted(model.transitions), sorted(model.end_steps)
        ('receive', [('receive', 'register')], ['receive', 'register'])
    """

    workflow: str
    version: str
    steps: tuple[str, ...]
    start: str
    transitions: frozenset[tuple[str, str]]
    end_steps: frozenset[str]

    @classmethod
    def from_routes(
        cls, workflow: str, version: str, routes: Mapping[str, Iterable[str]]
    ) -> ProcessModel:
        """A model from each step's targets (step names, ``end`` or ``@workflow``).

        The first step of ``routes`` is the start step.
        """
        steps = tuple(routes)
        if not steps:
            raise InvalidFilter(f"workflow {workflow!r} has no steps")
        transitions: set[tuple[str, str]] = set()
        end_steps: set[str] = set()
        for step, targets in routes.items():
            for target in targets:
                if _is_exit(target):
                    end_steps.add(step)
                elif target in routes:
                    transitions.add((step, target))
                else:
                    raise InvalidFilter(
                        f"workflow {workflow!r}: step {step!r} routes to unknown step {target!r}"
                    )
        return cls(workflow, version, steps, steps[0], frozenset(transitions), frozenset(end_steps))

    @classmethod
    def from_playbook(cls, playbook: Any) -> ProcessModel:
        """The model of an orchestrator ``Playbook`` (read by attribute, never imported).

        Uses ``workflow``, ``version`` and ``steps``, each step's ``name``, ``next`` and
        ``routes`` (outcome -> target); the first step receives new cases.
        """
        routes = {
            str(step.name): [str(step.next), *(str(t) for t in dict(step.routes).values())]
            for step in playbook.steps
        }
        return cls.from_routes(str(playbook.workflow), str(playbook.version), routes)

    @classmethod
    def from_yaml(cls, path: Path | str) -> ProcessModel:
        """The model of the playbook YAML file at ``path`` (routing only, not validated).

        Raises :class:`~mining.errors.InvalidFilter` naming the file when it cannot be read
        or has no readable routing.
        """
        file = Path(path)
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InvalidFilter(f"playbook {file}: cannot read ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise InvalidFilter(f"playbook {file}: not valid YAML{where}") from None
        try:
            return cls._from_mapping(data)
        except InvalidFilter as exc:
            raise InvalidFilter(f"playbook {file}: {exc}") from None

    @classmethod
    def _from_mapping(cls, data: Any) -> ProcessModel:
        if not isinstance(data, dict) or not data.get("workflow"):
            raise InvalidFilter("not a playbook (no 'workflow')")
        raw_steps = data.get("steps")
        if not isinstance(raw_steps, list) or not raw_steps:
            raise InvalidFilter("'steps' must be a non-empty list")
        routes: dict[str, list[str]] = {}
        for raw in raw_steps:
            if not isinstance(raw, dict) or not raw.get("name"):
                raise InvalidFilter("every step needs a 'name'")
            step_routes = raw.get("routes") or {}
            if not isinstance(step_routes, dict):
                raise InvalidFilter(f"step {raw['name']!r}: 'routes' must be a mapping")
            name = str(raw["name"])
            if name in routes or name == END:
                raise InvalidFilter(f"step {name!r} is defined twice or reserved")
            routes[name] = [str(raw.get("next", END)), *(str(t) for t in step_routes.values())]
        return cls.from_routes(str(data["workflow"]), str(data.get("version", "1")), routes)

    def successors(self, step: str) -> tuple[str, ...]:
        """Steps the playbook allows after ``step`` (``BEFORE_START`` gives the start step)."""
        return _successors(self).get(step, ())

    def allows(self, source: str, target: str) -> bool:
        """True when the playbook routes ``source`` (or ``BEFORE_START``) to ``target``."""
        return target in self.successors(source)

    def petri_net(self) -> tuple[Any, Any, Any]:
        """The model as a pm4py workflow net: ``(net, initial_marking, final_marking)``."""
        from mining._petri import compile_petri_net

        return compile_petri_net(self)


@functools.cache
def _successors(model: ProcessModel) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {BEFORE_START: [model.start]}
    for a, b in sorted(model.transitions):
        out.setdefault(a, []).append(b)
    return {k: tuple(v) for k, v in out.items()}


@functools.cache
def _path_between(model: ProcessModel, source: str, target: str) -> tuple[str, ...] | None:
    """Steps strictly between ``source`` and ``target`` on a shortest path; None if none."""
    parent: dict[str, str] = {}
    frontier = deque([source])
    while frontier:
        node = frontier.popleft()
        for nxt in model.successors(node):
            if nxt in parent or nxt == source:
                continue
            parent[nxt] = node
            if nxt == target:
                path = []
                while parent[nxt] != source:
                    nxt = parent[nxt]
                    path.append(nxt)
                return tuple(reversed(path))
            frontier.append(nxt)
    return None


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
    SELECT case_id, any_value(workflow) AS workflow,
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


def _segment_filters(model: ProcessModel, filters: Filters | None) -> Filters | None:
    """``filters`` restricted to the model's workflow; None when they exclude it."""
    filters = filters or Filters()
    if filters.workflow not in (None, model.workflow):
        return None
    return dataclasses.replace(filters, workflow=model.workflow)


def _frames(
    con: duckdb.DuckDBPyConnection, model: ProcessModel, filters: Filters | None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """``(segments, executions, deviations)`` of the model's workflow."""
    scoped = _segment_filters(model, filters)
    if scoped is None:
        scoped = dataclasses.replace(Filters(), workflow="\x00no workflow")
    sql, params = with_views(_SEGMENTS + " ORDER BY start_ts, case_id", scoped)
    segments = con.sql(sql, params=params).pl()
    sql, params = with_views(_EXECUTIONS, scoped, instances=True)
    executions = con.sql(sql, params=params).pl()
    return segments, executions, _find_deviations(model, segments, executions)


def _find_deviations(
    model: ProcessModel, segments: pl.DataFrame, executions: pl.DataFrame
) -> pl.DataFrame:
    """Vectorised screen, then a walk over the few cases that fail it."""
    steps = pl.Series(model.steps, dtype=pl.String)
    allowed = pl.Series(
        [f"{a}\x1f{b}" for a, succ in _successors(model).items() for b in succ], dtype=pl.String
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
        | ((pl.col("status") == "completed") & ~pl.col("last").fill_null(BEFORE_START).is_in(ends))
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
            between = _path_between(model, at, activity)
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
    if status == "completed" and at not in model.end_steps:
        activity, span_id, ts, seq = last or (None, None, None, None)
        found.append(
            (case_id, DeviationKind.NOT_FINISHED, activity, expected_after(at), span_id, ts, seq)
        )
    return found


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
    moves = pl.col("executions") + (pl.col("status") != "open").cast(pl.Int64)
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


@functools.lru_cache(maxsize=32)
def _model_at(path: str, mtime_ns: int) -> ProcessModel:
    return ProcessModel.from_yaml(path)


def model_for(playbook: str | Path | None, figure: str) -> ProcessModel:
    """The model of the playbook YAML at ``playbook``, re-read only when the file changes."""
    if not playbook:
        raise InvalidFilter(f"figure {figure!r} needs 'playbook': the path of a playbook YAML")
    file = Path(playbook)
    if file.suffix not in (".yaml", ".yml"):
        raise InvalidFilter(f"playbook {file}: expected a .yaml or .yml file")
    try:
        mtime = file.stat().st_mtime_ns
    except OSError:
        raise InvalidFilter(f"playbook {file}: no such file") from None
    return _model_at(str(file), mtime)


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
