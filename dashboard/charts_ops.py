"""Pure chart builders of the operations pages (overview, queues, retries, bots).

Frames in, Plotly figures out; no Streamlit, no data source, so each is unit-tested on a
frame built by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import polars as pl

from dashboard.charts import humanize_seconds

_MARGIN = {"t": 50, "l": 10, "r": 10, "b": 10}


def trend(current: float | None, previous: float | None) -> float | None:
    """Change from ``previous`` to ``current``, None when either is missing.

    Example:
        >>> trend(12, 10), trend(5, None)
        (2, None)
    """
    if current is None or previous is None:
        return None
    return current - previous


def rate_delta(current: float | None, previous: float | None) -> str | None:
    """A change of a rate, in percentage points, as ``st.metric`` shows a delta.

    Example:
        >>> rate_delta(0.25, 0.2)
        '+5.0 pp'
    """
    change = trend(current, previous)
    return None if change is None else f"{change * 100:+.1f} pp"


def duration_delta(current: float | None, previous: float | None) -> str | None:
    """A change of a duration, humanized with its sign.

    Example:
        >>> duration_delta(5400, 1800)
        '+1.0 h'
    """
    change = trend(current, previous)
    if change is None:
        return None
    return ("+" if change >= 0 else "") + humanize_seconds(change)


def count_delta(current: int | None, previous: int | None) -> str | None:
    """A change of a count with its sign.

    Example:
        >>> count_delta(7, 9)
        '-2'
    """
    change = trend(current, previous)
    return None if change is None else f"{int(change):+,}"


def lines(
    frame: pl.DataFrame,
    x: str,
    series: Sequence[tuple[str, str]],
    title: str,
    y_title: str,
    percent: bool = False,
) -> go.Figure:
    """One line per ``(column, name)`` of ``frame`` over ``x``."""
    figure = go.Figure()
    for column, name in series:
        figure.add_trace(
            go.Scatter(
                x=frame[x].to_list(),
                y=frame[column].to_list(),
                mode="lines+markers",
                name=name,
            )
        )
    figure.update_layout(title=title, xaxis_title=x, yaxis_title=y_title, margin=_MARGIN)
    if percent:
        figure.update_yaxes(tickformat=".0%", range=[0, 1.05])
    return figure


def bars(
    frame: pl.DataFrame,
    x: str,
    y: str,
    title: str,
    y_title: str | None = None,
    colour: str = "#4a6fa5",
    seconds: bool = False,
    percent: bool = False,
    horizontal: bool = False,
) -> go.Figure:
    """Bars of ``y`` per ``x``, in the frame's order; durations hover humanized."""
    values = frame[y].to_list()
    text = [humanize_seconds(v) for v in values] if seconds else None
    if seconds:
        values = [None if v is None else v / 3600 for v in values]
    labels = [str(v) for v in frame[x].to_list()]
    bar = go.Bar(
        x=values if horizontal else labels,
        y=labels if horizontal else values,
        orientation="h" if horizontal else "v",
        marker_color=colour,
        text=text,
        hovertext=text,
    )
    figure = go.Figure(bar)
    axis = y_title or (f"{y} (h)" if seconds else y)
    figure.update_layout(
        title=title,
        margin=_MARGIN,
        xaxis_title=axis if horizontal else x,
        yaxis_title=x if horizontal else axis,
    )
    if percent:
        (figure.update_xaxes if horizontal else figure.update_yaxes)(tickformat=".0%")
    if horizontal:
        figure.update_yaxes(autorange="reversed")
    return figure


def grouped_bars(
    frame: pl.DataFrame, x: str, series: Sequence[tuple[str, str]], title: str, y_title: str
) -> go.Figure:
    """Bars of several columns side by side per ``x`` (arrivals next to completions)."""
    figure = go.Figure(
        [go.Bar(name=name, x=frame[x].to_list(), y=frame[col].to_list()) for col, name in series]
    )
    figure.update_layout(
        title=title, barmode="group", xaxis_title=x, yaxis_title=y_title, margin=_MARGIN
    )
    return figure


def heatmap(
    frame: pl.DataFrame, rows: str, columns: str, value: str, title: str, scale: str = "Reds"
) -> go.Figure:
    """``value`` summed over ``rows`` x ``columns`` (missing cells are 0), labelled."""
    totals = frame.group_by(rows, columns).agg(pl.col(value).sum())
    ys = sorted(str(v) for v in totals[rows].unique().to_list())
    xs = sorted(str(v) for v in totals[columns].unique().to_list())
    cell = {(str(r[0]), str(r[1])): r[2] for r in totals.select(rows, columns, value).iter_rows()}
    z = [[cell.get((y, x), 0) for x in xs] for y in ys]
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=xs,
            y=ys,
            text=z,
            texttemplate="%{text}",
            colorscale=scale,
            hovertemplate=f"%{{y}} x %{{x}}: %{{z}} {value}<extra></extra>",
        )
    )
    figure.update_layout(title=title, xaxis_title=columns, yaxis_title=rows, margin=_MARGIN)
    return figure


def bot_states(bots: pl.DataFrame, state: str = "state") -> go.Figure:
    """How many bots are busy, idle or offline, as one stacked bar per state."""
    order = {"busy": "#4a6fa5", "idle": "#9ab3d5", "offline": "#d9534f"}
    counts = dict(bots.group_by(state).len().iter_rows())
    figure = go.Figure(
        [
            go.Bar(name=name, x=[name], y=[counts.get(name, 0)], marker_color=colour)
            for name, colour in order.items()
        ]
    )
    figure.update_layout(title="Bots by state", yaxis_title="bots", margin=_MARGIN)
    return figure
