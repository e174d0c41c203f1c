"""Time until each dashboard page is fully rendered in headless Chromium, at 1M events.

The log is the sample clinic (``sample_logs/clinic.parquet``: 167 cases, 3,588 events over
two days) tiled in DuckDB SQL until it holds ``--events`` events: copy *k* is shifted by *k*
times two days and gets its own case, event and item ids, so the result reads as one clinic
running for a long time (1M events: 279 copies, about a year and a half). The file is served
the way production serves it, by ``baton collector serve`` (``--source db``: opened directly
by ``baton dashboard --db``), and the dashboard is a real ``baton dashboard`` process.

A page counts as rendered when its title is the page's, no element is stale, Streamlit's
"running" widget is gone and the charts it draws are on screen. Each page is timed

- **cold**: right after the sidebar's *Refresh data* (every cached figure dropped), so the
  time includes computing its figures at the source;
- **warm**: opened again from another page within the cache's lifetime, as people click
  around.

Usage: ``.venv/bin/python bench/dashboard.py [--events 1000000] [--runs 3] [--source collector]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # Baton's packages, not bench/mining.py, for `import mining`
SAMPLE = ROOT / "sample_logs" / "clinic.parquet"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
#: Page title -> charts drawn on the tiled clinic with no filter and no pick.
PAGES = {
    "Overview": 3,
    "Queues": 3,
    "Bots": 2,
    "Retries": 3,
    "Process map": 1,
    "Bottlenecks": 3,
    "Variants": 1,
    "Conformance": 1,
    "Case explorer": 0,
    "Workbench": 0,
}
TARGET_S = 2.0
RENDERED = """
([title, charts]) => {
  if (document.querySelector('[data-testid="stException"], [data-testid="stAlertContentError"]'))
    return true;  // an error box: stop waiting, open_page raises with its text
  const h1 = document.querySelector('[data-testid="stMain"] h1');
  return !!h1 && h1.innerText.trim() === title
    && !document.querySelector('[data-stale="true"]')
    && !document.querySelector('[data-testid="stStatusWidget"]')
    && !document.querySelector('[data-testid="stSkeleton"]')
    && document.querySelectorAll('.js-plotly-plot .main-svg, [data-testid="stGraphVizChart"] svg')
         .length >= charts;
}
"""


def synthesize(path: Path, events: int) -> int:
    """Write the tiled clinic with at least ``events`` events to ``path``; return the count."""
    from mining.schema import create_events_table

    con = duckdb.connect(str(path))
    try:
        create_events_table(con)
        con.execute(
            "CREATE TEMP TABLE clinic AS SELECT * FROM read_parquet($p)", {"p": str(SAMPLE)}
        )
        (per_copy,) = con.execute("SELECT count(*) FROM clinic").fetchall()[0]
        copies = -(-events // per_copy)
        con.execute(
            """
            INSERT INTO events
            SELECT clinic.* REPLACE (
                event_id || '-' || k AS event_id,
                seq + k * 1000000 AS seq,
                case_id || '-' || k AS case_id,
                ts + k * INTERVAL 2 DAY AS ts,
                due_ts + k * INTERVAL 2 DAY AS due_ts,
                trace_id || '-' || k AS trace_id,
                map_from_entries(list_transform(map_entries(attributes),
                    lambda e: {'key': e.key, 'value': CASE WHEN e.key = 'baton.item_id'
                                                      THEN e.value || '-' || k ELSE e.value END}))
                    AS attributes
            )
            FROM clinic, range($copies) AS r(k)
            ORDER BY k, seq
            """,
            {"copies": copies},
        )
        return int(con.execute("SELECT count(*) FROM events").fetchall()[0][0])
    finally:
        con.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 300) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args} exited with {proc.returncode}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {timeout_s:.0f} s")


@contextmanager
def serving(db: Path, source: str) -> Iterator[str]:
    """The dashboard (and, for ``collector``, the collector) on ``db``; yields its URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    env.setdefault("BATON_PSEUDONYM_KEY", "bench-pseudonym-key-0123456789abcdef")
    procs: list[subprocess.Popen[bytes]] = []
    baton = [sys.executable, "-m", "baton"]
    try:
        if source == "collector":
            port = free_port()
            collector = subprocess.Popen(
                [*baton, "collector", "serve", "--db", str(db), "--port", str(port)],
                env=env, cwd=db.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            procs.append(collector)
            wait_http(f"http://127.0.0.1:{port}/healthz", collector)
            where = ["--collector", f"http://127.0.0.1:{port}"]
        else:
            where = ["--db", str(db)]
        port = free_port()
        dashboard = subprocess.Popen(
            [*baton, "dashboard", *where, "--port", str(port)],
            env=env, cwd=db.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        procs.append(dashboard)
        wait_http(f"http://127.0.0.1:{port}/_stcore/health", dashboard)
        yield f"http://127.0.0.1:{port}"
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def open_page(page: Any, title: str, charts: int) -> float:
    """Seconds from clicking ``title`` in the navigation until the page is rendered."""
    link = page.locator("[data-testid='stSidebarNavLink']", has_text=title).first
    started = time.perf_counter()
    link.click()
    page.wait_for_function(RENDERED, arg=[title, charts], timeout=300_000, polling=20)
    elapsed = time.perf_counter() - started
    errors = page.locator("[data-testid='stException'], [data-testid='stAlertContentError']")
    if errors.count():
        raise SystemExit(f"{title}: {errors.first.inner_text()[:500]}")
    return elapsed


def measure(url: str, runs: int) -> dict[str, tuple[list[float], list[float]]]:
    from playwright.sync_api import sync_playwright

    times: dict[str, tuple[list[float], list[float]]] = {t: ([], []) for t in PAGES}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.wait_for_function(RENDERED, arg=["Overview", 3], timeout=300_000, polling=50)
        for run in range(runs):
            for title, charts in PAGES.items():
                other = "Workbench" if title != "Workbench" else "Overview"
                open_page(page, other, PAGES[other])
                page.get_by_role("button", name="Refresh data").click()
                page.wait_for_function(RENDERED, arg=[other, PAGES[other]], timeout=300_000)
                cold = open_page(page, title, charts)
                open_page(page, other, PAGES[other])
                warm = open_page(page, title, charts)
                times[title][0].append(cold)
                times[title][1].append(warm)
                print(f"run {run + 1} {title:<14} cold {cold:6.2f} s  warm {warm:6.2f} s")
        browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--source", choices=["collector", "db"], default="collector")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        started = time.perf_counter()
        count = synthesize(db, args.events)
        print(f"{count:,} events synthesized in {time.perf_counter() - started:.1f} s")
        with serving(db, args.source) as url:
            times = measure(url, args.runs)
    print(f"\nmedian of {args.runs} runs, {count:,} events, source {args.source}")
    print(f"{'page':<14} {'cold (s)':>9} {'warm (s)':>9}  target {TARGET_S:g} s")
    for title, (cold, warm) in times.items():
        c, w = statistics.median(cold), statistics.median(warm)
        flag = "" if c < TARGET_S else "  over target (cold)"
        print(f"{title:<14} {c:9.2f} {w:9.2f}{flag}")


if __name__ == "__main__":
    main()
