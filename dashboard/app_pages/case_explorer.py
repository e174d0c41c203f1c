"""Case explorer: one case's timeline, by its pseudonym: waits, attempts, escalations.

The case is picked with a widget, so its id never appears in the page's URL.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import charts, charts_process, ui

st.title("Case explorer")

cases = ui.figure("case_durations")
ui.stop_if_empty(cases)
ordered = cases.sort("cycle_s", descending=True, nulls_last=True)
case_id = st.selectbox(
    "Case (pseudonym)",
    ordered["case_id"].to_list(),
    index=None,
    placeholder="Pick or type a case id; slowest first",
    key="case_explorer_case",
)
if case_id is None:
    st.info("Pick a case to see its timeline. Cases are listed slowest first.")
    st.stop()
case = ordered.filter(pl.col("case_id") == case_id).row(0, named=True)
timeline = ui.figure("case_timeline", case_id=case_id)
top = st.columns(4)
top[0].metric("Cycle time", charts.humanize_seconds(case["cycle_s"]))
top[1].metric("Steps", f"{timeline.select(['activity', 'item']).unique().height:,}")
top[2].metric("Attempts", f"{int((timeline['service_start'].is_not_null()).sum()):,}")
top[3].metric("Escalations", f"{int((timeline['arrival'] == 'escalated').sum()):,}")
st.caption(f"{case['workflow']} · {case['payer']} · {case['site']}")
st.plotly_chart(charts_process.gantt(timeline), width="stretch")
ui.table(
    timeline.with_columns(
        pl.col(c).map_elements(charts.humanize_seconds, return_dtype=pl.String).alias(a)
        for c, a in (("wait_s", "wait"), ("service_s", "service"))
    ),
    "case-timeline",
)
