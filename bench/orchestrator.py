"""Handoffs per second of the orchestrator runtime, telemetry on and off, one and two workers.

"Telemetry off" keeps the durable event log (each state change's record written to the outbox
in the same transaction: that is state, not telemetry) and turns off spans and shipping; "no
event log either" shows what the records themselves cost.

A handoff here is one work item taken by a bot and passed on: ``started`` + ``completed`` +
the next step's ``enqueued`` (or the case's close), a ``process`` span and a ``send`` span.
Bots do nothing, so what is measured is the orchestrator itself: durable SQLite state (WAL,
``synchronous=NORMAL``, grouped commits) plus, with telemetry on, spans made by the real
OpenTelemetry SDK (exported by Baton's span processor, and side by side by the SDK's own batch
processor and OTLP/HTTP exporter) and event records through the outbox and one shipper in its
own process, as in the service, all sent to a local HTTP sink in another process.

The machine is usually shared, so the configurations run interleaved, round after round, and
the figures are medians over rounds (ratios are taken within a round). CPU per handoff is the
process CPU time (all threads) of the workers and the shipper divided by handoffs: less
sensitive to other load than wall time, though not immune to it. The load average before and
after is printed with the results.

Run: .venv/bin/python bench/orchestrator.py [--cases 2000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
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
    runtime, provider = _runtime(state, endpoint, telemetry, worker)
    start.wait()  # type: ignore[attr-defined]
    cpu0 = time.process_time()
    done = 0
    while n := runtime.work_once():
        done += n
    if provider is not None:
        provider.force_flush()
    out.put(("worker", done, time.monotonic(), time.process_time() - cpu0))  # type: ignore[attr-defined]


def _ship(state: Path, endpoint: str, start: object, workers_done: object, out: object) -> None:
    """The outbox's one shipper, in its own process as in the service."""
    from orchestrator.shipper import Shipper

    shipper = Shipper(state, endpoint)
    start.wait()  # type: ignore[attr-defined]
    cpu0 = time.process_time()
    while True:
        finished = workers_done.is_set()  # type: ignore[attr-defined]
        sent, _ = shipper.ship_once()
        if not sent and finished:
            break
        if pause := shipper.pause_after(sent, idle_s=0.05):
            time.sleep(pause)
    out.put(("shipper", shipper.stats.shipped, time.monotonic(), time.process_time() - cpu0))  # type: ignore[attr-defined]


def run(workers: int, telemetry: str, cases: int, endpoint: str) -> tuple[float, float]:
    """Handoffs per second and CPU µs per handoff (workers + shipper) for one configuration."""
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state.sqlite"
        _seed(state, endpoint, telemetry, cases)
        ctx = mp.get_context("spawn")
        start, done, out = ctx.Event(), ctx.Event(), ctx.Queue()
        procs = [
            ctx.Process(target=_work, args=(state, endpoint, telemetry, f"w{i}", start, out))
            for i in range(workers)
        ]
        if telemetry in ("otlp", "fast"):
            procs.append(ctx.Process(target=_ship, args=(state, endpoint, start, done, out)))
        for p in procs:
            p.start()
        time.sleep(1.5)  # let every process import and connect before the clock starts
        t0 = time.monotonic()
        start.set()
        results = []
        for _ in procs:
            results.append(out.get(timeout=600))
            if sum(r[0] == "worker" for r in results) == workers:
                done.set()
        for p in procs:
            p.join()
    handoffs = sum(r[1] for r in results if r[0] == "worker")
    assert handoffs == cases * 5, (handoffs, cases)
    shipped = sum(r[1] for r in results if r[0] == "shipper")
    assert telemetry not in ("otlp", "fast") or shipped == cases * 15, (shipped, cases)
    wall = max(r[2] for r in results) - t0
    cpu = sum(r[3] for r in results)
    return handoffs / wall, cpu / handoffs * 1e6


CONFIGS = (
    ("1 worker, no event log either", 1, "none"),
    ("1 worker, telemetry off", 1, ""),
    ("1 worker, plain OTel exporter", 1, "otlp"),
    ("1 worker, full telemetry", 1, "fast"),
    ("2 workers, telemetry off", 2, ""),
    ("2 workers, full telemetry", 2, "fast"),
)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sink = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE, text=True)
    assert sink.stdout is not None
    endpoint = f"http://127.0.0.1:{sink.stdout.readline().strip()}"
    print(f"load average before: {_load()}", flush=True)
    try:
        # Rounds interleave the configurations, so a burst of load elsewhere on the machine
        # hits all of them alike; ratios are taken within a round, then the median.
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in CONFIGS}
        for round_no in range(args.repeat):
            for name, workers, telemetry in CONFIGS:
                runs[name].append(run(workers, telemetry, args.cases, endpoint))
            print(f"round {round_no + 1}: " + ", ".join(
                f"{runs[n][-1][0]:.0f}/s" for n, _, _ in CONFIGS), flush=True)  # fmt: skip
        for name, _, _ in CONFIGS:
            rate = statistics.median(r[0] for r in runs[name])
            cpu = statistics.median(r[1] for r in runs[name])
            print(f"{name:32s} {rate:8.0f} handoffs/s   {cpu:6.0f} µs CPU/handoff", flush=True)

        def median(f):  # type: ignore[no-untyped-def]
            return statistics.median(f(i) for i in range(args.repeat))

        def r(name: str, i: int) -> tuple[float, float]:
            return runs[name][i]

        bare, off, plain, on = (name for name, workers, _ in CONFIGS if workers == 1)
        tel = median(lambda i: r(on, i)[1] - r(off, i)[1])
        tel_log = median(lambda i: r(on, i)[1] - r(bare, i)[1])
        log = median(lambda i: r(off, i)[1] - r(bare, i)[1])
        print(
            f"telemetry CPU per handoff (spans + shipping): {tel:.0f} µs (target ≤ 150); "
            f"with the plain OTel exporter {median(lambda i: r(plain, i)[1] - r(off, i)[1]):.0f} µs"
        )
        print(f"event log (records in the outbox, same transaction): {log:.0f} µs")
        print(f"telemetry including the event log: {tel_log:.0f} µs")
        two = median(lambda i: r("2 workers, full telemetry", i)[0] / r(on, i)[0])
        two_off = median(lambda i: r("2 workers, telemetry off", i)[0] / r(off, i)[0])
        print(f"2 workers / 1 worker, full telemetry: {two:.2f}x (target ≥ 1.8); "
              f"telemetry off: {two_off:.2f}x")  # fmt: skip
        print(f"full telemetry: {statistics.median(x[0] for x in runs[on]):.0f} handoffs/s "
              "(target ≥ 1,000)")  # fmt: skip
        print(f"load average after: {_load()}")
    finally:
        sink.terminate()


if __name__ == "__main__":
    main()
