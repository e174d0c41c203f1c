"""Conformance: do cases follow the routes their playbook declares?"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import streamlit as st

from dashboard import charts_ops, data, ui
from dashboard.config import DEFAULT_PLAYBOOKS

st.title("Conformance")
ui.require("conformance_over_time")

folder = data.get_settings().playbooks or DEFAULT_PLAYBOOKS
playbooks = sorted(Path(folder).glob("*.yaml")) + sorted(Path(folder).glob("*.yml"))
if not playbooks:
    st.info(
        f"No playbooks in {folder}: set `BATON_DASHBOARD_PLAYBOOKS` to the folder the "
        "orchestrator runs, to check cases against it.",
        icon=":material/info:",
    )
    st.stop()
chosen = st.selectbox(
    "Playbook", playbooks, format_func=lambda p: p.stem, key="conformance_playbook"
)
playbook = {"playbook": str(chosen)}

over_time = ui.figure("conformance_over_time", **playbook)
ui.stop_if_empty(over_time, f"No case of the {chosen.stem} workflow under these filters.")
cases, conforming = int(over_time["cases"].sum()), int(over_time["conforming_cases"].sum())
fitness = (over_time["mean_fitness"] * over_time["cases"]).sum() / max(cases, 1)
top = st.columns(3)
top[0].metric("Cases checked", f"{cases:,}")
top[1].metric("Conforming", f"{conforming / max(cases, 1):.1%}")
top[2].metric("Mean fitness", f"{fitness:.3f}")
st.plotly_chart(
    charts_ops.lines(
        over_time,
        "day",
        [("mean_fitness", "mean fitness"), ("conforming_share", "conforming share")],
        "Fitness over time (by the day cases started)",
        "share",
        percent=True,
    ),
    width="stretch",
)

if not ui.can_list_cases():
    st.info("Deviations name cases: an analyst token shows them.")
    st.stop()
deviations = ui.figure("deviations", **playbook)
if deviations.is_empty():
    st.success("Every case followed the playbook.")
    st.stop()
kinds = deviations.group_by("kind").agg(deviations=pl.len()).sort("deviations", descending=True)
st.plotly_chart(
    charts_ops.bars(kinds, "kind", "deviations", "Deviations by kind", colour="#d9534f"),
    width="stretch",
)
st.subheader("Deviating cases")
per_case = ui.figure("conformance", **playbook).filter(~pl.col("conforming"))
ui.table(per_case, "deviating-cases")
with st.expander("Every deviation"):
    ui.table(deviations, "deviations")
