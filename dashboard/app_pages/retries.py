"""Retries: which steps fail, with which errors, and what the retries cost."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, ui

st.title("Retries")

counts = ui.figure("retry_counts")
ui.stop_if_empty(counts)
hotspots = ui.figure("retry_hotspots")

if hotspots.is_empty():
    st.success("No failures, retries or escalations under these filters.")
else:
    st.plotly_chart(charts.retry_hotspots_bar(hotspots), width="stretch")

st.subheader("Attempts and retries per step")
st.dataframe(
    counts,
    width="stretch",
    hide_index=True,
    column_config={
        "retry_rate": st.column_config.NumberColumn("retry rate", format="percent"),
        "attempts_per_success": st.column_config.NumberColumn(format="%.2f"),
    },
)
ui.download(counts, "retry-counts")
