"""Fixtures shared by the whole suite: free ports, real subprocesses, a clean environment."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

TEST_KEY = "test-pseudonym-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer's BATON_* settings or baton.toml leak into a test."""
    for name in list(os.environ):
        if name.startswith("BATON_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("BATON_PSEUDONYM_KEY", TEST_KEY)
    monkeypatch.setenv("BATON_CONFIG", str(tmp_path / "no-config.toml"))
    (tmp_path / "no-config.toml").write_text("")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def baton_cmd(*args: str) -> list[str]:
    """The CLI as a subprocess of this interpreter (no reliance on PATH)."""
    return [sys.executable, "-m", "baton", *args]


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    env["BATON_PSEUDONYM_KEY"] = TEST_KEY
    env.update(extra)
    return env


@dataclasses.dataclass
class Collector:
    url: str
    db: Path
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_for(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"process exited with {proc.returncode}: {err}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise TimeoutError(url)


@pytest.fixture
def start_collector(tmp_path: Path) -> Iterator[Callable[..., Collector]]:
    """Start ``baton collector serve`` as a real subprocess on a free port."""
    started: list[Collector] = []

    def start(db: Path | None = None) -> Collector:
        db = db or tmp_path / "baton.duckdb"
        port = free_port()
        proc = subprocess.Popen(
            baton_cmd("collector", "serve", "--db", str(db), "--port", str(port)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=child_env(),
            cwd=tmp_path,
        )
        collector = Collector(f"http://127.0.0.1:{port}", db, proc)
        started.append(collector)
        wait_for(f"{collector.url}/healthz", proc)
        return collector

    yield start
    for collector in started:
        collector.stop()
