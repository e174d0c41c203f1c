"""Entry point of the dashboard (``streamlit run dashboard/app.py``, or ``baton dashboard``).

It is a router plus the shared sidebar (sign-in, filters, refresh), nothing else: pages in
``app_pages/`` only lay out what :mod:`dashboard.data` fetches and the chart modules draw.
The filters are drawn here, on every run, and copied into plain session state for the pages
to read, so they survive page switches.

The pages live in ``app_pages/``, not ``pages/``: Streamlit treats a ``pages/`` folder next to
the entry point as a v1 multipage app, and then runs a requested page's file directly,
without this router and its sidebar (always in ``AppTest``, on a fresh server's first run).

Nothing identifying goes in a URL: pages are chosen by path (``/case_explorer``), never with
a query parameter, and a case is picked with a widget whose value stays on the server.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAGE_DIR = HERE / "app_pages"
if str(HERE.parent) not in sys.path:  # run from a source checkout that is not installed
    sys.path.insert(0, str(HERE.parent))

import streamlit as st  # noqa: E402

from baton.errors import BatonError  # noqa: E402
from dashboard import data, ui  # noqa: E402
from dashboard.access import Role, may_see, user_role  # noqa: E402
from dashboard.errors import NotSignedIn  # noqa: E402

st.set_page_config(page_title="Baton", page_icon=":material/conversion_path:", layout="wide")

#: Sections of the navigation: (file stem, title, icon). URL paths come from file stems.
SECTIONS = {
    "Operations": [
        ("overview", "Overview", ":material/dashboard:"),
        ("queues", "Queues", ":material/hourglass_top:"),
        ("bots", "Bots", ":material/smart_toy:"),
        ("retries", "Retries", ":material/replay:"),
        ("alerts", "Alerts", ":material/notifications:"),
    ],
    "Process": [
        ("process_map", "Process map", ":material/account_tree:"),
        ("bottlenecks", "Bottlenecks", ":material/speed:"),
        ("variants", "Variants", ":material/alt_route:"),
        ("conformance", "Conformance", ":material/rule:"),
    ],
    "Cases": [
        ("case_explorer", "Case explorer", ":material/timeline:"),
        ("workbench", "Workbench", ":material/support_agent:"),
    ],
}


def _oidc_configured() -> bool:
    """Whether ``.streamlit/secrets.toml`` has an ``[auth]`` section for ``st.login``."""
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, KeyError, st.errors.StreamlitSecretNotFoundError):
        return False


def _sign_in_with_token(message: str) -> None:
    """Ask for a query-API token; it is kept in this session's server memory only."""
    st.title("Sign in to Baton")
    st.caption(message)
    with st.form("sign_in"):
        token = st.text_input("Your collector token", type="password", key="sign_in_token")
        if st.form_submit_button("Sign in", icon=":material/login:") and token:
            st.session_state[data.TOKEN_KEY] = token.strip()
            data.clear_caches()
            st.rerun()
    st.stop()


try:
    settings = data.get_settings()
except BatonError as exc:
    ui.fail(exc)

oidc = _oidc_configured()
if oidc and not st.user.is_logged_in:
    st.title("Sign in to Baton")
    st.button("Sign in", on_click=st.login, icon=":material/login:")
    st.stop()

try:
    role = data.role()
except NotSignedIn as exc:
    st.session_state.pop(data.TOKEN_KEY, None)
    _sign_in_with_token(str(exc))
    raise  # not reached: the sign-in form stops the run
except BatonError:
    role = Role.VIEWER  # the source is down: every page says so; show only what a viewer may
if oidc:
    role = user_role(str(st.user.get("email") or ""), settings.user_roles, role)
st.session_state[ui.ROLE_KEY] = role

pages = {
    section: [
        st.Page(PAGE_DIR / f"{stem}.py", title=title, icon=icon)
        for stem, title, icon in entries
        if (PAGE_DIR / f"{stem}.py").is_file() and may_see(role, stem)
    ]
    for section, entries in SECTIONS.items()
}
page = st.navigation({section: found for section, found in pages.items() if found})

with st.sidebar:
    st.header("Filters")
    newest = ui.newest_event()
    span = st.selectbox("Time range", list(ui.RANGES), key="sidebar_range")
    since = until = None
    if span == "Custom dates":
        since = st.date_input("Since", value=None, key="sidebar_since")
        until = st.date_input("Until (inclusive)", value=None, key="sidebar_until")
        if since and until and until < since:
            st.warning("Until is before Since: nothing can match.")
    elif ui.RANGES[span] is not None and newest is not None:
        until = newest + timedelta(microseconds=1)  # the newest event is in the window
        since = until - ui.RANGES[span]
        st.caption(f"Up to the newest event, {newest:%Y-%m-%d %H:%M} UTC")
    choices = {}
    for column in ("workflow", "payer", "site"):
        options = ui.dimension_values(column)
        label = column.capitalize()
        if options:
            choices[column] = st.selectbox(
                label,
                [None, *options],
                format_func=lambda v, c=column: f"All {c}s" if v is None else v,
                key=f"sidebar_{column}",
            )
        else:
            choices[column] = st.text_input(label, placeholder="all", key=f"sidebar_{column}_text")
    st.button("Refresh data", on_click=data.clear_caches, icon=":material/refresh:")
    st.caption(f"Source: {data.get_source()} · role: {role.label}")
    if oidc:
        st.button("Sign out", on_click=st.logout, icon=":material/logout:")
    elif st.session_state.get(data.TOKEN_KEY):
        st.button(
            "Sign out",
            on_click=lambda: (st.session_state.pop(data.TOKEN_KEY, None), data.clear_caches()),
            icon=":material/logout:",
        )

values = ui.filter_values(choices["workflow"], since, until, choices["payer"], choices["site"])
st.session_state[ui.FILTERS_KEY] = values
st.session_state[ui.PREVIOUS_KEY] = ui.previous_period(values)

if settings.refresh_s > 0:
    st.session_state["last_full_run"] = time.monotonic()

    @st.fragment(run_every=settings.refresh_s)
    def _auto_refresh() -> None:
        # The fragment's first run is part of this full run; later runs are timer ticks.
        if time.monotonic() - st.session_state["last_full_run"] >= settings.refresh_s / 2:
            data.clear_caches()
            st.rerun(scope="app")

    with st.sidebar:
        live = st.toggle(f"Live: refresh every {settings.refresh_s} s", True, key="sidebar_live")
    if live:
        _auto_refresh()

page.run()
