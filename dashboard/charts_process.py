"""Pure chart builders of the process pages (bottlenecks, variants, conformance, cases).

Frames in, Plotly figures out; no Streamlit, no data source.
"""

from __future__ import annotations

from datetime import datetime

import plotly.graph_objects as go
import polars as pl

from dashboard.charts import humanize_seconds

_MARGIN = {"t": 50, "l": 10, "r": 10, "b": 10}
#: Colours of a Gantt row by what the time was spent on.
GANTT_COLOURS = {"wait": "#c8d6ea", "completed": "#4a6fa5", "failed": "#d9534f",
                 "resumed": "#f0ad4e", "abandoned": "#999999", "running": "#5cb85c"}  # fmt: skip


def waiting_share(frame: pl.DataFrame, label: str, share: str, title: str) -> go.Figure:
    """Horizontal bars of ``share`` (0-1) per ``label``, largest on top."""
    ordered = frame.sort(share, descending=True, nulls_last=True)
    figure = go.Figure(
        go.Bar(
            x=ordered[share].to_list(),
            y=[str(v) for v in ordered[label].to_list()],
            orientation="h",
            marker_color="#d9534f",
            hovertemplate="%{y}: %{x:.1%} of waiting time<extra></extra>",
        )
    )
    figure.update_layout(title=title, xaxis_tickformat=".0%", margin=_MARGIN)
    figure.update_yaxes(autorange="reversed")
    return figure


def performance_spectrum(
    segments: pl.DataFrame, start: str = "start_ts", end: str = "end_ts", segment: str = "segment"
) -> go.Figure:
    """Performance spectrum: one line per case passing a segment, from its time at the
    segment's start (bottom) to its time at the end (top); slanted bundles are slow ones."""
    figure = go.Figure()
    names = list(dict.fromkeys(segments[segment].to_list()))
    for position, name in enumerate(names):
        rows = segments.filter(pl.col(segment) == name)
        xs: list[datetime | None] = []
        ys: list[float | None] = []
        for s, e in rows.select(start, end).iter_rows():
            xs += [s, e, None]
            ys += [position + 1.0, float(position), None]
        figure.add_trace(
            go.Scattergl(x=xs, y=ys, mode="lines", name=str(name), line={"width": 1}, opacity=0.5)
        )
    figure.update_layout(
        title="Performance spectrum",
        xaxis_title="time",
        yaxis={
            "tickvals": [i + 0.5 for i in range(len(names))],
            "ticktext": [str(n) for n in names],
        },
        margin=_MARGIN,
        showlegend=False,
    )
    return figure


def variant_bars(variants: pl.DataFrame, variant: str, cases: str, top: int = 15) -> go.Figure:
    """The most frequent variants, each labelled by its steps, by number of cases."""
    head = variants.sort(cases, descending=True).head(top)
    labels = [f"#{i + 1}" for i in range(head.height)]
    figure = go.Figure(
        go.Bar(
            x=head[cases].to_list(),
            y=labels,
            orientation="h",
            customdata=[str(v) for v in head[variant].to_list()],
            hovertemplate="%{y}: %{x} cases<br>%{customdata}<extra></extra>",
            marker_color="#4a6fa5",
        )
    )
    figure.update_layout(title=f"Top {head.height} variants", xaxis_title="cases", margin=_MARGIN)
    figure.update_yaxes(autorange="reversed")
    return figure


def gantt(timeline: pl.DataFrame) -> go.Figure:
    """One case as a Gantt chart: per attempt, its wait on the queue and its service.

    Rows are labelled ``activity item.attempt`` (``check_status 3.1``: third item of that
    step in the case, first attempt), top to bottom in the order they happened.

    ``timeline`` has ``activity``, ``attempt``, ``wait_start``/``wait_end``,
    ``service_start``/``service_end``, ``result`` (the columns of ``case_timeline``).
    """
    figure = go.Figure()
    labels: list[str] = []
    shown: set[str] = set()
    for row in timeline.iter_rows(named=True):
        label = f"{row['activity']} {row.get('item') or 1}.{row.get('attempt') or 1}"
        while label in labels:  # item.attempt is unique in a case; this is only a guard
            label += " "
        labels.append(label)
        spans = (
            ("wait", row.get("wait_start"), row.get("wait_end")),
            (row.get("result") or "running", row.get("service_start"), row.get("service_end")),
        )
        for kind, begin, finish in spans:
            if begin is None:
                continue
            finish = finish or begin
            seconds = (finish - begin).total_seconds()
            figure.add_trace(
                go.Bar(
                    base=[begin],
                    x=[max(seconds * 1000, 1.0)],
                    y=[label],
                    orientation="h",
                    name=kind,
                    legendgroup=kind,
                    showlegend=kind not in shown,
                    marker_color=GANTT_COLOURS.get(kind, "#4a6fa5"),
                    hovertemplate=f"{label}: {kind} {humanize_seconds(seconds)}<extra></extra>",
                )
            )
            shown.add(kind)
    figure.update_layout(
        title="Timeline: waits and attempts",
        barmode="overlay",
        xaxis={"type": "date", "title": "time (UTC)"},
        yaxis={"categoryorder": "array", "categoryarray": labels, "autorange": "reversed"},
        margin=_MARGIN,
        height=max(250, 40 * len(labels) + 120),
    )
    return figure
