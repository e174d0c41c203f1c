"""The analysts' entry point: one event-log object over any source, figures as methods.

``EventLog.open(source)`` takes a DuckDB file, a running collector's URL, an XES, OCEL, CSV or
Parquet file, or a Polars/pandas frame (pm4py's column names are accepted as they are).
Figures are methods returning Polars frames; ``filter(...)`` returns a narrower log and never
touches the source; ``to_pm4py()`` hands the activity instances to pm4py.

Locally, the figures pm4py also computes run on the instances encoded once as arrays
(:mod:`mining._encoded`); the others are SQL over the ``events`` table. On a collector URL
every figure is computed by the collector, with the same code, and only results travel.
"""

from __future__ import annotations

import functools
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import pyarrow as pa

from mining import _encoded
from mining._sql import query_frame
from mining.errors import MiningError
from mining.filters import KEPT_CASES, Filters
from mining.sources import Local, Remote, open_source
from mining.views import with_views

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

#: Figures computed on the encoded instances (the ones pm4py also computes).
ENGINE_FIGURES = (
    "dfg",
    "performance_dfg",
    "variants",
    "case_durations",
    "start_activities",
    "end_activities",
    "service_times",
    "waiting_times",
)

_INSTANCE_SQL = "SELECT case_id, activity, start_ts, ts, seq FROM inst"


