"""Retries: which steps fail, for which payers, with which errors, and what retries cost."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import charts, charts_ops, ui

st.title("Retries")

counts = ui.figure("retry_counts")
ui.stop_if_empty(counts)
by_step = ui.figure("retry_hotspots", by="activity")
hotspots = ui.figure("retry_hotspots", by="activity,payer,error_type")

lost = float(by_step["time_lost_s"].sum()) if "time_lost_s" in by_step.columns else None
successes = int(by_step["successes"].sum())
retries = int(by_step["retries"].sum())
top = st.columns(3)
top[0].metric("Retries", f"{retries:,}")
top[1].metric(
    "Retries per success",
    f"{retries / successes:.2f}" if successes else "n/a",
    help="Retries over successful attempts, all steps.",
)
top[2].metric(
    "Time lost to retries",
    charts.humanize_seconds(lost),
    help="Service of the failed attempts plus their wait back on the queue.",
)

if hotspots.is_empty():
    st.success("No failures, retries or escalations under these filters.")
else:
    left, right = st.columns(2)
    left.plotly_chart(
        charts_ops.heatmap(hotspots, "activity", "payer", "retries", "Retries by step and payer"),
        width="stretch",
    )
    right.plotly_chart(
        charts_ops.heatmap(
            hotspots, "activity", "error_type", "retries", "Retries by step and error type"
        ),
        width="stretch",
    )
    st.plotly_chart(
        charts_ops.bars(
            by_step.sort("time_lost_s", descending=True),
            "activity",
            "time_lost_s",
            "Time lost to retries per step",
            seconds=True,
            y_title="hours",
        ),
        width="stretch",
    )
    st.subheader("Hotspots: step x payer x error type")
    ui.table(
        hotspots.with_columns(
            time_lost=pl.col("time_lost_s").map_elements(
                charts.humanize_seconds, return_dtype=pl.String
            )
        ),
        "retry-hotspots",
        column_config={
            "retry_rate": st.column_config.NumberColumn("retry rate", format="percent"),
            "attempts_per_success": st.column_config.NumberColumn(format="%.2f"),
        },
    )

st.subheader("Attempts and retries per step")
ui.table(
    counts,
    "retry-counts",
    column_config={
        "retry_rate": st.column_config.NumberColumn("retry rate", format="percent"),
        "attempts_per_success": st.column_config.NumberColumn(format="%.2f"),
    },
)
