"""Pure chart builders: a figure frame in, a Plotly figure or a Graphviz DOT string out.

Nothing here touches Streamlit or a data source, so every chart is unit-tested on a frame
built by hand, and a notebook can draw the same pictures the dashboard shows.
"""

from __future__ import annotations

import math
from typing import Final, Literal

import plotly.graph_objects as go
import polars as pl

Measure = Literal["frequency", "wait"]

#: Thinnest and thickest edge of a process map, in points.
MIN_PENWIDTH: Final = 1.0
MAX_PENWIDTH: Final = 6.0
#: (seconds per unit, unit) from the largest down: how durations are read by people.
_UNITS: Final = ((86400.0, "d"), (3600.0, "h"), (60.0, "min"), (1.0, "s"))


def humanize_seconds(seconds: float | None) -> str:
    """A duration as an ops person reads it: the largest unit that is at least one.

    Example:
        >>> [humanize_seconds(s) for s in (42, 150, 5400, 200000, None)]
        ['42 s', '2.5 min', '1.5 h', '2.3 d', 'n/a']
    """
    if seconds is None or math.isnan(seconds):
        return "n/a"
    if seconds < 0:
        return "-" + humanize_seconds(-seconds)
    for size, unit in _UNITS:
        if seconds >= size:
            value = seconds / size
            return f"{value:.0f} {unit}" if unit == "s" or value >= 10 else f"{value:.1f} {unit}"
    return "0 s" if seconds == 0 else f"{seconds:.2g} s"


def _unit_for(seconds: float) -> tuple[float, str]:
    """The unit a set of durations with this typical value is best plotted in."""
    return next(((size, unit) for size, unit in _UNITS if seconds >= size), (1.0, "s"))


def _quote(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


#: DFG measures people can pick: label and the column it reads ("wait" is the mean wait).
MEASURE_COLUMNS: Final = {"frequency": "frequency", "wait": "mean_wait_s"}
#: Edge colours from light (small) to dark (large) for the chosen measure.
_EDGE_COLOURS: Final = ("#9ab3d5", "#4a6fa5", "#f0ad4e", "#d9534f")


def measure_column(measure: str) -> str:
    """The DFG column a measure reads: ``frequency``, ``wait`` (mean), or a column name."""
    return MEASURE_COLUMNS.get(measure, measure)


def activity_counts(dfg: pl.DataFrame) -> dict[str, int]:
    """How often each activity ran, read off the graph: the larger of its in- and out-flow
    (a start activity has no in-flow, an end activity no out-flow).

    Example:
        >>> frame = pl.DataFrame({"source": ["a", "b"], "target": ["b", "c"], "frequency": [3, 2]})
        >>> activity_counts(frame)
        {'a': 3, 'b': 3, 'c': 2}
    """
    inflow: dict[str, int] = {}
    outflow: dict[str, int] = {}
    for row in dfg.select("source", "target", "frequency").iter_rows():
        outflow[row[0]] = outflow.get(row[0], 0) + row[2]
        inflow[row[1]] = inflow.get(row[1], 0) + row[2]
    names = list(dict.fromkeys([*outflow, *inflow]))
    return {a: max(inflow.get(a, 0), outflow.get(a, 0)) for a in names}


def simplify_dfg(dfg: pl.DataFrame, activities: float = 1.0, paths: float = 1.0) -> pl.DataFrame:
    """The map's detail sliders: keep the most frequent share of activities, then of paths.

    ``activities`` and ``paths`` are fractions (0-1] of the activities (by how often they
    ran) and of the remaining edges (by frequency) to keep; at least one of each survives.

    Example:
        >>> frame = pl.DataFrame({"source": ["a", "a", "b"], "target": ["b", "c", "c"],
        ...                       "frequency": [5, 1, 5]})
        >>> simplify_dfg(frame, paths=0.5)["frequency"].to_list()
        [5, 5]
    """
    if dfg.is_empty():
        return dfg
    counts = activity_counts(dfg)
    ranked = sorted(counts, key=lambda a: (-counts[a], a))
    keep = set(ranked[: max(2, math.ceil(len(ranked) * activities))])
    kept = dfg.filter(pl.col("source").is_in(keep) & pl.col("target").is_in(keep))
    if kept.is_empty():
        return kept
    top = kept.sort(["frequency", "source", "target"], descending=[True, False, False])
    return top.head(max(1, math.ceil(top.height * paths)))


def _label(value: object, column: str) -> str:
    if value is None:
        return "n/a"
    if column.endswith("_s"):
        return humanize_seconds(float(value))  # type: ignore[arg-type]
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def dfg_dot(dfg: pl.DataFrame, measure: Measure | str = "frequency") -> str:
    r"""A process map as Graphviz DOT: one node per activity, one edge per directly-follows pair.

    The chosen measure (frequency, or a waiting time such as ``wait`` = the mean, i.e. start
    of the next step minus end of the previous one) labels every edge and sets its thickness
    and colour, so the heaviest path stands out in whichever number is shown. Nodes carry
    how often the activity ran.

    Example:
        >>> frame = pl.DataFrame({"source": ["a"], "target": ["b"],
        ...                       "frequency": [3], "mean_wait_s": [90.0]})
        >>> print(dfg_dot(frame, "wait"))  # doctest: +NORMALIZE_WHITESPACE
        digraph dfg {
          rankdir=LR;
          node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname="Helvetica"];
          edge [fontname="Helvetica", fontsize=10];
          "a" [label="a\n3"];
          "b" [label="b\n3"];
          "a" -> "b" [label="1.5 min", penwidth=6.0, color="#d9534f"];
        }
    """
    column = measure_column(measure)
    if column not in dfg.columns:
        raise ValueError(f"measure {measure!r}: the graph has no column {column!r}")
    rows = dfg.to_dicts()
    counts = activity_counts(dfg)
    values = [float(r[column]) for r in rows if r[column] is not None]
    top = max(values, default=1.0) or 1.0
    lines = [
        "digraph dfg {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for activity, count in counts.items():
        label = _quote(activity)[:-1] + f'\\n{count:,}"'  # DOT's own line break
        lines.append(f"  {_quote(activity)} [label={label}];")
    for row in rows:
        share = float(row[column]) / top if row[column] is not None else 0.0
        width = MIN_PENWIDTH + (MAX_PENWIDTH - MIN_PENWIDTH) * share
        colour = _EDGE_COLOURS[min(len(_EDGE_COLOURS) - 1, int(share * len(_EDGE_COLOURS)))]
        lines.append(
            f"  {_quote(row['source'])} -> {_quote(row['target'])}"
            f" [label={_quote(_label(row[column], column))}, penwidth={width:.1f},"
            f" color={_quote(colour)}];"
        )
    lines.append("}")
    return "\n".join(lines)


def queue_aging_heatmap(queue_aging: pl.DataFrame) -> go.Figure:
    """Open items per queue (rows) and age bucket (columns, youngest first).

    Buckets are ordered by ``bucket_order``, not by label, because "1-3 d" sorts before
    "4-24 h" as text.
    """
    buckets = (
        queue_aging.select("age_bucket", "bucket_order")
        .unique()
        .sort("bucket_order")["age_bucket"]
        .to_list()
    )
    queues = sorted(queue_aging["queue"].unique().to_list())
    counts = {(r["queue"], r["age_bucket"]): r["items"] for r in queue_aging.to_dicts()}
    z = [[counts.get((q, b), 0) for b in buckets] for q in queues]
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=buckets,
            y=queues,
            text=z,
            texttemplate="%{text}",
            colorscale="Oranges",
            hovertemplate="%{y}, waiting %{x}: %{z} items<extra></extra>",
            colorbar={"title": {"text": "items"}},
        )
    )
    figure.update_layout(
        title="Open items by queue and age",
        xaxis_title="waiting for",
        yaxis_title="queue",
        margin={"t": 50, "l": 10, "r": 10, "b": 10},
    )
    return figure