class EventLog:
    """An event log and the figures over it; cheap to create, immutable, filterable.

    Example:
        >>> import polars as pl
        >>> from datetime import datetime
        >>> log = EventLog.open(pl.DataFrame({
        ...     "case:concept:name": ["c1", "c1", "c2", "c2"],
        ...     "concept:name": ["check", "approve", "check", "reject"],
        ...     "time:timestamp": [datetime(2026, 3, 2, 9), datetime(2026, 3, 2, 10),
        ...                        datetime(2026, 3, 2, 9), datetime(2026, 3, 2, 11)],
        ... }))
        >>> log.dfg().rows()
        [('check', 'approve', 1, 3600.0), ('check', 'reject', 1, 7200.0)]
        >>> log.filter(end_activity="reject").case_durations()["duration_s"].to_list()
        [7200.0]
    """

    def __init__(self, source: Local | Remote, filters: Filters | None = None) -> None:
        self._source = source
        self._filters = filters or Filters()

    @classmethod
    def open(cls, source: Any, *, token: str | None = None, **read_options: Any) -> EventLog:
        """Open ``source``; ``token`` is a collector's query token, ``read_options`` go to the
        file readers (``object_type`` for OCEL, ``separator`` for CSV, …)."""
        return cls(open_source(source, token=token, **read_options))

    @classmethod
    def from_connection(
        cls, con: duckdb.DuckDBPyConnection, filters: Filters | None = None
    ) -> EventLog:
        """A log over a connection that already holds ``events`` (the collector's case)."""
        return cls(Local("DuckDB connection", _con=con), filters)

    @property
    def filters(self) -> Filters:
        return self._filters

    def __repr__(self) -> str:
        active = {k: v for k, v in self._filters.as_mapping().items()}
        return f"EventLog({self._source.description}, filters={active})"

    def filter(self, filters: Filters | None = None, **values: Any) -> EventLog:
        """A new log narrowed by ``filters`` and/or named values (same names as the CLI's).

        Example:
            >>> Filters.from_mapping({"workflow": "referral"}) == Filters(workflow="referral")
            True
        """
        extra = Filters.from_mapping({k: v for k, v in values.items() if v is not None})
        merged = self._filters.merge(filters or Filters()).merge(extra)
        return EventLog(self._source, merged)

    # --- the pm4py-shared figures ------------------------------------------------------

    def dfg(self) -> pl.DataFrame:
        """Directly-follows graph: ``source, target, frequency, mean_wait_s``.

        ``frequency`` is pm4py's ``discover_dfg``; ``mean_wait_s`` its performance DFG's mean.
        """
        return self._engine("dfg")

    def performance_dfg(self) -> pl.DataFrame:
        """Waiting time start(b) - end(a) per edge: mean, median, p95, min, max, total, stdev."""
        return self._engine("performance_dfg")

    def variants(self) -> pl.DataFrame:
        """``variant, activities, cases, share``, most frequent first."""
        return self._engine("variants")

    def case_durations(self) -> pl.DataFrame:
        """Per case: first start, last completion, ``duration_s`` (pm4py's: first to last
        completion) and ``span_s`` (first start to last completion).

        On a log with Baton's lifecycle events it also has ``cycle_s`` (first event — the
        arrival on the first queue — to last), workflow, payer, site and ``escalated``, and
        lists cases whose first step has not finished yet (their ``duration_s`` is null).
        """
        return self._engine("case_durations")

    def start_activities(self) -> pl.DataFrame:
        """``activity, cases`` that begin with it."""
        return self._engine("start_activities")

    def end_activities(self) -> pl.DataFrame:
        """``activity, cases`` that end with it."""
        return self._engine("end_activities")

    def service_times(self) -> pl.DataFrame:
        """Per activity: completion - start of its instances (pm4py's service time)."""
        return self._engine("service_times")

    def waiting_times(self) -> pl.DataFrame:
        """Per activity: the wait before it, since the case's previous instance ended."""
        return self._engine("waiting_times")

    # --- Baton's own figures (SQL over events) -----------------------------------------

    def queue_aging(self, at: datetime | str | None = None) -> pl.DataFrame:
        """Open items per queue and age bucket as of ``at`` (default: the newest event)."""
        return self.figure("queue_aging", at=at)

    def queue_summary(self, at: datetime | str | None = None) -> pl.DataFrame:
        """Open items, oldest age and items past due per queue as of ``at``."""
        return self.figure("queue_summary", at=at)

    def retry_hotspots(self) -> pl.DataFrame:
        """Failures, retries and escalations by step and error type."""
        return self.figure("retry_hotspots")

    def queue_wait(self) -> pl.DataFrame:
        """Per queue: items and their wait from arrival to pick-up (mean, median, p95, max)."""
        return self.figure("queue_wait")

    def rework(self) -> pl.DataFrame:
        """Per step: cases that ran it again as new work, kept apart from retries."""
        return self.figure("rework")

    def bottlenecks(self) -> pl.DataFrame:
        """Steps and handoffs ranked by their share of all waiting time in cycle time."""
        return self.figure("bottlenecks")

    def sla(self, at: datetime | str | None = None, by: str = "step") -> pl.DataFrame:
        """Items met, breached and open against their due time, per step or workflow."""
        return self.figure("sla", at=at, by=by)

    def throughput(self, every: str = "1d") -> pl.DataFrame:
        """Cases started and completed per period (``1h``, ``1d`` or ``1w``)."""
        return self.figure("throughput", every=every)

    def handover(self) -> pl.DataFrame:
        """Handover of work between resources (pm4py's handover-of-work network)."""
        return self.figure("handover")

    def dotted_chart(self, limit: int = 20000) -> pl.DataFrame:
        """Events with their case's index, for a dotted chart; at most ``limit`` events."""
        return self.figure("dotted_chart", limit=limit)

    def performance_spectrum(self, segments: int = 20000) -> pl.DataFrame:
        """Per consecutive pair of steps, the end of one and the start of the next."""
        return self.figure("performance_spectrum", segments=segments)

    def bot_stats(self, at: datetime | str | None = None) -> pl.DataFrame:
        """Per bot: state by heartbeat, utilization, success rate, median run time, version."""
        return self.figure("bot_stats", at=at)

    def case_timeline(self, case_id: str) -> pl.DataFrame:
        """One case's attempts and waits, for a Gantt chart (``case_id`` is a pseudonym)."""
        return self.figure("case_timeline", case_id=case_id)

    def conformance(self, playbook: Any) -> pl.DataFrame:
        """Per case: fitness against ``playbook`` and its deviations count.

        ``playbook`` is a playbook YAML path, an orchestrator ``Playbook`` or a
        :class:`~mining.ProcessModel`; a collector takes the path of a file it can read.
        """
        return self._against(playbook, "conformance")

    def deviations(self, playbook: Any) -> pl.DataFrame:
        """One row per deviation from ``playbook`` (skipped, out of order, unknown step)."""
        return self._against(playbook, "deviations")

    def overview(self) -> pl.DataFrame:
        """One row of headline figures: cases, events, cycle time, retry and escalation rates."""
        return self.figure("overview")

    def figure(self, name: str, **params: Any) -> pl.DataFrame:
        """Any figure :data:`mining.FIGURES` registers, by name, with its own parameters."""
        params = {k: v for k, v in params.items() if v is not None}
        if isinstance(self._source, Remote):
            return _remote_figure(self._source, name, self._filters, params)
        if name in ENGINE_FIGURES and not params:
            return self._engine(name)
        if name == "rework" and not params and self._source.instances is not None:
            # An analyst's frame has no retries, so each instance is its own item.
            return self._engine(name)
        from mining.registry import run_figure

        return run_figure(name, self._source.con, self._filters, params)

    # --- data out ------------------------------------------------------------------------

    def events(self) -> pl.DataFrame:
        """The filtered events, ordered by ``(ts, seq)``."""
        if isinstance(self._source, Remote):
            raise MiningError("events of a collector are read per case: use figure(...)")
        con = self._source.con
        if self._filters.case_level:
            self.register_kept_cases(con)
        sql, params = with_views("SELECT * FROM ev ORDER BY ts, seq", self._filters)
        return query_frame(con, sql, params)

    def instances(self) -> pl.DataFrame:
        """Activity instances (one row per executed step), by case then ``(ts, seq)``."""
        if isinstance(self._source, Remote):
            return _remote_figure(self._source, "activity_instances", self._filters, {})
        frame = self._event_filtered_instances(full=True)
        if self._filters.case_level:
            frame = frame.filter(pl.col("case_id").is_in(self._kept_case_ids().implode()))
        return frame.sort("case_id", "ts", "seq", maintain_order=True)

    def to_pm4py(self) -> pd.DataFrame:
        """The activity instances with pm4py's column names, ready for any pm4py function.

        ``time:timestamp`` is the completion and ``start_timestamp`` the start, so pm4py's
        performance DFG measures waiting time, as Baton does; rows are in ``(ts, seq)`` order
        within each case, which is how pm4py breaks timestamp ties.
        """
        from mining.pm4py_bridge import PM4PY_NAMES

        frame = self.instances()
        frame = frame.rename({k: v for k, v in PM4PY_NAMES.items() if k in frame.columns})
        return frame.to_pandas()

    # --- internals -----------------------------------------------------------------------

    def _against(self, playbook: Any, name: str) -> pl.DataFrame:
        if isinstance(playbook, str | Path):
            return self.figure(name, playbook=str(playbook))
        if isinstance(self._source, Remote):
            raise MiningError(f"a collector checks {name} against a playbook file path")
        from mining import conformance as checks
        from mining._process_model import ProcessModel

        model = (
            playbook if isinstance(playbook, ProcessModel) else ProcessModel.from_playbook(playbook)
        )
        con = self._source.con
        if self._filters.case_level:
            self.register_kept_cases(con)
        result: pl.DataFrame = getattr(checks, name)(con, model, self._filters)
        return result

    def _engine(self, name: str) -> pl.DataFrame:
        if isinstance(self._source, Remote):
            return _remote_figure(self._source, name, self._filters, {})
        if name == "service_times" and self._service_times_need_no_encoding():
            return _encoded.service_times_of(self._event_filtered_instances())
        frame: pl.DataFrame = getattr(_encoded, name)(self._encoded)
        if name == "case_durations" and self._source.instances is None:
            frame = self._with_case_attributes(frame)
        return frame

    def _service_times_need_no_encoding(self) -> bool:
        """Service time is per instance: without case filters it needs no case order, so an
        unencoded log skips encoding; an encoded one is reused (its codes may exist already)."""
        return not self._filters.case_level and "_encoded" not in self.__dict__

    def _with_case_attributes(self, durations: pl.DataFrame) -> pl.DataFrame:
        """Join Baton's per-case columns, read from the events of the same cases."""
        assert isinstance(self._source, Local)
        con = self._source.con
        per_case = """
            SELECT case_id, any_value(workflow) AS workflow, any_value(payer) AS payer,
                   any_value(site) AS site, epoch(max(ts) - min(ts)) AS cycle_s,
                   bool_or(lifecycle = 'escalated') AS escalated
            FROM ev GROUP BY case_id
        """
        if self._filters.case_level:
            self.register_kept_cases(con)
        sql, params = with_views(per_case, self._filters)
        attrs = query_frame(con, sql, params)
        # A case whose first step has not finished yet has no instance, but it is a case.
        joined = durations.join(attrs, on="case_id", how="full", coalesce=True)
        return joined.sort("start_ts", "case_id", nulls_last=True)

    @functools.cached_property
    def _encoded(self) -> _encoded.Encoded:
        enc = _encoded.encode(self._event_filtered_instances())
        if not self._filters.case_level:
            return enc
        keep = _case_mask(enc, self._filters)
        if keep.all():
            return enc
        kept = enc.case_ids.filter(pl.Series(keep))
        frame = self._event_filtered_instances().filter(pl.col("case_id").is_in(kept.implode()))
        return _encoded.encode(frame)

    def _event_filtered_instances(self, *, full: bool = False) -> pl.DataFrame:
        assert isinstance(self._source, Local)
        event_filters = self._filters.event_level()
        if self._source.instances is not None:
            frame = self._source.instances
            return frame.filter(event_filters.polars(frame.columns))
        sql, params = with_views(
            "SELECT * FROM inst" if full else _INSTANCE_SQL, event_filters, instances=True
        )
        return query_frame(self._source.con, sql, params)

    def _kept_case_ids(self) -> pl.Series:
        # The encoded instances already hold only the kept cases: encode once, not again.
        return self._encoded.case_ids

    def register_kept_cases(self, con: duckdb.DuckDBPyConnection) -> None:
        """Register the ids of the cases the case filters keep, for SQL figures to read."""
        con.register(KEPT_CASES, pa.table({"case_id": self._kept_case_ids().to_arrow()}))


