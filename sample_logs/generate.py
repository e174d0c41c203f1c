"""Regenerate the sample logs: ``make sample-logs`` (or ``python sample_logs/generate.py``).

A real collector process receives a real simulation, and ``baton export`` writes each format,
so the sample logs are exactly what Baton produces. Everything is deterministic: the seed, the
simulated start, and the pseudonym key (a published one: the patients are made up), so the
files come out byte-identical on every run and machine.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from baton.demo import wait_http

HERE = Path(__file__).resolve().parent
#: Not a secret: it only pseudonymizes the made-up patients of the sample clinic.
SAMPLE_KEY = "baton-sample-logs-public-key-not-for-real-data"
DAYS, SEED, PER_WEEKDAY = "2", "7", "80"
LOGS = {
    "normal": {"parquet": "clinic.parquet", "xes": "clinic.xes.gz", "ocel": "clinic.jsonocel",
               "csv": "clinic.csv"},
    "payer-outage": {"parquet": "clinic-payer-outage.parquet"},
}  # fmt: skip


def _baton(*args: str) -> list[str]:
    return [sys.executable, "-m", "baton", *args]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> None:
    result = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd[2:])} failed: {result.stderr.strip()}")


def generate(scenario: str, outputs: dict[str, str], out_dir: Path, env: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory(prefix="baton-samples-") as tmp:
        work = Path(tmp)
        db, port = work / "baton.duckdb", _free_port()
        collector = subprocess.Popen(
            _baton("collector", "serve", "--db", str(db), "--port", str(port)),
            env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            wait_http(f"{url}/healthz", collector, "the collector")
            simulate = _baton(
                "simulate", "--days", DAYS, "--seed", SEED, "--per-weekday", PER_WEEKDAY,
                "--scenario", scenario, "--endpoint", url, "--state", str(work / "state.sqlite"),
            )  # fmt: skip
            _run(simulate, env, work)
        finally:
            collector.send_signal(signal.SIGTERM)
            collector.wait(timeout=60)
        for fmt, name in outputs.items():
            target = out_dir / name
            _run(_baton("export", "--db", str(db), "--format", fmt, str(target)), env, work)
            print(f"wrote {target.relative_to(out_dir.parent) if out_dir == HERE else target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="Folder to write into.")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    env["BATON_PSEUDONYM_KEY"] = SAMPLE_KEY
    for scenario, outputs in LOGS.items():
        generate(scenario, outputs, args.out.resolve(), env)


if __name__ == "__main__":
    main()
