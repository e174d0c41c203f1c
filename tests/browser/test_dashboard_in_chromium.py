"""Every dashboard page in headless Chromium, against a real collector fed by `baton simulate`.

One collector, one simulated clinic (two days) and one `baton dashboard` per module. Each page
must load, draw its charts and show no error box; changing a sidebar filter must redraw it
with other numbers; nothing about a case may reach the URL. One screenshot per page lands in
``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ..conftest import baton_cmd, child_env, free_port, wait_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
CHARTS = ".js-plotly-plot, [data-testid='stGraphVizChart'] svg"
#: Page title -> charts it must draw on the simulated clinic (after its own pick, if any).
EXPECTED_CHARTS = {
    "Overview": 3,
    "Queues": 3,
    "Bots": 2,
    "Retries": 3,
    "Process map": 1,
    "Bottlenecks": 3,
    "Variants": 1,
    "Conformance": 1,
    "Case explorer": 1,
    "Workbench": 0,
}
#: Pages whose content need not depend on the sidebar filters: the workbench is the
#: orchestrator's live list; alerts (another package's page, when installed) are alerts.
UNFILTERED = {"Workbench", "Alerts"}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="Debian's chromium is not installed (apt-get install chromium); .ci/run installs it",
    ),
]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A collector fed two simulated days by `baton simulate`, and the dashboard reading it."""
    cwd = tmp_path_factory.mktemp("browser")
    port, collector_port = free_port(), free_port()
    collector_url = f"http://127.0.0.1:{collector_port}"
    collector = subprocess.Popen(
        baton_cmd("collector", "serve", "--db", str(cwd / "baton.duckdb"),
                  "--port", str(collector_port)),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=child_env(), cwd=cwd,
    )  # fmt: skip
    procs = [collector]
    try:
        wait_for(f"{collector_url}/healthz", collector)
        subprocess.run(
            baton_cmd("simulate", "--days", "2", "--seed", "7", "--endpoint", collector_url),
            check=True, capture_output=True, env=child_env(), cwd=cwd, timeout=120,
        )  # fmt: skip
        overview = requests.get(f"{collector_url}/api/v1/figures/overview?format=json", timeout=10)
        assert overview.json()[0]["cases"] > 100
        dashboard = subprocess.Popen(
            baton_cmd("dashboard", "--collector", collector_url, "--port", str(port)),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=child_env(), cwd=cwd,
        )  # fmt: skip
        procs.append(dashboard)
        url = f"http://127.0.0.1:{port}"
        wait_for(f"{url}/_stcore/health", dashboard)
        yield url
    finally:
        for proc in reversed(procs):
            _stop(proc)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def settle(page: Any) -> None:
    """Wait until Streamlit has finished running the page's script."""
    page.wait_for_selector("[data-testid='stSidebarNavLink']", timeout=30_000)
    page.wait_for_timeout(300)  # a rerun's status widget appears a moment after the click
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000
    )
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stSkeleton\"]')", timeout=30_000
    )


def choose(page: Any, label: str, option: str | None = None) -> None:
    """Pick ``option`` (the first option when None) in the selectbox labelled ``label``."""
    box = page.locator("[data-testid='stSelectbox']", has_text=label).first
    box.locator("[role='combobox']").click()
    options = page.get_by_role("option")
    options.first.wait_for(timeout=10_000)
    target = page.get_by_role("option", name=option, exact=True) if option else options.first
    target.click()
    settle(page)


def main_text(page: Any) -> str:
    return str(page.locator("[data-testid='stMain']").inner_text())


def assert_clean(page: Any, title: str) -> None:
    errors = page.locator("[data-testid='stException']")
    assert errors.count() == 0, f"{title}: {errors.first.inner_text()[:2000]}"
    boxes = page.locator("[data-testid='stAlertContentError']")
    assert boxes.count() == 0, f"{title}: {boxes.first.inner_text()[:500]}"
    assert not re.search(r"case_[0-9a-f]{6}", page.url), page.url
    assert "?" not in page.url, f"{title}: query parameters in {page.url}"


def test_every_page_renders_and_follows_the_filters(dashboard: str, browser: Any) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(dashboard)
    settle(page)
    links = page.locator("[data-testid='stSidebarNavLink']")
    titles = [
        links.nth(i).locator("[data-testid='stMarkdownContainer']").inner_text().strip()
        for i in range(links.count())
    ]
    assert set(EXPECTED_CHARTS) <= set(titles), titles
    payers = iter(["Medicare", "Summit Mutual"] * len(titles))  # a new choice on every page
    for title in titles:
        page.locator("[data-testid='stSidebarNavLink']", has_text=title).first.click()
        settle(page)
        if title == "Case explorer":
            choose(page, "Case (pseudonym)")
        expected = EXPECTED_CHARTS.get(title, 0)
        if expected:
            page.locator(CHARTS).nth(expected - 1).wait_for(timeout=30_000)
        assert page.locator(CHARTS).count() >= expected, title
        assert_clean(page, title)
        slug = re.sub(r"\W+", "-", title.lower()).strip("-")
        page.screenshot(path=str(ARTIFACTS / f"{slug}.png"), full_page=True)

        before = main_text(page)
        payer = next(payers)
        choose(page, "Payer", payer)
        assert_clean(page, f"{title}, payer {payer}")
        if title not in UNFILTERED:
            changed = (
                "(before) => document.querySelector('[data-testid=stMain]').innerText !== before"
            )
            try:
                page.wait_for_function(changed, arg=before, timeout=20_000)
            except Exception:  # playwright's TimeoutError
                pytest.fail(f"{title}: the payer filter changed nothing on the page")
            settle(page)