def _case_mask(enc: _encoded.Encoded, filters: Filters) -> np.ndarray:
    """Which cases pass the case filters (variant, start/end activity, duration)."""
    keep = np.ones(enc.cases, dtype=bool)
    if enc.cases == 0:
        return keep
    codes = {label: i for i, label in enumerate(enc.activities)}
    for name, rows in (("start_activity", enc.bounds[:-1]), ("end_activity", enc.bounds[1:] - 1)):
        wanted = getattr(filters, name)
        if wanted is not None:
            keep &= enc.act[rows] == codes.get(wanted, -1)
    if filters.min_duration_s is not None or filters.max_duration_s is not None:
        seconds = _encoded.case_durations(enc).get_column("duration_s").to_numpy()
        if filters.min_duration_s is not None:
            keep &= seconds >= filters.min_duration_s
        if filters.max_duration_s is not None:
            keep &= seconds <= filters.max_duration_s
    if filters.variant is not None:
        keep &= _variant_mask(enc, filters.variant)
    return keep


def _variant_mask(enc: _encoded.Encoded, variant: str) -> np.ndarray:
    wanted = variant.split(",")
    codes = {label: i for i, label in enumerate(enc.activities)}
    if any(step not in codes for step in wanted):
        return np.zeros(enc.cases, dtype=bool)
    target = np.array([codes[step] for step in wanted], dtype=np.int64)
    lengths = np.diff(enc.bounds)
    keep = lengths == len(target)
    for i in np.flatnonzero(keep):
        keep[i] = np.array_equal(enc.act[enc.bounds[i] : enc.bounds[i + 1]], target)
    return keep


def _remote_figure(
    source: Remote, name: str, filters: Filters, params: dict[str, Any]
) -> pl.DataFrame:
    from mining.remote import fetch_figure

    query = {**filters.as_mapping(), **{k: _param_text(v) for k, v in params.items()}}
    return fetch_figure(source.url, name, query, source.token, source.timeout_s)


def _param_text(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)
