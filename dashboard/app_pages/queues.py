"""Queues: what is waiting where, for how long, what is past due, and whether queues keep up."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import charts, charts_ops, ui

st.title("Queues")

filters = ui.current_filters()
at = {"at": filters["until"]} if "until" in filters else {}
summary = ui.figure("queue_summary", **at)
ui.stop_if_empty(summary, "No open items: every queue is empty as of the newest event.")
aging = ui.figure("queue_aging", **at)

metrics = st.columns(3)
metrics[0].metric("Open items", f"{int(summary['open_items'].sum()):,}")
metrics[1].metric("Past due", f"{int(summary['past_due'].sum()):,}")
metrics[2].metric("Oldest item", charts.humanize_seconds(summary["oldest_age_s"].max()))

left, right = st.columns(2)
left.plotly_chart(charts.queue_aging_heatmap(aging), width="stretch")
right.plotly_chart(charts.queue_summary_bar(summary), width="stretch")

st.subheader("Oldest and past-due items per queue")
ui.table(
    summary.with_columns(
        pl.col(c).map_elements(charts.humanize_seconds, return_dtype=pl.String).alias(alias)
        for c, alias in (("oldest_age_s", "oldest"), ("median_age_s", "median_age"))
    ),
    "queue-summary",
)

if ui.available("queue_wait"):
    st.subheader("Arrivals vs pick-ups")
    waits = ui.figure("queue_wait")
    st.plotly_chart(
        charts_ops.grouped_bars(
            waits.sort("items", descending=True),
            "queue",
            [("items", "new items"), ("waits", "picked up"), ("waiting", "still waiting")],
            "Arrivals and pick-ups per queue in the period",
            "items",
        ),
        width="stretch",
    )
    ui.table(
        waits.with_columns(
            pl.col(c).map_elements(charts.humanize_seconds, return_dtype=pl.String).alias(a)
            for c, a in (("median_wait_s", "median_wait"), ("p95_wait_s", "p95_wait"))
        ),
        "queue-wait",
    )

if ui.available("open_items"):
    # Viewers may not see case ids: ask for the items without them.
    items = ui.figure("open_items", **at, **({} if ui.can_list_cases() else {"cases": "false"}))
    items = items.with_columns(
        pl.col("age_s").map_elements(charts.humanize_seconds, return_dtype=pl.String).alias("age"),
        pl.col("due_in_s")
        .map_elements(
            lambda s: (
                f"{charts.humanize_seconds(-s)} overdue"
                if s < 0
                else f"in {charts.humanize_seconds(s)}"
            ),
            return_dtype=pl.String,
        )
        .alias("due"),
    )
    oldest, near_due = st.columns(2)
    with oldest:
        st.subheader("Oldest open items")
        ui.table(items.head(20), "oldest-open-items")
    with near_due:
        st.subheader("Near or past due")
        ui.table(
            items.filter(pl.col("due_in_s").is_not_null()).sort("due_in_s").head(20),
            "near-due-items",
        )
