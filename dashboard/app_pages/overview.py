"""Overview: how many cases, how long they take, how often bots fail and people step in."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import charts, ui

st.title("Overview")

overview = ui.figure("overview").row(0, named=True)
if not overview["cases"]:
    ui.explain_empty()

st.caption(
    f"Events from {overview['first_ts']:%Y-%m-%d %H:%M} to {overview['last_ts']:%Y-%m-%d %H:%M} UTC"
)
volume = st.columns(4)
volume[0].metric("Cases", f"{overview['cases']:,}")
volume[1].metric("Events", f"{overview['events']:,}")
volume[2].metric("Handoffs", f"{overview['handoffs']:,}", help="Items put on a queue.")
volume[3].metric(
    "Escalation rate",
    f"{overview['escalation_rate']:.1%}",
    help="Share of cases that reached the human workbench.",
)
speed = st.columns(4)
speed[0].metric("Median cycle time", charts.humanize_seconds(overview["median_cycle_s"]))
speed[1].metric("P90 cycle time", charts.humanize_seconds(overview["p90_cycle_s"]))
speed[2].metric("Retry rate", f"{overview['retry_rate']:.1%}", help="Retries per handoff.")

cases = ui.figure("case_durations")
st.plotly_chart(charts.cycle_time_histogram(cases), width="stretch")

with st.expander("Cases, slowest first"):
    slowest = cases.sort("duration_s", descending=True, nulls_last=True)
    st.dataframe(
        slowest.with_columns(
            cycle_time=pl.col("duration_s").map_elements(
                charts.humanize_seconds, return_dtype=pl.String
            )
        ),
        width="stretch",
        hide_index=True,
    )
    ui.download(slowest, "cases")
