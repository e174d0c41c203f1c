"""What every page does the same way: read the shared filters, fetch a figure, say why
nothing is shown, offer a table as CSV.

The filters are drawn once in the entry point's sidebar and copied into a plain
``st.session_state`` key, because with ``st.navigation`` a widget's own state is dropped on
pages that do not draw it. Errors and empty results end the page with a message instead of a
traceback: an ops person needs "collector unreachable", not a stack.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Final, NoReturn

import polars as pl
import streamlit as st

from baton.errors import BatonError
from dashboard import data

#: Session-state key holding the current filters as ``{name: ISO string or value}``.
FILTERS_KEY: Final = "baton_filters"
NO_DATA: Final = (
    "No data yet: run `baton simulate` (or send telemetry to the collector), "
    "then press **Refresh data** in the sidebar."
)
NO_MATCH: Final = "No events match these filters; widen the dates or pick another workflow."


def filter_values(workflow: str | None, since: date | None, until: date | None) -> dict[str, str]:
    """Sidebar choices as figure filters. ``until`` is inclusive for people, exclusive for
    figures, so it moves to the start of the next day.

    Example:
        >>> filter_values("referral", None, date(2026, 3, 2))
        {'workflow': 'referral', 'until': '2026-03-03T00:00:00'}
    """
    values: dict[str, str] = {}
    if workflow and workflow.strip():
        values["workflow"] = workflow.strip()
    if since is not None:
        values["since"] = f"{since.isoformat()}T00:00:00"
    if until is not None:
        values["until"] = f"{(until + timedelta(days=1)).isoformat()}T00:00:00"
    return values


def current_filters() -> dict[str, str]:
    """The filters the sidebar set on this run (none before it has run)."""
    return dict(st.session_state.get(FILTERS_KEY, {}))


def fail(exc: BatonError) -> NoReturn:
    """End the page with the error's one-line message."""
    st.error(str(exc), icon=":material/error:")
    st.stop()


def figure(name: str, **params: str) -> pl.DataFrame:
    """Figure ``name`` under the current filters, or end the page with the error."""
    try:
        return data.load_figure(name, data.as_key({**current_filters(), **params}))
    except BatonError as exc:
        fail(exc)


def has_events() -> bool:
    """Whether the source holds any event at all, filters aside."""
    overview = data.load_figure("overview", ())
    return bool(overview["events"][0])


def stop_if_empty(frame: pl.DataFrame, empty_means: str = NO_MATCH) -> None:
    """End the page with :func:`explain_empty` when ``frame`` has no rows."""
    if frame.is_empty():
        explain_empty(empty_means)


def explain_empty(empty_means: str = NO_MATCH) -> NoReturn:
    """End the page saying why there is nothing to show.

    An empty source gets the "run a simulation" hint; otherwise ``empty_means`` says what
    an empty figure means on this page (no open items is good news on the Queues page).
    """
    try:
        message = empty_means if has_events() else NO_DATA
    except BatonError as exc:
        fail(exc)
    st.info(message, icon=":material/info:")
    st.stop()


def download(frame: pl.DataFrame, name: str) -> None:
    """A CSV download of ``frame``; it does not rerun the page when clicked."""
    st.download_button(
        "Download CSV",
        frame.write_csv(),
        file_name=f"baton-{name}.csv",
        mime="text/csv",
        key=f"download-{name}",
        on_click="ignore",
        icon=":material/download:",
    )


def workflow_names() -> list[str]:
    """Workflows in the source, for the sidebar's choice; empty if the source cannot say."""
    try:
        cases = data.load_figure("case_durations", ())
    except BatonError:
        return []
    return sorted(w for w in cases["workflow"].unique().to_list() if w)
