"""Bots: each bot's state (busy, idle, offline by heartbeat), load, success and speed."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import charts, charts_ops, ui

st.title("Bots")
ui.require("bot_stats")

filters = ui.current_filters()
at = {"at": filters["until"]} if "until" in filters else {}
bots = ui.figure("bot_stats", **at)
ui.stop_if_empty(bots)

states = dict(bots.group_by("status").len().iter_rows())
top = st.columns(4)
top[0].metric("Busy", states.get("busy", 0))
top[1].metric("Idle", states.get("idle", 0))
top[2].metric("Offline", states.get("offline", 0), help="Silent for more than 5 minutes.")
top[3].metric(
    "Fleet success rate",
    f"{bots['successes'].sum() / max(int(bots['attempts'].sum()), 1):.1%}",
)
left, right = st.columns(2)
left.plotly_chart(
    charts_ops.bars(
        bots.sort("utilization", descending=True, nulls_last=True),
        "bot",
        "utilization",
        "Utilization",
        percent=True,
        horizontal=True,
    ),
    width="stretch",
)
right.plotly_chart(
    charts_ops.bars(
        bots.sort("median_run_s", descending=True, nulls_last=True),
        "bot",
        "median_run_s",
        "Median run time",
        seconds=True,
        y_title="hours",
        horizontal=True,
    ),
    width="stretch",
)
ui.table(
    bots.with_columns(
        median_run=pl.col("median_run_s").map_elements(
            charts.humanize_seconds, return_dtype=pl.String
        )
    ),
    "bots",
    column_config={
        "success_rate": st.column_config.NumberColumn("success rate", format="percent"),
        "utilization": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0),
    },
)
