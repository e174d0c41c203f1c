"""Overview: cases in flight, throughput, cycle time, SLA, retries and escalations, each with
its trend against the period before."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import streamlit as st

from dashboard import charts, charts_ops, ui

st.title("Overview")

now = ui.figure("overview").row(0, named=True)
if not now["cases"]:
    ui.explain_empty()
before_filters = ui.previous_filters()
before = ui.figure("overview", before_filters).row(0, named=True) if before_filters else None


def _prev(key: str) -> float | None:
    return None if before is None else before[key]


def _in_flight(filters: dict[str, str] | None) -> int | None:
    if filters is None:
        return None
    at = {"at": filters["until"]} if "until" in filters else {}
    return int(ui.figure("queue_summary", filters, **at)["open_items"].sum())


def _throughput(filters: dict[str, str] | None) -> int | None:
    if filters is None or not ui.available("throughput"):
        return None
    return int(ui.figure("throughput", filters)["cases_completed"].sum())


def _sla(filters: dict[str, str] | None) -> float | None:
    if filters is None or not ui.available("sla"):
        return None
    at = {"at": filters["until"]} if "until" in filters else {}
    rows = ui.figure("sla", filters, by="workflow", **at)
    met, breached = int(rows["met"].sum()), int(rows["breached"].sum())
    return met / (met + breached) if met + breached else None


filters = ui.current_filters()
st.caption(
    f"Events from {now['first_ts']:%Y-%m-%d %H:%M} to {now['last_ts']:%Y-%m-%d %H:%M} UTC"
    + ("" if before else " · pick a time range in the sidebar to compare with the period before")
)
in_flight, throughput, sla = _in_flight(filters), _throughput(filters), _sla(filters)
volume = st.columns(4)
volume[0].metric(
    "Cases in flight",
    f"{in_flight:,}",
    charts_ops.count_delta(in_flight, _in_flight(before_filters)),
    delta_color="inverse",
    help="Work items waiting on a queue at the end of the period.",
)
volume[1].metric(
    "Throughput",
    "n/a" if throughput is None else f"{throughput:,}",
    charts_ops.count_delta(throughput, _throughput(before_filters)),
    help="Cases completed in the period.",
)
volume[2].metric(
    "Cases",
    f"{now['cases']:,}",
    charts_ops.count_delta(now["cases"], _prev("cases")),
    help="Cases with events in the period.",
)
volume[3].metric(
    "SLA compliance",
    "n/a" if sla is None else f"{sla:.1%}",
    charts_ops.rate_delta(sla, _sla(before_filters)),
    help="Items done by their due time, of those done or past due.",
)
speed = st.columns(4)
speed[0].metric(
    "Median cycle time",
    charts.humanize_seconds(now["median_cycle_s"]),
    charts_ops.duration_delta(now["median_cycle_s"], _prev("median_cycle_s")),
    delta_color="inverse",
)
speed[1].metric(
    "P90 cycle time",
    charts.humanize_seconds(now["p90_cycle_s"]),
    charts_ops.duration_delta(now["p90_cycle_s"], _prev("p90_cycle_s")),
    delta_color="inverse",
)
speed[2].metric(
    "Retry rate",
    f"{now['retry_rate']:.1%}",
    charts_ops.rate_delta(now["retry_rate"], _prev("retry_rate")),
    delta_color="inverse",
    help="Retries per handoff.",
)
speed[3].metric(
    "Escalation rate",
    f"{now['escalation_rate']:.1%}",
    charts_ops.rate_delta(now["escalation_rate"], _prev("escalation_rate")),
    delta_color="inverse",
    help="Share of cases that reached the human workbench.",
)

left, right = st.columns(2)
every = "1h" if now["last_ts"] - now["first_ts"] <= timedelta(days=3) else "1d"
if ui.available("throughput"):
    series = ui.figure("throughput", every=every)
    left.plotly_chart(
        charts_ops.lines(
            series,
            "period",
            [("cases_started", "started"), ("cases_completed", "completed")],
            "Cases started and completed",
            "cases",
        ),
        width="stretch",
    )
if ui.available("sla_over_time"):
    compliance = ui.figure("sla_over_time", every=every)
    right.plotly_chart(
        charts_ops.lines(
            compliance,
            "period",
            [("compliance_rate", "compliance")],
            "SLA compliance by due time",
            "compliance",
            percent=True,
        ),
        width="stretch",
    )

if ui.can_list_cases():
    cases = ui.figure("case_durations")
    st.plotly_chart(charts.cycle_time_histogram(cases), width="stretch")
    with st.expander("Cases, slowest first"):
        slowest = cases.sort("cycle_s", descending=True, nulls_last=True)
        ui.table(
            slowest.with_columns(
                cycle_time=pl.col("cycle_s").map_elements(
                    charts.humanize_seconds, return_dtype=pl.String
                )
            ),
            "cases",
        )
