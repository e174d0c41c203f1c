"""Live aggregates: dashboard figures from per-case rows against a full scan of events.

Builds a store file with ``--events`` synthetic work-item events (DuckDB SQL, seconds), as
the collector stores them: clustered by time, a case every 3 s, four steps of
enqueue/start/complete each, a retry in one case of ten, 3 workflows x 5 payers x 3 sites,
the newest cases still open. Then, interleaved, medians of ``--runs``:

- each opening figure (overview, dfg, queue_summary, retry_counts) from the live tables
  (:mod:`mining.live`) and in full (:mod:`mining.figures`), unfiltered and by payer;
- the cost the live tables add to ingest: ``Store.write`` of a batch of new events (plus a
  few late events of cases hours old), and :func:`mining.live.refresh` of its cases alone;
- :func:`mining.live.recompute_all` (what opening an older file costs once).

    .venv/bin/python bench/live.py [--events 10000000] [--runs 5] [--batch 8192]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

# Run as a script, this directory comes first on the path, and bench/mining.py would shadow
# the ``mining`` package: put the repository root there instead.
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _HERE]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collector.otlp_logs import EVENT_SCHEMA  # noqa: E402
from collector.store import Store  # noqa: E402
from mining import figures, live  # noqa: E402
from mining.filters import Filters  # noqa: E402

BASE = dt.datetime(2026, 3, 1)
EVENTS_PER_CASE = 13  # 4 steps x 3 lifecycles, and one retry in ten cases (avg 12.1)

_GENERATE = """
INSERT INTO events BY NAME
SELECT * FROM (
    SELECT 'e' || c || '-' || k AS event_id, c * 16 + k AS seq, 'case-' || c AS case_id,
           ['referral', 'claim', 'prior_auth'][c % 3 + 1] AS workflow, '3' AS workflow_version,
           ['intake', 'verify', 'submit', 'close'][least(k // 3, 3) + 1] AS activity,
           CASE WHEN k = 12 THEN 'retried'
                ELSE ['enqueued', 'started', 'completed'][k % 3 + 1] END AS lifecycle,
           $base::TIMESTAMP + to_microseconds(CAST(
               c * 3000000 + least(k // 3, 3) * 3600000000
               + CASE k % 3 WHEN 0 THEN 0
                            WHEN 1 THEN (hash(c, k // 3) % 1800000000)::BIGINT
                            ELSE (hash(c, k // 3) % 1800000000)::BIGINT + 1000000
                                 + (hash(c) % 120000000)::BIGINT
                 END + (k = 12)::INT * 1000 AS BIGINT)) AS ts,
           'bot-' || (c % 20) AS resource, 'bot' AS resource_kind,
           ['intake', 'verify', 'submit', 'close'][least(k // 3, 3) + 1] AS queue,
           1 AS attempt, ['acme', 'zenith', 'orbit', 'lumen', 'civic'][c % 5 + 1] AS payer,
           ['north', 'south', 'east'][c // 7 % 3 + 1] AS site
    FROM (SELECT range::BIGINT AS c FROM range($cases)) r,
         (SELECT range::BIGINT AS k FROM range(13)) s
    WHERE k < 12 OR c % 10 = 0
)
WHERE ts <= $base::TIMESTAMP + to_microseconds($cases::BIGINT * 3000000)
ORDER BY ts
"""


def build(path: Path, events: int) -> Store:
    if path.exists():
        return Store.open(path)
    store = Store.open(path)
    cases = events * 10 // 121
    con = store.cursor()
    started = time.perf_counter()
    con.execute(_GENERATE, {"base": BASE, "cases": cases})
    print(f"generated {_count(con):,} events in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    con.begin()
    live.recompute_all(con)
    con.commit()
    print(f"recompute_all: {time.perf_counter() - started:.2f} s")
    con.close()
    store.close()
    return Store.open(path)  # the store counts the events it covers on open


def _count(con: Any) -> int:
    return int(con.execute("SELECT count(*) FROM events").fetchall()[0][0])


def batch(cases: int, first_case: int, size: int, late: int, tag: int) -> pa.Table:
    """``size`` events of new cases arriving now, ``late`` of them for cases hours old."""
    rows: dict[str, list[Any]] = {name: [] for name in EVENT_SCHEMA.names}
    now = BASE + dt.timedelta(seconds=3 * cases)
    for i in range(size):
        is_late = i < late
        case = cases - 3000 - i * 7 if is_late else first_case + i // 6
        row = {
            "event_id": f"b{tag}-{i}",
            "seq": 10**12 + tag * 10**6 + i,
            "case_id": f"case-{case}",
            "workflow": ["referral", "claim", "prior_auth"][case % 3],
            "workflow_version": "3",
            "activity": "verify",
            "lifecycle": "retried" if is_late else ["enqueued", "started", "completed"][i % 3],
            "ts": BASE + dt.timedelta(seconds=3 * case + 7200 + tag)
            if is_late
            else now + dt.timedelta(seconds=tag * 60 + i // 200),
            "queue": "verify",
            "attempt": 1,
            "payer": ["acme", "zenith", "orbit", "lumen", "civic"][case % 5],
            "site": ["north", "south", "east"][case // 7 % 3],
        }
        for name in rows:
            rows[name].append(row.get(name))
    return pa.table(rows, schema=EVENT_SCHEMA)


def timed(func: Callable[[], Any]) -> float:
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8192)
    parser.add_argument("--late", type=int, default=400, help="late events per batch")
    parser.add_argument(
        "--db", type=Path, help="keep the generated file here (reused if it exists)"
    )
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        store = build(args.db or Path(tmp) / "bench.duckdb", args.events)
        con = store.cursor()
        total = _count(con)
        cases = args.events * 10 // 121
        results: dict[str, list[float]] = {}
        pairs = {
            "overview": (live.overview_live, figures.overview),
            "dfg": (live.dfg_live, figures.dfg),
            "queue_summary": (live.queue_summary_live, figures.queue_summary),
            "retry_counts": (live.retry_counts_live, figures.retry_counts),
        }
        for run in range(args.runs):
            for name, (fast, full) in pairs.items():
                for label, f in (("", Filters()), (" payer=acme", Filters(payer="acme"))):
                    results.setdefault(f"{name}{label} live", []).append(
                        timed(lambda fast=fast, f=f: fast(con, f))
                    )
                    results.setdefault(f"{name}{label} full", []).append(
                        timed(lambda full=full, f=f: full(con, f))
                    )
            rows = batch(cases, cases + 10 + run * args.batch, args.batch, args.late, run)
            results.setdefault("Store.write of a batch (with refresh)", []).append(
                timed(lambda rows=rows: store.write([{"events": rows}]))
            )
            ids = rows.column("case_id")
            since = min(rows.column("ts").to_pylist())

            def refresh_alone(ids: Any = ids, since: Any = since) -> None:
                con.begin()
                live.refresh(con, ids, since)
                con.rollback()

            results.setdefault("refresh of the batch's cases alone", []).append(
                timed(refresh_alone)
            )
        assert live.in_sync(con)
        print(f"\n{total:,} events, {args.runs} runs, medians (ms):")
        for name, values in results.items():
            print(f"  {name:45s} {statistics.median(values) * 1000:9.1f}")
        for name in pairs:
            for label in ("", " payer=acme"):
                ratio = statistics.median(results[f"{name}{label} full"]) / statistics.median(
                    results[f"{name}{label} live"]
                )
                print(f"  {name}{label}: live is {ratio:.0f}x faster")
        print(f"load average: {os.getloadavg()}")
        con.close()
        store.close()


if __name__ == "__main__":
    main()
