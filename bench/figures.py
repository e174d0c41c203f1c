"""Time every registered figure (:data:`mining.FIGURES`) on a DuckDB file at 1M events.

The log is the tiled sample clinic of ``bench/dashboard.py`` (its ``synthesize``, imported,
not copied): the clinic shifted two days per copy until it holds ``--events`` events. Each
file gets the live aggregates the collector's store keeps (:func:`mining.live.recompute_all`,
what the store does when it opens a file without them; ``--no-live`` leaves them out, or drops
them from a reused file, to time the figures computed from events). Each
figure is computed ``--runs`` times on one connection to the file, with default parameters
(``case_timeline`` gets the first case; figures that need a playbook are skipped unless
``--playbook`` is given), and the median is printed, slowest first, with the load average.

Usage: ``.venv/bin/python bench/figures.py [--events 1000000] [--runs 3] [--db PATH]
[--only sla,bot_stats] [--no-live]``; ``--db`` keeps the synthesized file between runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, bench/ comes first on the path and bench/mining.py would shadow the
# ``mining`` package: put the repository root there instead.
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _HERE]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402

from bench.dashboard import synthesize  # noqa: E402
from mining import live  # noqa: E402
from mining.registry import FIGURES, compute  # noqa: E402

PLAYBOOK_FIGURES = ("conformance", "conformance_over_time", "deviations")


def time_figures(
    db: Path, names: list[str], runs: int, playbook: str | None
) -> dict[str, float | str]:
    con = duckdb.connect(str(db), read_only=True)
    first_case, count = con.execute("SELECT min(case_id), count(*) FROM events").fetchall()[0]
    print(f"{count:,} events in {db.name}", flush=True)
    results: dict[str, float | str] = {}
    for name in names:
        values: dict[str, str] = {}
        if name == "case_timeline":
            values["case_id"] = first_case
        if name in PLAYBOOK_FIGURES:
            if not playbook:
                results[name] = "skipped (no --playbook)"
                continue
            values["playbook"] = playbook
        times = []
        try:
            for _ in range(runs):
                started = time.perf_counter()
                compute(name, con, values)
                times.append(time.perf_counter() - started)
        except Exception as exc:  # a benchmark reports and moves on
            results[name] = f"error: {type(exc).__name__}: {str(exc)[:80]}"
            continue
        results[name] = statistics.median(times)
        print(f"{name:<24} {results[name]:8.3f} s", flush=True)
    con.close()
    return results


def prepare_live(db: Path, *, keep: bool) -> None:
    """Bring the file's live tables up to date as the collector's store would, or drop them."""
    con = duckdb.connect(str(db))
    try:
        if not keep:
            for table in (*live.DDL, "live_meta"):
                con.execute(f"DROP TABLE IF EXISTS {table}")
            return
        if live.ensure(con) or not live.in_sync(con):
            started = time.perf_counter()
            live.recompute_all(con)
            print(f"live aggregates rebuilt in {time.perf_counter() - started:.1f} s")
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", type=Path, help="reuse (or create) this file")
    parser.add_argument("--only", help="comma-separated figure names")
    parser.add_argument("--playbook", help="playbook YAML for the conformance figures")
    parser.add_argument(
        "--no-live", action="store_true", help="time the figures without the live tables"
    )
    args = parser.parse_args()
    names = sorted(FIGURES) if not args.only else [n.strip() for n in args.only.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "figures.duckdb"
        if not db.exists():
            started = time.perf_counter()
            count = synthesize(db, args.events)
            print(f"{count:,} events synthesized in {time.perf_counter() - started:.1f} s")
        prepare_live(db, keep=not args.no_live)
        load_before = os.getloadavg()[0]
        results = time_figures(db, names, args.runs, args.playbook)
        load_after = os.getloadavg()[0]
    con_note = f"load average {load_before:.1f} before, {load_after:.1f} after"
    print(f"\nmedian of {args.runs} runs, {con_note}")
    print(f"{'figure':<24} {'median (s)':>10}")
    timed = sorted(((n, t) for n, t in results.items() if isinstance(t, float)),
                   key=lambda x: -x[1])  # fmt: skip
    for name, seconds in timed:
        print(f"{name:<24} {seconds:10.3f}")
    for name, note in results.items():
        if not isinstance(note, float):
            print(f"{name:<24} {note}")


if __name__ == "__main__":
    main()
