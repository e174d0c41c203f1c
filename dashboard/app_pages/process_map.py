"""Process map: which step follows which, how often, how long cases wait in between, and
(for analysts) the cases behind an activity or a path."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import charts, derive, ui

st.title("Process map")

dfg = ui.figure("dfg")
ui.stop_if_empty(dfg)

measures = {"Frequency": "frequency", "Mean waiting time": "mean_wait_s"}
if ui.available("performance_dfg"):
    performance = ui.figure("performance_dfg")
    for column, (ours, label) in derive.PERFORMANCE_MEASURES.items():
        if column in performance.columns:
            measures[label] = ours
    dfg = derive.with_performance(dfg, performance)

controls = st.columns([2, 1, 1])
label = controls[0].radio("Measure", list(measures), horizontal=True, key="process_map_measure")
activities = controls[1].slider(
    "Activities", 10, 100, 100, step=5, format="%d%%", key="process_map_activities"
)
paths = controls[2].slider("Paths", 10, 100, 100, step=5, format="%d%%", key="process_map_paths")
shown = charts.simplify_dfg(dfg, activities / 100, paths / 100)
st.graphviz_chart(charts.dfg_dot(shown, measures[label]), width="stretch")
st.caption(
    "Edge label, thickness and colour show the chosen measure; boxes show how often each "
    "activity ran. Waiting time of a → b is the start of b minus the end of a (mostly time "
    "in b's queue), as pm4py's performance DFG measures it with start times. "
    f"Showing {shown.height} of {dfg.height} paths."
)

st.subheader("Directly-follows pairs")
ui.table(
    shown.with_columns(
        mean_wait=pl.col("mean_wait_s").map_elements(
            charts.humanize_seconds, return_dtype=pl.String
        )
    ),
    "dfg",
)

if ui.can_list_cases():
    st.subheader("Cases behind the map")
    counts = charts.activity_counts(dfg)
    pairs = [f"{s} → {t}" for s, t in shown.select("source", "target").iter_rows()]
    pick = st.selectbox(
        "Activity or path",
        [None, *sorted(counts), *pairs],
        format_func=lambda v: "Pick an activity or a path" if v is None else v,
        key="process_map_pick",
    )
    if pick is not None:
        instances = ui.figure("activity_instances")
        if " → " in pick:
            source, target = pick.split(" → ", 1)
            cases = derive.cases_on_edge(instances, source, target)
        else:
            cases = derive.cases_with_activity(instances, pick)
        st.caption(f"{cases.height:,} cases")
        ui.table(cases, "cases-behind-map")
