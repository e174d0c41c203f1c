"""Entry point of the dashboard (``streamlit run dashboard/app.py``, or ``baton dashboard``).

It is a router plus the shared sidebar filters, nothing else: pages in ``app_pages/`` only lay
out what :mod:`dashboard.data` fetches and :mod:`dashboard.charts` draws. The filters are
drawn here, on every run, and copied into plain session state for the pages to read.

The pages live in ``app_pages/``, not ``pages/``: Streamlit treats a ``pages/`` folder next to
the entry point as a v1 multipage app, and then runs a requested page's file directly,
without this router and its sidebar (always in ``AppTest``, on a fresh server's first run).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAGE_DIR = HERE / "app_pages"
if str(HERE.parent) not in sys.path:  # run from a source checkout that is not installed
    sys.path.insert(0, str(HERE.parent))

import streamlit as st  # noqa: E402

from baton.errors import BatonError  # noqa: E402
from dashboard import data, ui  # noqa: E402

st.set_page_config(page_title="Baton", page_icon=":material/conversion_path:", layout="wide")

PAGES = [  # url paths come from the file names: /, /process_map, /queues, /retries
    st.Page(PAGE_DIR / "overview.py", title="Overview", icon=":material/dashboard:"),
    st.Page(PAGE_DIR / "process_map.py", title="Process map", icon=":material/account_tree:"),
    st.Page(PAGE_DIR / "queues.py", title="Queues", icon=":material/hourglass_top:"),
    st.Page(PAGE_DIR / "retries.py", title="Retries", icon=":material/replay:"),
]
page = st.navigation(PAGES)

try:
    settings = data.get_settings()
    source = data.get_source()
except BatonError as exc:
    ui.fail(exc)

with st.sidebar:
    st.header("Filters")
    workflows = ui.workflow_names()
    if workflows:
        workflow = st.selectbox(
            "Workflow",
            [None, *workflows],
            format_func=lambda w: "All workflows" if w is None else w,
            key="sidebar_workflow",
        )
    else:
        workflow = st.text_input("Workflow", placeholder="all", key="sidebar_workflow_text")
    since = st.date_input("Since", value=None, key="sidebar_since")
    until = st.date_input("Until (inclusive)", value=None, key="sidebar_until")
    if since and until and until < since:
        st.warning("Until is before Since: nothing can match.")
    st.button("Refresh data", on_click=data.load_figure.clear, icon=":material/refresh:")
    st.caption(f"Source: {source}")

st.session_state[ui.FILTERS_KEY] = ui.filter_values(workflow, since, until)

if settings.refresh_s > 0:
    st.session_state["last_full_run"] = time.monotonic()

    @st.fragment(run_every=settings.refresh_s)
    def _auto_refresh() -> None:
        # The fragment's first run is part of this full run; later runs are timer ticks.
        if time.monotonic() - st.session_state["last_full_run"] >= settings.refresh_s / 2:
            data.load_figure.clear()
            st.rerun(scope="app")

    _auto_refresh()

page.run()
