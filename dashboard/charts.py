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


def dfg_dot(dfg: pl.DataFrame, measure: Measure = "frequency") -> str:
    """A process map as Graphviz DOT: one node per activity, one edge per directly-follows pair.

    Edge thickness always shows frequency, so the busy path stands out whichever number is
    printed; the label is the frequency or the mean waiting time (start of the next step
    minus end of the previous one), humanized.

    Example:
        >>> frame = pl.DataFrame({"source": ["a"], "target": ["b"],
        ...                       "frequency": [3], "mean_wait_s": [90.0]})
        >>> print(dfg_dot(frame, "wait"))  # doctest: +NORMALIZE_WHITESPACE
        digraph dfg {
          rankdir=LR;
          node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname="Helvetica"];
          edge [fontname="Helvetica", fontsize=10, color="#4a6fa5"];
          "a";
          "b";
          "a" -> "b" [label="1.5 min", penwidth=6.0];
        }
    """
    if measure not in ("frequency", "wait"):
        raise ValueError(f"measure must be 'frequency' or 'wait', not {measure!r}")
    rows = dfg.to_dicts()
    activities = list(dict.fromkeys(a for row in rows for a in (row["source"], row["target"])))
    top = max((row["frequency"] for row in rows), default=1) or 1
    lines = [
        "digraph dfg {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10, color="#4a6fa5"];',
    ]
    lines += [f"  {_quote(activity)};" for activity in activities]
    for row in rows:
        label = (
            f"{row['frequency']:,}"
            if measure == "frequency"
            else humanize_seconds(row["mean_wait_s"])
        )
        width = MIN_PENWIDTH + (MAX_PENWIDTH - MIN_PENWIDTH) * row["frequency"] / top
        lines.append(
            f"  {_quote(row['source'])} -> {_quote(row['target'])}"
            f" [label={_quote(label)}, penwidth={width:.1f}];"
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
    median = case_durations.select(pl.col("duration_s").median()).item()
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
                x=[s / size for s in rows["duration_s"].drop_nulls().to_list()],
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
