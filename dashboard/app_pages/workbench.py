"""Workbench: escalated items waiting for a person, resolved through the orchestrator's API.

This is the only page that shows identified details. They come from the orchestrator's
authenticated API when a person opens an item and live only in this run's memory: nothing
is cached, stored, logged or put in a URL.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import streamlit as st

from baton.errors import BatonError
from dashboard import data, ui
from dashboard.workbench import WorkbenchClient

st.title("Workbench")

settings = data.get_settings()
if not settings.orchestrator or not settings.orchestrator_token:
    st.info(
        "The workbench talks to the orchestrator's API: start the dashboard with "
        "`BATON_DASHBOARD_ORCHESTRATOR` (its URL) and `BATON_DASHBOARD_ORCHESTRATOR_TOKEN` "
        "(the token `baton orchestrator run` prints where it keeps).",
        icon=":material/info:",
    )
    st.stop()
client = WorkbenchClient(settings.orchestrator, settings.orchestrator_token)
try:
    items = client.items()
except BatonError as exc:
    ui.fail(exc)
if not items:
    st.success("Nothing is waiting for a person.")
    st.stop()


def _when(us: int | None) -> datetime | None:
    return None if us is None else datetime.fromtimestamp(us / 1e6, UTC).replace(tzinfo=None)


queue = pl.DataFrame(
    [
        {
            k: item.get(k)
            for k in (
                "item_id",
                "case_id",
                "workflow",
                "step",
                "attempt",
                "priority",
                "payer",
                "site",
            )
        }
        | {"escalated_at": _when(item.get("enqueued_us")), "due": _when(item.get("due_us"))}
        for item in items
    ]
)
st.metric("Waiting for a person", len(items))
ui.table(queue, "workbench")

item_id = st.selectbox(
    "Open an item",
    queue["item_id"].to_list(),
    index=None,
    format_func=lambda i: (
        f"#{i} " + " · ".join(str(v) for v in queue.filter(pl.col("item_id") == i).row(0)[2:4])
    ),
    key="workbench_item",
)
if item_id is None:
    st.stop()
try:
    detail = client.item(int(item_id))
except BatonError as exc:
    ui.fail(exc)
st.subheader(f"Item #{item_id}: {detail.get('workflow')} / {detail.get('step')}")
st.caption("Identified details, from the orchestrator; not stored by the dashboard.")
st.write(f"**Reference:** {detail.get('reference')}")
st.json(detail.get("payload") or {})
with st.form("resolve"):
    outcome = st.text_input("Outcome", placeholder="approved", key="workbench_outcome")
    person = st.text_input("Your name or initials", key="workbench_person")
    if st.form_submit_button("Resolve", icon=":material/check:"):
        if not outcome.strip() or not person.strip():
            st.warning("Give an outcome and your name.")
        else:
            try:
                client.resolve(int(item_id), outcome.strip(), person.strip())
            except BatonError as exc:
                ui.fail(exc)
            st.success(f"Item #{item_id} resolved as {outcome.strip()!r}; the case resumes.")
