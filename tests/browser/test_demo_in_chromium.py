"""`baton demo --no-browser` as a real process, its dashboard opened in headless Chromium."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import baton_cmd, child_env, free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="Debian's chromium is not installed (apt-get install chromium); .ci/run installs it",
    ),
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running demo (2 simulated days); yields the dashboard URL once it is printed."""
    cwd = tmp_path_factory.mktemp("demo")
    port, collector_port = free_port(), free_port()
    started = time.monotonic()
    proc = subprocess.Popen(
        baton_cmd("demo", "--no-browser", "--days", "2", "--port", str(port),
                  "--collector-port", str(collector_port)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(), cwd=cwd,
    )  # fmt: skip
    url = None
    assert proc.stdout is not None
    for line in proc.stdout:
        match = re.search(r"dashboard: (http://\S+)", line)
        if match:
            url = match.group(1)
            break
    if url is None:
        proc.wait(timeout=30)
        pytest.fail(f"demo printed no dashboard URL: {proc.stderr.read() if proc.stderr else ''}")
    assert time.monotonic() - started < 60, "the demo took over 60 s to serve its dashboard"
    yield url
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    assert (cwd / ".baton" / "baton.duckdb").exists()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def _settle(page: object) -> None:
    page.wait_for_selector(  # type: ignore[attr-defined]
        "[data-testid='stSidebarNavLink']", timeout=30_000
    )
    # Streamlit shows a status widget while a script runs; wait until it is gone.
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000
    )


def test_the_demo_serves_its_dashboard(demo: str, browser: object) -> None:
    """The demo's dashboard opens on the overview with numbers and charts, and no error.

    Every page is checked against a collector fed by ``baton simulate`` in
    ``test_dashboard_in_chromium.py``; this test is about ``baton demo`` wiring it up.
    """
    page = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page.goto(demo)
    _settle(page)
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    assert page.locator("[data-testid='stMetric']").count() >= 8
    errors = page.locator("[data-testid='stException']")
    assert errors.count() == 0, errors.first.inner_text()[:2000]
    assert page.locator("[data-testid='stAlertContentError']").count() == 0
    links = page.locator("[data-testid='stSidebarNavLink']")
    assert links.count() >= 10
