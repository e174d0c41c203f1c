"""`baton demo --no-browser` as a real process, every dashboard page opened in headless Chromium.

Screenshots of every page land in ``test-artifacts/screenshots/``.
"""

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
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
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


def test_every_page_renders_charts_without_errors(demo: str, browser: object) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page.goto(demo)
    _settle(page)
    links = page.locator("[data-testid='stSidebarNavLink']")
    titles = [
        links.nth(i).locator("[data-testid='stMarkdownContainer']").inner_text().strip()
        for i in range(links.count())
    ]
    assert len(titles) >= 4, titles
    for title in titles:
        page.locator("[data-testid='stSidebarNavLink']", has_text=title).first.click()
        _settle(page)
        charts = page.locator(
            ".js-plotly-plot, [data-testid='stGraphVizChart'] svg, [data-testid='stMetric']"
        )
        charts.first.wait_for(timeout=30_000)
        assert charts.count() > 0, f"no chart on {title}"
        errors = page.locator("[data-testid='stException']")
        assert errors.count() == 0, f"{title}: {errors.first.inner_text()[:2000]}"
        assert page.locator("[data-testid='stAlertContentError']").count() == 0, title
        slug = re.sub(r"\W+", "-", title.lower()).strip("-")
        page.screenshot(path=str(ARTIFACTS / f"{slug}.png"), full_page=True)
    assert "case_" not in page.url
