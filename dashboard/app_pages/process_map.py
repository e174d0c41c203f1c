"""Process map: which step follows which, how often, and how long cases wait in between."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import charts, ui

st.title("Process map")

dfg = ui.figure("dfg")
ui.stop_if_empty(dfg)

label = st.radio(
    "Edge label", ["Frequency", "Waiting time"], horizontal=True, key="process_map_measure"
)
measure: charts.Measure = "wait" if label == "Waiting time" else "frequency"
st.graphviz_chart(charts.dfg_dot(dfg, measure), width="stretch")
st.caption(
    "Edge thickness is frequency. Waiting time of a → b is the start of b minus the end of "
    "a (mostly time in b's queue), as pm4py's performance DFG measures it with start times."
)

st.subheader("Directly-follows pairs")
st.dataframe(
    dfg.with_columns(
        mean_wait=pl.col("mean_wait_s").map_elements(
            charts.humanize_seconds, return_dtype=pl.String
        )
    ),
    width="stretch",
    hide_index=True,
)
ui.download(dfg, "dfg")
