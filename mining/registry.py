"""The figures the query API and the dashboard can ask for by name.

The collector's generic endpoint "figure X with filters F" looks names up here, so a new
figure is one entry in :data:`FIGURES` and needs no collector change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import duckdb
import polars as pl

from mining import figures
from mining.conformance import (
    conformance_figure,
    conformance_over_time_figure,
    deviations_figure,
)
from mining.errors import InvalidFilter, UnknownFigure
from mining.filters import Filters

Figure = Callable[..., pl.DataFrame]

#: Figure name -> function ``(con, filters, **params) -> frame``.
FIGURES: dict[str, Figure] = {
    "activity_instances": figures.activity_instances,
    "case_durations": figures.case_durations,
    "dfg": figures.dfg,
    "overview": figures.overview,
    "queue_aging": figures.queue_aging,
    "queue_summary": figures.queue_summary,
    "retry_counts": figures.retry_counts,
    "retry_hotspots": figures.retry_hotspots,
    # Conformance against a playbook: ``playbook`` is the path of its YAML file.
    "conformance": conformance_figure,
    "conformance_over_time": conformance_over_time_figure,
    "deviations": deviations_figure,
}

#: Parameters a figure takes besides the filters (all given as strings over HTTP).
FIGURE_PARAMS: dict[str, frozenset[str]] = {
    "queue_aging": frozenset({"at"}),
    "queue_summary": frozenset({"at"}),
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
    try:
        func = FIGURES[name]
    except KeyError:
        raise UnknownFigure(
            f"no figure named {name!r}; known: {', '.join(sorted(FIGURES))}"
        ) from None
    params = dict(values or {})
    own = {k: params.pop(k) for k in list(params) if k in FIGURE_PARAMS.get(name, frozenset())}
    filters = Filters.from_mapping(params)
    try:
        return func(con, filters, **own)
    except duckdb.Error as exc:
        raise InvalidFilter(f"figure {name!r} failed: {exc}") from exc
