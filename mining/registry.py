"""The figures the query API and the dashboard can ask for by name.

The collector's generic endpoint "figure X with filters F" looks names up here, so a new
figure is one entry in :data:`FIGURES` and needs no collector change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import duckdb
import polars as pl

from mining import alert_figures, figures, figures_ops, figures_pm4py, figures_queue, live
from mining.conformance import (
    conformance_figure,
    conformance_over_time_figure,
    deviations_figure,
)
from mining.errors import InvalidFilter, UnknownFigure
from mining.eventlog import ENGINE_FIGURES
from mining.filters import Filters

Figure = Callable[..., pl.DataFrame]

#: Figure name -> function ``(con, filters, **params) -> frame``.
FIGURES: dict[str, Figure] = {
    "activity_instances": figures.activity_instances,
    "case_durations": figures.case_durations,
    "dfg": figures.dfg,
    "end_activities": figures_pm4py.end_activities,
    "performance_dfg": figures_pm4py.performance_dfg,
    "service_times": figures_pm4py.service_times,
    "start_activities": figures_pm4py.start_activities,
    "variants": figures_pm4py.variants,
    "waiting_times": figures_pm4py.waiting_times,
    "overview": figures.overview,
    "queue_aging": figures.queue_aging,
    "queue_summary": figures.queue_summary,
    "open_items": figures.open_items,
    "dimension_values": figures.dimension_values,
    "retry_counts": figures.retry_counts,
    "retry_hotspots": figures.retry_hotspots,
    "bot_stats": figures_ops.bot_stats,
    "bottlenecks": figures_ops.bottlenecks,
    "case_timeline": figures_queue.case_timeline,
    "dotted_chart": figures_ops.dotted_chart,
    "handover": figures_ops.handover,
    "performance_spectrum": figures_ops.performance_spectrum,
    "queue_wait": figures_queue.queue_wait,
    "rework": figures_queue.rework,
    "sla": figures_queue.sla,
    "sla_over_time": figures_queue.sla_over_time,
    "throughput": figures_ops.throughput,
    "queue_items_older_than": alert_figures.queue_items_older_than,
    "sla_breach_rate": alert_figures.sla_breach_rate,
    "retry_rate_window": alert_figures.retry_rate_window,
    "last_telemetry": alert_figures.last_telemetry,
    "published_clock": alert_figures.published_clock,
    # The same figures from the live aggregates (mining.live): equal answers, cost of a read
    # of per-case rows instead of a scan of events; they fall back to events when they must.
    "overview_live": live.overview_live,
    "dfg_live": live.dfg_live,
    "queue_summary_live": live.queue_summary_live,
    "retry_counts_live": live.retry_counts_live,
    # Conformance against a playbook: ``playbook`` is the path of its YAML file.
    "conformance": conformance_figure,
    "conformance_over_time": conformance_over_time_figure,
    "deviations": deviations_figure,
}

#: Parameters a figure takes besides the filters (all given as strings over HTTP).
FIGURE_PARAMS: dict[str, frozenset[str]] = {
    "queue_aging": frozenset({"at"}),
    "queue_summary": frozenset({"at"}),
    "open_items": frozenset({"at", "cases"}),
    "queue_summary_live": frozenset({"at"}),
    "bot_stats": frozenset({"at", "offline_after"}),
    "case_timeline": frozenset({"case_id"}),
    "dotted_chart": frozenset({"limit"}),
    "performance_spectrum": frozenset({"segments", "activities"}),
    "retry_hotspots": frozenset({"by"}),
    "sla": frozenset({"at", "by"}),
    "sla_over_time": frozenset({"at", "every"}),
    "throughput": frozenset({"every"}),
    "queue_items_older_than": frozenset({"at", "older_than_s"}),
    "sla_breach_rate": frozenset({"at", "window_s"}),
    "retry_rate_window": frozenset({"at", "window_s"}),
    "last_telemetry": frozenset({"at", "service"}),
    "conformance": frozenset({"playbook"}),
    "conformance_over_time": frozenset({"playbook"}),
    "deviations": frozenset({"playbook"}),
}


def compute(
    name: str,
    con: duckdb.DuckDBPyConnection,
    values: Mapping[str, Any] | None = None,
) -> pl.DataFrame:
    """Compute figure ``name``; ``values`` mixes filters and the figure's own parameters.

    Example:
        >>> import duckdb
        >>> con = duckdb.connect()
        >>> from mining.schema import create_events_table
        >>> create_events_table(con)
        >>> compute("overview", con)["cases"].to_list()
        [0]
    """
    params = dict(values or {})
    own = {k: params.pop(k) for k in list(params) if k in FIGURE_PARAMS.get(name, frozenset())}
    return run_figure(name, con, Filters.from_mapping(params), own)


def run_figure(
    name: str,
    con: duckdb.DuckDBPyConnection,
    filters: Filters,
    params: Mapping[str, Any],
) -> pl.DataFrame:
    """Run figure ``name`` with parsed filters; case filters become a table SQL reads."""
    try:
        func = FIGURES[name]
    except KeyError:
        raise UnknownFigure(
            f"no figure named {name!r}; known: {', '.join(sorted(FIGURES))}"
        ) from None
    unknown = set(params) - FIGURE_PARAMS.get(name, frozenset())
    if unknown:
        raise InvalidFilter(f"figure {name!r} takes no parameter {', '.join(sorted(unknown))}")
    try:
        if filters.case_level and name not in ENGINE_FIGURES:
            # Engine figures apply case filters on the instances they encode anyway.
            from mining.eventlog import EventLog

            EventLog.from_connection(con, filters).register_kept_cases(con)
        return func(con, filters, **params)
    except duckdb.Error as exc:
        raise InvalidFilter(f"figure {name!r} failed: {exc}") from exc
