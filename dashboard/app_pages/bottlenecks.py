"""Bottlenecks: the steps and handoffs where cases spend their waiting time."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import charts, charts_process, ui

st.title("Bottlenecks")
ui.require("bottlenecks")

ranking = ui.figure("bottlenecks")
ui.stop_if_empty(ranking)
st.caption(
    "Share of all cases' cycle time spent waiting: on a step (its queue waits, including "
    "retries and escalations) or on a handoff a → b (start of b minus end of a). The two "
    "kinds are two views of one delay, so their shares do not add up."
)
steps = ranking.filter(pl.col("kind") == "step")
handoffs = ranking.filter(pl.col("kind") == "handoff")
left, right = st.columns(2)
left.plotly_chart(
    charts_process.waiting_share(steps.head(12), "name", "wait_share", "Steps by waiting share"),
    width="stretch",
)
right.plotly_chart(
    charts_process.waiting_share(
        handoffs.head(12), "name", "wait_share", "Handoffs by waiting share"
    ),
    width="stretch",
)
ui.table(
    ranking.select(
        "rank", "kind", "name", "occurrences", "wait_s", "mean_wait_s", "wait_share", "time_share"
    ).with_columns(
        mean_wait=pl.col("mean_wait_s").map_elements(
            charts.humanize_seconds, return_dtype=pl.String
        )
    ),
    "bottlenecks",
    column_config={
        "wait_share": st.column_config.NumberColumn("wait share", format="percent"),
        "time_share": st.column_config.NumberColumn("time share", format="percent"),
    },
)

st.subheader("Performance spectrum")
if not ui.available("performance_spectrum"):
    st.info("Not available in this version: the source has no figure performance_spectrum.")
elif not ui.can_list_cases():
    st.info("The performance spectrum draws one line per case: it needs an analyst token.")
else:
    top = handoffs.head(8)
    pick = st.selectbox(
        "Handoff",
        top["name"].to_list(),
        key="bottlenecks_handoff",
        help="The spectrum of one handoff: each line is a case leaving a and starting b.",
    )
    row = top.filter(pl.col("name") == pick).row(0, named=True)
    spectrum = ui.figure("performance_spectrum", activities=f"{row['source']},{row['target']}")
    st.plotly_chart(
        charts_process.performance_spectrum(
            spectrum.with_columns(segment=pl.col("source") + " → " + pl.col("target")),
            start="source_end_ts",
            end="target_start_ts",
        ),
        width="stretch",
    )