def queue_summary_bar(queue_summary: pl.DataFrame) -> go.Figure:
    """Open items per queue, the past-due share in a stronger colour on top of the total."""
    frame = queue_summary.sort("open_items", descending=True)
    queues = frame["queue"].to_list()
    oldest = [humanize_seconds(s) for s in frame["oldest_age_s"].to_list()]
    figure = go.Figure(
        [
            go.Bar(
                name="open",
                x=queues,
                y=frame["open_items"].to_list(),
                customdata=oldest,
                hovertemplate="%{x}: %{y} open, oldest %{customdata}<extra></extra>",
                marker_color="#9ab3d5",
            ),
            go.Bar(
                name="past due",
                x=queues,
                y=frame["past_due"].to_list(),
                hovertemplate="%{x}: %{y} past due<extra></extra>",
                marker_color="#d9534f",
            ),
        ]
    )
    figure.update_layout(
        title="Open items per queue",
        barmode="overlay",
        xaxis_title="queue",
        yaxis_title="items",
        margin={"t": 50, "l": 10, "r": 10, "b": 10},
    )
    return figure


def retry_hotspots_bar(retry_hotspots: pl.DataFrame, measure: str = "failures") -> go.Figure:
    """Failures (or ``measure``: retries, escalations) per step, stacked by error type.

    Failures are the default because they carry the error type; the retries that follow a
    failure are what the Retries table counts.
    """
    totals = retry_hotspots.group_by("activity").agg(pl.col(measure).sum().alias("total"))
    order = totals.sort(["total", "activity"], descending=[True, False])["activity"].to_list()
    figure = go.Figure()
    for error_type in sorted(retry_hotspots["error_type"].unique().to_list()):
        rows = retry_hotspots.filter(pl.col("error_type") == error_type)
        by_step = dict(zip(rows["activity"].to_list(), rows[measure].to_list(), strict=True))
        figure.add_trace(
            go.Bar(
                name=error_type,
                x=order,
                y=[by_step.get(step, 0) for step in order],
                hovertemplate=f"%{{x}}, {error_type}: %{{y}}<extra></extra>",
            )
        )
    figure.update_layout(
        title=f"{measure.capitalize()} by step and error type",
        barmode="stack",
        xaxis_title="step",
        yaxis_title=measure,
        legend_title_text="error type",
        margin={"t": 50, "l": 10, "r": 10, "b": 10},
    )
    return figure


def cycle_time_histogram(case_durations: pl.DataFrame) -> go.Figure:
    """Distribution of case cycle times, escalated cases stacked apart from the rest.

    The axis unit follows the median, so a log of minutes and a log of days both read well.
    """
    median = case_durations.select(pl.col("cycle_s").median()).item()
    size, unit = _unit_for(float(median or 0.0))
    figure = go.Figure()
    for escalated, name, colour in (
        (False, "straight through", "#4a6fa5"),
        (True, "escalated", "#f0ad4e"),
    ):
        rows = case_durations.filter(pl.col("escalated") == escalated)
        figure.add_trace(
            go.Histogram(
                name=name,
                x=[s / size for s in rows["cycle_s"].drop_nulls().to_list()],
                marker_color=colour,
                hovertemplate=f"%{{x}} {unit}: %{{y}} cases<extra></extra>",
            )
        )
    figure.update_layout(
        title="Cycle time per case",
        barmode="stack",
        xaxis_title=f"cycle time ({unit})",
        yaxis_title="cases",
        margin={"t": 50, "l": 10, "r": 10, "b": 10},
    )
    return figure
