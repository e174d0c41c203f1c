"""Handoffs per second of the orchestrator runtime, telemetry on and off, one and two workers.

"Telemetry off" keeps the durable event log (each state change's record written to the outbox
in the same transaction: that is state, not telemetry) and turns off spans and shipping; "no
event log either" shows what the records themselves cost.

A handoff here is one work item taken by a bot and passed on: ``started`` + ``completed`` +
the next step's ``enqueued`` (or the case's close), a ``process`` span and a ``send`` span.
Bots do nothing, so what is measured is the orchestrator itself: durable SQLite state (WAL,
``synchronous=NORMAL``, grouped commits) plus, with telemetry on, spans made by the real
OpenTelemetry SDK (exported by Baton's span processor, and side by side by the SDK's own batch
processor and OTLP/HTTP exporter) and event records through the outbox and shipper, all
sent to a local HTTP sink in another process. Medians of several runs; CPU per handoff is the
process's CPU time (all threads) divided by handoffs.

Run: .venv/bin/python bench/orchestrator.py [--cases 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# This file is named after the package it measures; keep its folder off the import path so
# ``import orchestrator`` finds the package, also in the spawned worker processes.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

SINK = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
server = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
server.serve_forever()
"""

PLAYBOOK = """
workflow: bench
version: "1"
steps:
  - {name: s1, bot: noop, queue: q1, next: s2}
  - {name: s2, bot: noop, queue: q2, next: s3}
  - {name: s3, bot: noop, queue: q3, next: s4}
  - {name: s4, bot: noop, queue: q4, next: s5}
  - {name: s5, bot: noop, queue: q5}
"""


def _runtime(state: Path, endpoint: str, telemetry: str, worker: str):  # type: ignore[no-untyped-def]
    from opentelemetry.trace import NoOpTracerProvider

    from baton.pseudonym import Pseudonymizer
    from orchestrator.bots import BotRegistry
    from orchestrator.playbook import parse_playbook
    from orchestrator.runtime import Runtime
    from orchestrator.store import StateStore
    from orchestrator.telemetry import tracer_provider

    bots = BotRegistry()
    bots.register("noop")(lambda ctx: "ok")
    if telemetry in ("otlp", "fast"):
        provider, _ = tracer_provider(endpoint, exporter=telemetry)
        tracer = provider.get_tracer("bench")
    else:
        provider, tracer = None, NoOpTracerProvider().get_tracer("bench")
    runtime = Runtime(
        [parse_playbook(PLAYBOOK)], bots, StateStore(state), worker_id=worker,
        pseudonymize=Pseudonymizer(b"bench-key-0123456789"), tracer=tracer, batch=64,
        events=telemetry != "none",
    )  # fmt: skip
    return runtime, provider


def _seed(state: Path, endpoint: str, telemetry: str, cases: int) -> None:
    runtime, provider = _runtime(state, endpoint, telemetry, "seeder")
    for i in range(cases):
        runtime.start_case("bench", f"REF-{i}", {"payer": "P", "site": "S"})
    if provider is not None:
        provider.shutdown()


def _work(
    state: Path, endpoint: str, telemetry: str, worker: str, start: object, out: object
) -> None:
    from orchestrator.shipper import Shipper

    runtime, provider = _runtime(state, endpoint, telemetry, worker)
    shipper = Shipper(state, endpoint) if telemetry not in ("", "none") else None
    start.wait()  # type: ignore[attr-defined]
    if shipper:
        shipper.start()
    cpu0, t0 = time.process_time(), time.perf_counter()
    done = 0
    while n := runtime.work_once():
        done += n
    if provider is not None:
        provider.force_flush()
    if shipper:
        shipper.stop()
        shipper.drain()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    out.put((done, wall, cpu))  # type: ignore[attr-defined]


def run(workers: int, telemetry: str, cases: int, endpoint: str) -> tuple[float, float]:
    """Handoffs per second and CPU µs per handoff for one configuration."""
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state.sqlite"
        _seed(state, endpoint, telemetry, cases)
        ctx = mp.get_context("spawn")
        start, out = ctx.Event(), ctx.Queue()
        procs = [
            ctx.Process(target=_work, args=(state, endpoint, telemetry, f"w{i}", start, out))
            for i in range(workers)
        ]
        for p in procs:
            p.start()
        time.sleep(1.5)  # let every worker import and connect before the clock starts
        start.set()
        results = [out.get(timeout=600) for _ in procs]
        for p in procs:
            p.join()
    done = sum(r[0] for r in results)
    assert done == cases * 5, (done, cases)
    wall = max(r[1] for r in results)
    cpu = sum(r[2] for r in results)
    return done / wall, cpu / done * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sink = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE, text=True)
    assert sink.stdout is not None
    endpoint = f"http://127.0.0.1:{sink.stdout.readline().strip()}"
    try:
        rows = {}
        for name, workers, telemetry in (
            ("1 worker, no event log either", 1, "none"),
            ("1 worker, telemetry off", 1, ""),
            ("1 worker, plain OTel exporter", 1, "otlp"),
            ("1 worker, full telemetry", 1, "fast"),
            ("2 workers, full telemetry", 2, "fast"),
        ):
            runs = [run(workers, telemetry, args.cases, endpoint) for _ in range(args.repeat)]
            rate = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            rows[name] = (rate, cpu)
            print(f"{name:32s} {rate:8.0f} handoffs/s   {cpu:6.0f} µs CPU/handoff", flush=True)
        bare, off, plain, on, two = rows.values()
        print(
            f"telemetry CPU per handoff: {on[1] - off[1]:.0f} µs (target ≤ 150); with the "
            f"plain OTel exporter {plain[1] - off[1]:.0f} µs"
        )
        print(f"Baton telemetry vs plain OTel exporter: {on[0] / plain[0]:.2f}x handoffs/s")
        print(f"2 workers / 1 worker: {two[0] / on[0]:.2f}x (target ≥ 1.8)")
        print(f"event log (records in the outbox, same transaction): {off[1] - bare[1]:.0f} µs")
        print(f"full telemetry: {on[0]:.0f} handoffs/s (target ≥ 1,000)")
    finally:
        sink.terminate()


if __name__ == "__main__":
    main()
