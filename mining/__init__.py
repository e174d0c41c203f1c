"""Process mining over Baton's ``events`` table: pure figures returning Polars frames.

Every figure takes a DuckDB connection holding an ``events`` table or view, so the same
code runs in the collector (live store), in a notebook (a copied file) and in tests.
"""

from mining.conformance import (
    ProcessModel,
    conformance,
    conformance_over_time,
    deviations,
)
from mining.discovery import DiscoveredModel, discover
from mining.errors import EmptyLog, InvalidFilter, MiningError, ReadFailed, UnknownFigure
from mining.eventlog import EventLog
from mining.figures import (
    activity_instances,
    case_durations,
    dfg,
    overview,
    queue_aging,
    queue_summary,
    retry_counts,
    retry_hotspots,
)
from mining.figures_ops import (
    bot_stats,
    bottlenecks,
    dotted_chart,
    handover,
    performance_spectrum,
    throughput,
)
from mining.figures_queue import case_timeline, queue_wait, rework, sla, sla_over_time
from mining.filters import Filters
from mining.registry import FIGURE_PARAMS, FIGURES, compute

__all__ = [
    "DiscoveredModel",
    "EmptyLog",
    "EventLog",
    "FIGURES",
    "FIGURE_PARAMS",
    "Filters",
    "InvalidFilter",
    "MiningError",
    "ProcessModel",
    "ReadFailed",
    "UnknownFigure",
    "activity_instances",
    "bot_stats",
    "bottlenecks",
    "case_durations",
    "case_timeline",
    "compute",
    "conformance",
    "conformance_over_time",
    "deviations",
    "dfg",
    "discover",
    "dotted_chart",
    "handover",
    "overview",
    "performance_spectrum",
    "queue_aging",
    "queue_summary",
    "queue_wait",
    "retry_counts",
    "retry_hotspots",
    "rework",
    "sla",
    "sla_over_time",
    "throughput",
]
