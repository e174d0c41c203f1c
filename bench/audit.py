"""Cost of the audit trail per stored event: the events insert with and without chaining.

Runs both paths in the same process on the same rows (work-item events with 10 attributes),
each batch in its own transaction on a file database, as the collector's writer does:

- **plain**: ``INSERT INTO events ... ANTI JOIN`` (the de-duplicating insert) returning a count;
- **audited**: :class:`collector.store.Store.write` as shipped: the same insert with
  ``RETURNING event_id, sha256(to_json(...))``, the chain in Python, and the audit rows'
  Arrow insert, all in the transaction.

Usage: ``.venv/bin/python bench/audit.py [--batches 40] [--batch-rows 8192] [--runs 3]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from collector import Store
from collector import store as store_module
from collector.otlp_logs import EVENT_SCHEMA

T0 = dt.datetime(2026, 3, 2, 9)


def batch(start: int, rows: int) -> pa.Table:
    """``rows`` work-item events numbered from ``start``, 10 attributes each."""
    return pa.Table.from_pylist(
        [
            {
                "event_id": f"ev-{i:012d}",
                "seq": i,
                "case_id": f"case-{i // 7}",
                "workflow": "referral",
                "activity": f"step{i % 9}",
                "lifecycle": "completed",
                "ts": T0 + dt.timedelta(milliseconds=i),
                "resource": "bot-7",
                "attributes": [(f"k{j}", f"value-{i}-{j}") for j in range(10)],
            }
            for i in range(start, start + rows)
        ],
        schema=EVENT_SCHEMA,
    )


def run(batches: list[pa.Table], audited: bool) -> float:
    """Seconds to write every batch, one transaction each."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "bench.duckdb")
        con = store._con  # the plain path bypasses the store on purpose
        started = time.perf_counter()
        for rows in batches:
            if audited:
                store.write([{"events": rows}])
            else:
                step = store_module._step("events", rows)
                sql = step.sql.split("RETURNING")[0]
                params = {**step.params, "base": 1}
                params.pop("seen")
                con.begin()
                con.register(step.view, step.rows)
                con.execute(sql, params)
                con.unregister(step.view)
                con.commit()
        elapsed = time.perf_counter() - started
        store.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch-rows", type=int, default=8192)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    batches = [batch(i * args.batch_rows, args.batch_rows) for i in range(args.batches)]
    events = args.batches * args.batch_rows
    plain, audited = [], []
    for _ in range(args.runs):  # interleaved, so machine noise hits both alike
        plain.append(run(batches, audited=False))
        audited.append(run(batches, audited=True))
    p, a = statistics.median(plain), statistics.median(audited)
    print(f"{events:,} events in batches of {args.batch_rows:,}, median of {args.runs} runs")
    print(f"plain insert:   {p / events * 1e6:6.2f} us/event ({events / p:,.0f} events/s)")
    print(f"audited insert: {a / events * 1e6:6.2f} us/event ({events / a:,.0f} events/s)")
    print(f"audit cost:     {(a - p) / events * 1e6:6.2f} us/event ({a / p:.2f}x)")


if __name__ == "__main__":
    main()
