"""What every page does the same way: read the shared filters, fetch a figure, say why
nothing is shown, offer a table as CSV.

The filters are drawn once in the entry point's sidebar and copied into a plain
``st.session_state`` key, because with ``st.navigation`` a widget's own state is dropped on
pages that do not draw it. Errors and empty results end the page with a message instead of a
traceback: an ops person needs "collector unreachable", not a stack.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Final, NoReturn

import polars as pl
import streamlit as st

from baton.errors import BatonError
from dashboard import data
from dashboard.access import Role

#: Session-state key holding the current filters as ``{name: ISO string or value}``.
FILTERS_KEY: Final = "baton_filters"
#: Session-state key of the previous period's filters (same length, just before), or None.
PREVIOUS_KEY: Final = "baton_previous_filters"
#: Session-state key of the signed-in person's role.
ROLE_KEY: Final = "baton_role"
NO_DATA: Final = (
    "No data yet: run `baton simulate` (or send telemetry to the collector), "
    "then press **Refresh data** in the sidebar."
)
NO_MATCH: Final = "No events match these filters; widen the time range or clear a filter."
#: Figures the collector keeps up to date as batches arrive, equal to the full computation
#: (``mining`` tests it) and used instead of it whenever the source offers them.
LIVE: Final = {
    "overview": "overview_live",
    "dfg": "dfg_live",
    "queue_summary": "queue_summary_live",
    "retry_counts": "retry_counts_live",
}
#: Time ranges of the sidebar, as the length of the window ending at the newest event.
RANGES: Final = {
    "All time": None,
    "Last 24 hours": timedelta(days=1),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
    "Custom dates": None,
}


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def filter_values(
    workflow: str | None,
    since: date | datetime | None,
    until: date | datetime | None,
    payer: str | None = None,
    site: str | None = None,
) -> dict[str, str]:
    """Sidebar choices as figure filters. A ``date`` ``until`` is inclusive for people,
    exclusive for figures, so it moves to the start of the next day; a ``datetime`` is
    taken as it is.

    Example:
        >>> filter_values("referral", None, date(2026, 3, 2))
        {'workflow': 'referral', 'until': '2026-03-03T00:00:00'}
    """
    values: dict[str, str] = {}
    for name, value in (("workflow", workflow), ("payer", payer), ("site", site)):
        if value and value.strip():
            values[name] = value.strip()
    if isinstance(since, datetime):
        values["since"] = _iso(since)
    elif since is not None:
        values["since"] = f"{since.isoformat()}T00:00:00"
    if isinstance(until, datetime):
        values["until"] = _iso(until)
    elif until is not None:
        values["until"] = f"{(until + timedelta(days=1)).isoformat()}T00:00:00"
    return values


def previous_period(values: dict[str, str]) -> dict[str, str] | None:
    """The same filters over the window of equal length just before, or None when the
    window is open at either end (then there is nothing to compare with).

    Example:
        >>> previous_period({"since": "2026-03-02T00:00:00", "until": "2026-03-03T00:00:00"})
        {'since': '2026-03-01T00:00:00', 'until': '2026-03-02T00:00:00'}
    """
    if "since" not in values or "until" not in values:
        return None
    since = datetime.fromisoformat(values["since"])
    until = datetime.fromisoformat(values["until"])
    before = dict(values)
    before["since"] = (since - (until - since)).isoformat()
    before["until"] = since.isoformat()
    return before


def current_filters() -> dict[str, str]:
    """The filters the sidebar set on this run (none before it has run)."""
    return dict(st.session_state.get(FILTERS_KEY, {}))


def previous_filters() -> dict[str, str] | None:
    """The previous period's filters for trends, or None when the range is open."""
    previous = st.session_state.get(PREVIOUS_KEY)
    return dict(previous) if previous else None


def role() -> Role:
    """The signed-in person's role (admin when nothing restricts it, e.g. a local file)."""
    return Role(st.session_state.get(ROLE_KEY, Role.VIEWER))


def can_list_cases() -> bool:
    """Whether this person may see case ids (analyst and admin)."""
    return role() >= Role.ANALYST


def fail(exc: BatonError) -> NoReturn:
    """End the page with the error's one-line message."""
    st.error(str(exc), icon=":material/error:")
    st.stop()


def figure(name: str, filters: dict[str, str] | None = None, **params: str) -> pl.DataFrame:
    """Figure ``name`` under the current filters (or ``filters``), or end the page with the
    error."""
    values = current_filters() if filters is None else filters
    try:
        if not params.keys() - {"at"}:
            name = fastest(name)
        return data.load_figure(name, data.as_key({**values, **params}))
    except BatonError as exc:
        fail(exc)


def fastest(name: str) -> str:
    """``name``'s live-aggregate twin when the source offers it, else ``name``."""
    fast = LIVE.get(name)
    return fast if fast and fast in data.figure_names() else name


def available(name: str) -> bool:
    """Whether the source can compute figure ``name`` (a collector may run another version)."""
    try:
        return name in data.figure_names()
    except BatonError as exc:
        fail(exc)


def require(*names: str) -> None:
    """End the page saying which figures this version lacks, when any is missing."""
    missing = [name for name in names if not available(name)]
    if missing:
        not_available(", ".join(missing))


def not_available(what: str) -> NoReturn:
    """End the page: the source does not offer what it needs."""
    st.info(
        f"Not available in this version: the source has no figure {what}. "
        "Upgrade the collector (or `mining`) to a version that computes it.",
        icon=":material/construction:",
    )
    st.stop()


def has_events() -> bool:
    """Whether the source holds any event at all, filters aside."""
    overview = data.load_figure(fastest("overview"), ())
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
        _csv(frame),
        file_name=f"baton-{name}.csv",
        mime="text/csv",
        key=f"download-{name}",
        on_click="ignore",
        icon=":material/download:",
    )


def _csv(frame: pl.DataFrame) -> str:
    """CSV of ``frame``: lists joined with ``|``, structs as JSON, which CSV can hold."""
    for name, kind in frame.schema.items():
        if isinstance(kind, pl.List):
            text = pl.col(name).list.eval(pl.element().cast(pl.String)).list.join(" | ")
            frame = frame.with_columns(text.alias(name))
        elif kind.is_nested():
            frame = frame.with_columns(pl.col(name).struct.json_encode())
    return frame.write_csv()


def table(frame: pl.DataFrame, name: str, **kwargs: object) -> None:
    """A table with its CSV download right under it: every table is downloadable."""
    st.dataframe(frame, width="stretch", hide_index=True, **kwargs)  # type: ignore[arg-type]
    download(frame, name)


def dimension_values(column: str) -> list[str]:
    """Values of ``column`` (workflow, payer, site) for the sidebar's choices; empty when the
    source cannot say. Read once every few minutes, and not dropped by *Refresh data*."""
    try:
        return list(data.dimension_values().get(column, ()))
    except BatonError:
        return []


def workflow_names() -> list[str]:
    """Workflows in the source, for the sidebar's choice; empty if the source cannot say."""
    return dimension_values("workflow")


def newest_event() -> datetime | None:
    """Time of the newest event in the source: "now" for relative time ranges, so a
    simulated clinic's last week is its own last week, not the wall clock's."""
    try:
        overview = data.load_figure(fastest("overview"), ())
    except BatonError:
        return None
    value = overview["last_ts"][0] if overview.height else None
    return value if isinstance(value, datetime) else None
