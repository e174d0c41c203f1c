"""Alerts: what is firing, what is about to, what is silenced, what happened; silence from here.

State comes from the collector's evaluator (or a file's alert tables) through
:class:`alerts.board.Board`; times are the evaluator's clock, which in a simulation is the
simulator's virtual time. Nothing here names a case: alerts carry queue-level labels only.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import streamlit as st

from alerts.board import AlertsNotEnabled, Board
from baton.errors import BatonError
from dashboard import data, ui

#: Choices of how long a silence lasts.
DURATIONS = {
    "1 hour": timedelta(hours=1),
    "4 hours": timedelta(hours=4),
    "1 day": timedelta(days=1),
    "1 week": timedelta(days=7),
}
#: Labels every alert has that say nothing a table's other columns do not.
_PLAIN = ("alertname", "severity")

st.title("Alerts")

try:
    settings = data.get_settings()
    board = Board(url=settings.collector, db=settings.db)
    snapshot = board.snapshot()
except AlertsNotEnabled as exc:
    st.info(str(exc), icon=":material/notifications_off:")
    st.stop()
except BatonError as exc:
    ui.fail(exc)

alerts = snapshot["alerts"]
st.caption(f"As of {snapshot['now'][:19].replace('T', ' ')} UTC (the evaluator's clock).")


def table(rows: list[dict[str, object]]) -> pl.DataFrame:
    """Alerts as a table a person scans: rule, where, severity, what, since when."""
    return pl.DataFrame(
        [
            {
                "rule": a["rule"],
                "labels": ", ".join(
                    f"{k}={v}"
                    for k, v in sorted(dict(a["labels"]).items())  # type: ignore[call-overload]
                    if k not in _PLAIN
                ),
                "severity": dict(a["labels"]).get("severity", ""),  # type: ignore[call-overload]
                "summary": a["summary"],
                "since": str(a["fired_at"] or a["active_since"] or "")[:16].replace("T", " "),
                "resolved": str(a["resolved_at"] or "")[:16].replace("T", " "),
            }
            for a in rows
        ],
        schema={
            c: pl.String for c in ("rule", "labels", "severity", "summary", "since", "resolved")
        },
    )


firing = [a for a in alerts if a["state"] == "firing" and not a["silenced"]]
pending = [a for a in alerts if a["state"] == "pending" and not a["silenced"]]
muted = [a for a in alerts if a["silenced"] or a["inhibited"]]
resolved = [a for a in alerts if a["state"] == "resolved"]

left, middle, right = st.columns(3)
left.metric("Firing", len([a for a in firing if not a["inhibited"]]))
middle.metric("Pending", len(pending))
right.metric("Silenced or inhibited", len(muted))

st.subheader("Firing")
if firing:
    st.dataframe(table(firing), width="stretch", hide_index=True)
else:
    st.success("Nothing is firing.", icon=":material/check_circle:")

st.subheader("Pending")
st.caption("The condition holds, but not yet for the rule's pending period (`for`).")
if pending:
    st.dataframe(table(pending), width="stretch", hide_index=True)
else:
    st.write("Nothing is pending.")

st.subheader("Silenced")
if muted:
    st.dataframe(table(muted), width="stretch", hide_index=True)
silences = snapshot["silences"]
if silences:
    st.dataframe(
        pl.DataFrame(
            [
                {
                    "matchers": ", ".join(f"{k}={v}" for k, v in sorted(s["matchers"].items())),
                    "until": s["ends_at"][:16].replace("T", " "),
                    "active": s["active"],
                    "by": s["created_by"],
                    "comment": s["comment"],
                }
                for s in silences
            ]
        ),
        width="stretch",
        hide_index=True,
    )
elif not muted:
    st.write("No silences.")

silenceable = firing + pending
if silenceable:
    with st.form("silence"):
        st.markdown("**Silence an alert**: no notifications while the silence lasts.")
        choice = st.selectbox(
            "Alert",
            range(len(silenceable)),
            format_func=lambda i: f"{silenceable[i]['rule']}: {silenceable[i]['summary']}",
        )
        duration = st.selectbox("For", list(DURATIONS))
        comment = st.text_input("Comment", placeholder="why, and who is on it")
        if st.form_submit_button("Silence", icon=":material/notifications_paused:"):
            labels = {k: v for k, v in silenceable[choice]["labels"].items() if k != "severity"}
            try:
                board.silence(labels, DURATIONS[duration], comment)
            except BatonError as exc:
                ui.fail(exc)
            st.session_state["alerts_silenced"] = silenceable[choice]["rule"]
            st.rerun()
if "alerts_silenced" in st.session_state:
    st.success(f"Silenced {st.session_state.pop('alerts_silenced')}.")

st.subheader("History")
history = snapshot["history"]
if history:
    st.dataframe(
        pl.DataFrame(
            [
                {
                    "at": h["ts"][:16].replace("T", " "),
                    "rule": h["rule"],
                    "change": f"{h['from_state']} → {h['to_state']}",
                    "summary": h["summary"],
                }
                for h in history
            ]
        ),
        width="stretch",
        hide_index=True,
    )
elif resolved:
    st.dataframe(table(resolved), width="stretch", hide_index=True)
else:
    st.write("No alert has changed state yet.")
