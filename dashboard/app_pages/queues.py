"""Queues: what is waiting where, for how long, and what is already past due."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import charts, ui

st.title("Queues")

summary = ui.figure("queue_summary")
ui.stop_if_empty(summary, "No open items: every queue is empty as of the newest event.")
aging = ui.figure("queue_aging")

left, right = st.columns(2)
left.plotly_chart(charts.queue_summary_bar(summary), width="stretch")
right.plotly_chart(charts.queue_aging_heatmap(aging), width="stretch")

st.subheader("Open items per queue")
st.dataframe(
    summary.with_columns(
        pl.col(c).map_elements(charts.humanize_seconds, return_dtype=pl.String).alias(alias)
        for c, alias in (("oldest_age_s", "oldest"), ("median_age_s", "median_age"))
    ),
    width="stretch",
    hide_index=True,
)
ui.download(summary, "queue-summary")
