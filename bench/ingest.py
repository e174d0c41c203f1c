"""Ingest speed: spans per second acknowledged after commit, against a naive baseline.

Collector: ``baton collector serve`` in its own process (decode workers, one group-committing
writer, de-duplication and span-to-event mapping on, as shipped). A separate load-generator
process sends pre-serialized OTLP/HTTP protobuf requests of 512 spans x 10 attributes over
several connections; a request counts when its 200 (sent after the commit) arrives.

Naive baseline, same run: in one process, parse each request with protobuf, flatten it to
columns in Python through the ``KeyValue`` objects, and insert the Arrow table into DuckDB
(autocommit, no de-duplication, no event mapping).

Prints medians of ``--runs`` runs of each, their ratio, and where the CPU went (collector
main process, decode workers, load generator), which names the limiting stage.

    .venv/bin/python bench/ingest.py [--requests 200] [--runs 3] [--workers 2] [--dedupe-probe]
        [--allowlist 'http.route,user.*'] [--group-max-rows 65536]

The audit chain and the live aggregates are always on: every event the spans map to is
chained and refreshes its case's aggregates in the commit that stores it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

# Run as a script, this directory comes first on the path, and bench/mining.py would shadow
# the ``mining`` package: put the repository root there instead.
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _HERE]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SPANS_PER_REQUEST = 512
ATTRIBUTES = 10
BASE_NS = 1_772_442_000_000_000_000


def make_requests(count: int, seed: int) -> list[bytes]:
    """``count`` serialized ``ExportTraceServiceRequest``s with unique ids, 10 attributes each."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    rng = random.Random(seed)
    template = ExportTraceServiceRequest()
    resource = template.resource_spans.add()
    resource.resource.attributes.add(key="service.name", value=AnyValue(string_value="shop"))
    scope = resource.scope_spans.add()
    scope.scope.name = "shop.http"
    for i in range(SPANS_PER_REQUEST):
        span = scope.spans.add(name=f"GET /api/item/{i % 7}", kind=Span.SPAN_KIND_SERVER)
        span.attributes.extend(
            [
                KeyValue(key="http.request.method", value=AnyValue(string_value="GET")),
                KeyValue(key="http.route", value=AnyValue(string_value=f"/api/item/{i % 7}")),
                KeyValue(key="http.response.status_code", value=AnyValue(int_value=200)),
                KeyValue(key="server.address", value=AnyValue(string_value="shop.local")),
                KeyValue(key="user.id", value=AnyValue(string_value=f"u{rng.randrange(10**4)}")),
                KeyValue(key="order.id", value=AnyValue(string_value=f"o{rng.randrange(10**5)}")),
                KeyValue(key="customer.tier", value=AnyValue(string_value="gold")),
                KeyValue(key="cache.hit", value=AnyValue(bool_value=bool(i % 2))),
                KeyValue(key="latency.ms", value=AnyValue(double_value=rng.random() * 100)),
                KeyValue(key="retry.count", value=AnyValue(int_value=i % 3)),
            ]
        )
    bodies = []
    spans = scope.spans
    for n in range(count):
        start = BASE_NS + (seed * count + n) * 1_000_000_000
        for i, span in enumerate(spans):
            span.trace_id = rng.randbytes(16)
            span.span_id = rng.randbytes(8)
            span.start_time_unix_nano = start + i * 1000
            span.end_time_unix_nano = start + i * 1000 + 250_000
        bodies.append(template.SerializeToString())
    return bodies


# --- load generator (runs in its own process) -------------------------------------------


def loadgen(port: int, count: int, seed: int, connections: int) -> dict[str, Any]:
    """Send ``count`` requests over ``connections`` keep-alive connections; time the acks."""
    bodies = make_requests(count, seed)
    statuses: list[int] = []
    lock = threading.Lock()

    def send(part: list[bytes]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Content-Type": "application/x-protobuf"}
        for body in part:
            while True:
                conn.request("POST", "/v1/traces", body, headers)
                response = conn.getresponse()
                response.read()
                if response.status != 503:
                    break
                time.sleep(0.05)  # backpressure: retry, as the SDK exporter would
            with lock:
                statuses.append(response.status)
        conn.close()

    threads = [
        threading.Thread(target=send, args=(bodies[k::connections],)) for k in range(connections)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {"elapsed": elapsed, "spans": count * SPANS_PER_REQUEST, "ok": statuses.count(200)}


# --- naive baseline (in this process) ------------------------------------------------------


def naive(bodies: list[bytes]) -> float:
    """Spans/s of parse + Python flatten through KeyValue objects + one insert per request."""
    import duckdb
    import pyarrow as pa
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from collector._values import stringify
    from collector.otlp_spans import SPAN_SCHEMA

    con = duckdb.connect(":memory:")
    con.execute(
        "CREATE TABLE spans (trace_id VARCHAR, span_id VARCHAR, parent_span_id VARCHAR, "
        "name VARCHAR, kind VARCHAR, start_ts TIMESTAMP, end_ts TIMESTAMP, status_code VARCHAR, "
        "status_message VARCHAR, service_name VARCHAR, scope_name VARCHAR, "
        "attributes MAP(VARCHAR, VARCHAR), links STRUCT(trace_id VARCHAR, span_id VARCHAR)[])"
    )
    started = time.perf_counter()
    for body in bodies:
        request = ExportTraceServiceRequest.FromString(body)
        rows: dict[str, list[Any]] = {name: [] for name in SPAN_SCHEMA.names}
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    rows["trace_id"].append(span.trace_id.hex())
                    rows["span_id"].append(span.span_id.hex())
                    rows["parent_span_id"].append(span.parent_span_id.hex() or None)
                    rows["name"].append(span.name)
                    rows["kind"].append(str(span.kind))
                    rows["start_ts"].append(span.start_time_unix_nano // 1000)
                    rows["end_ts"].append(span.end_time_unix_nano // 1000)
                    rows["status_code"].append(str(span.status.code))
                    rows["status_message"].append(span.status.message or None)
                    rows["service_name"].append("shop")
                    rows["scope_name"].append(scope_spans.scope.name)
                    rows["attributes"].append(
                        [(kv.key, stringify(kv.value)) for kv in span.attributes]
                    )
                    rows["links"].append([])
        batch = pa.table(rows, schema=SPAN_SCHEMA)
        con.register("batch", batch)
        con.execute("INSERT INTO spans SELECT * FROM batch")
        con.unregister("batch")
    elapsed = time.perf_counter() - started
    con.close()
    return len(bodies) * SPANS_PER_REQUEST / elapsed


# --- the collector, measured from outside --------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (the decode workers and their resource tracker)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def collector_run(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """One collector on a fresh file; one load-generator run against it."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        serve = [sys.executable, "-m", "baton", "collector", "serve", "--db", str(db)]
        env = dict(os.environ)
        if args.allowlist is not None:
            env["BATON_COLLECTOR_ATTRIBUTE_ALLOWLIST"] = args.allowlist
        if args.group_max_rows:
            env["BATON_COLLECTOR_GROUP_MAX_ROWS"] = str(args.group_max_rows)
        proc = subprocess.Popen(
            [*serve, "--port", "0", "--decode-workers", str(args.workers)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            port = int(line.split()[3].rsplit(":", 1)[1])
            workers = _children(proc.pid)
            cpu_before = {"main": _cpu_seconds(proc.pid)} | {
                f"worker{w}": _cpu_seconds(w) for w in workers
            }
            gen = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--loadgen",
                    str(port),
                    "--requests",
                    str(args.requests),
                    "--seed",
                    str(seed),
                    "--connections",
                    str(args.connections),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(gen.stdout)
            cpu = {"main": _cpu_seconds(proc.pid) - cpu_before["main"]}
            cpu["workers"] = sum(_cpu_seconds(w) - cpu_before[f"worker{w}"] for w in workers)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/api/v1/stats")
            stats = json.loads(conn.getresponse().read())
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    counters = stats["counters"]
    return {
        "spans_per_s": result["spans"] / result["elapsed"],
        "elapsed": result["elapsed"],
        "ok": result["ok"],
        "stored_spans": stats["spans"],
        "stored_events": stats["events"],
        "cpu_s": {k: round(v, 2) for k, v in cpu.items()},
        "loadgen_cpu_s": round(result.get("cpu_s", 0.0), 2),
        "commits": counters.get("commits", 0),
        "requests_per_commit": counters.get("committed_requests", 0)
        / max(1, counters.get("commits", 1)),
        "commit_p50_ms": stats["commit_latency"]["p50_ms"],
        "status_503": counters.get("status_503", 0),
    }


def dedupe_probe(sizes: list[int]) -> None:
    """Anti-join cost per 8k-span batch against the whole table vs the batch's time range."""
    import duckdb

    for size in sizes:
        con = duckdb.connect(":memory:")
        con.execute(
            "CREATE TABLE spans AS SELECT md5(i::VARCHAR) AS trace_id, "
            "substr(md5((i * 7)::VARCHAR), 1, 16) AS span_id, "
            "TIMESTAMP '2026-01-01' + to_microseconds(i * 1000) AS start_ts "
            f"FROM range({size}) t(i)"
        )
        con.execute(
            "CREATE TABLE b AS SELECT md5(i::VARCHAR) AS trace_id, "
            "substr(md5((i * 7)::VARCHAR), 1, 16) AS span_id, "
            f"TIMESTAMP '2026-01-01' + to_microseconds(i * 1000) AS start_ts "
            f"FROM range({size} - 800, {size} + 7392) t(i)"
        )
        ((lo, hi),) = con.execute("SELECT min(start_ts), max(start_ts) FROM b").fetchall()
        queries = {
            "whole table": "SELECT count(*) FROM b ANTI JOIN spans s USING (trace_id, span_id)",
            "time range": "SELECT count(*) FROM b ANTI JOIN (SELECT trace_id, span_id FROM spans "
            "WHERE start_ts BETWEEN $lo AND $hi) s USING (trace_id, span_id)",
        }
        for name, sql in queries.items():
            times = []
            for _ in range(5):
                started = time.perf_counter()
                con.execute(sql, {"lo": lo, "hi": hi} if "$lo" in sql else None).fetchall()
                times.append(time.perf_counter() - started)
            print(
                f"dedupe probe, {size:>9,} stored spans, {name:>11}: "
                f"{statistics.median(times) * 1000:7.1f} ms per 8,192-span batch"
            )
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="collector decode workers")
    parser.add_argument("--connections", type=int, default=16, help="concurrent senders")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--loadgen", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--dedupe-probe", action="store_true")
    parser.add_argument(
        "--allowlist",
        help="collector attribute allow-list (comma-separated keys or patterns); "
        "default: the collector's setting",
    )
    parser.add_argument("--group-max-rows", type=int, help="rows per group commit")
    args = parser.parse_args()
    if args.loadgen:
        started = time.process_time()
        result = loadgen(args.loadgen, args.requests, args.seed, args.connections)
        result["cpu_s"] = time.process_time() - started
        print(json.dumps(result))
        return
    if args.dedupe_probe:
        dedupe_probe([1_000_000, 5_000_000])

    collector = []
    baseline = []
    for run in range(args.runs):
        outcome = collector_run(args, seed=run + 1)
        collector.append(outcome)
        print(f"collector run {run + 1}: {json.dumps(outcome)}", flush=True)
        bodies = make_requests(min(args.requests, 100), seed=100 + run)
        baseline.append(naive(bodies))
        print(f"naive run {run + 1}: {baseline[-1]:,.0f} spans/s", flush=True)
    ours = statistics.median(o["spans_per_s"] for o in collector)
    theirs = statistics.median(baseline)
    print(
        f"\ncollector (end to end, acked after commit): {ours:,.0f} spans/s (median of {args.runs})"
    )
    print(
        f"naive in-process parse+insert:              {theirs:,.0f} spans/s (median of {args.runs})"
    )
    print(f"ratio: {ours / theirs:.2f}x   cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
