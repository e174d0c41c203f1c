"""``baton orchestrator run`` as a real process: API triggers, folder drops, worker processes,
the workbench CLI, and a SIGKILLed worker whose items come back."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ..conftest import baton_cmd, child_env, free_port, wait_for

pytestmark = pytest.mark.slow

BOTS = """
import time
from orchestrator.bots import BotRegistry
from orchestrator.errors import ApplicationException

bots = BotRegistry()

@bots.register("intake")
def intake(ctx):
    if ctx.payer == "Slow":
        time.sleep(8)  # holds its lease long enough to be killed
    return "ok"

@bots.register("check")
def check(ctx):
    if ctx.payer == "Broken":
        raise ApplicationException("PortalDown")
    return "ok"
"""

PLAYBOOK = """\
workflow: intake
version: "1"
steps:
  - name: receive
    bot: intake
    queue: q_receive
    timeout: 2m
    next: verify
  - name: verify
    bot: check
    queue: q_verify
    retry: {max_attempts: 2, initial_interval: 1s, maximum_interval: 1s}
    routes: {approved_by_hand: end}
"""


def state_rows(state: Path, sql: str) -> list[tuple[object, ...]]:
    con = sqlite3.connect(state)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def wait_until(predicate, timeout_s: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.fixture
def orchestrator(tmp_path: Path, start_collector) -> Iterator[dict[str, object]]:  # type: ignore[no-untyped-def]
    collector = start_collector()
    (tmp_path / "testbots.py").write_text(BOTS)
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "intake.yaml").write_text(PLAYBOOK)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    port = free_port()
    env = child_env(
        PYTHONPATH=f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        BATON_ORCHESTRATOR_TOKEN="s3cret-token",
        BATON_ORCHESTRATOR_HEARTBEAT_S="0.5",
        BATON_ORCHESTRATOR_OFFLINE_AFTER_S="3",
        BATON_ORCHESTRATOR_LEASE_S="60",
    )
    state = tmp_path / "state.sqlite"
    proc = subprocess.Popen(
        baton_cmd("orchestrator", "run", str(playbooks), "--state", str(state),
                  "--endpoint", collector.url, "--workers", "2", "--api-port", str(port),
                  "--watch", str(inbox), "--bots", "testbots:bots"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    api = f"http://127.0.0.1:{port}"
    wait_for(f"{api}/healthz", proc)  # type: ignore[arg-type]
    yield {"api": api, "state": state, "proc": proc, "inbox": inbox, "env": env,
           "playbooks": playbooks, "collector": collector, "tmp": tmp_path}  # fmt: skip
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the orchestrator did not stop on Ctrl-C: {err[-3000:]}")
    assert proc.returncode == 0, err
    assert "orchestrator stopped" in out


AUTH = {"Authorization": "Bearer s3cret-token"}


def test_api_starts_cases_and_guards_its_token(orchestrator):
    api, state = orchestrator["api"], orchestrator["state"]
    body = {"workflow": "intake", "reference": "REF-A", "payer": "Acme", "site": "Main",
            "payload": {"patient": "Ann Lee"}}  # fmt: skip
    assert requests.post(f"{api}/v1/cases", json=body, timeout=5).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert requests.post(f"{api}/v1/cases", json=body, headers=wrong, timeout=5).status_code == 401
    bad = requests.post(f"{api}/v1/cases", json={"workflow": "intake"}, headers=AUTH, timeout=5)
    assert bad.status_code == 400 and "reference" in bad.json()["error"]
    unknown = requests.post(f"{api}/v1/cases", json=body | {"workflow": "nope"}, headers=AUTH,
                            timeout=5)  # fmt: skip
    assert unknown.status_code == 400 and "unknown workflow" in unknown.json()["error"]
    created = requests.post(f"{api}/v1/cases", json=body, headers=AUTH, timeout=5)
    assert created.status_code == 201
    case_id = created.json()["case_id"]
    assert case_id.startswith("case_") and "REF-A" not in case_id
    wait_until(lambda: state_rows(state, f"SELECT status FROM cases WHERE case_id='{case_id}'")
               == [("closed",)])  # fmt: skip


def test_folder_drop_starts_a_case_and_bad_files_are_kept(orchestrator):
    inbox, state = orchestrator["inbox"], orchestrator["state"]
    (inbox / "REF-F1.json").write_text(json.dumps({"payer": "Acme", "site": "East"}))
    (inbox / "broken.json").write_text("{not json")
    wait_until(lambda: (inbox / "processed" / "REF-F1.json").exists())
    wait_until(lambda: (inbox / "failed" / "broken.json.error").exists())
    wait_until(lambda: state_rows(state, "SELECT count(*) FROM cases WHERE reference='REF-F1'"
                                  " AND status='closed'") == [(1,)])  # fmt: skip


def test_escalated_item_is_resolved_from_the_workbench_cli(orchestrator):
    api, state, env, tmp = (orchestrator[k] for k in ("api", "state", "env", "tmp"))
    body = {"workflow": "intake", "reference": "REF-B", "payer": "Broken", "site": "Main",
            "payload": {"patient": "Bo Diaz"}}  # fmt: skip
    requests.post(f"{api}/v1/cases", json=body, headers=AUTH, timeout=5).raise_for_status()
    wait_until(lambda: requests.get(f"{api}/v1/workbench", headers=AUTH, timeout=5).json())
    listed = subprocess.run(
        baton_cmd("workbench", "list", "--state", str(state), "--json"),
        capture_output=True, text=True, env=env | {"BATON_ORCHESTRATOR_BOTS": "testbots:bots"},
        cwd=tmp, timeout=60,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)
    assert len(items) == 1 and items[0]["step"] == "verify" and "reference" not in items[0]
    item_id = items[0]["item_id"]
    detail = requests.get(f"{api}/v1/workbench/{item_id}", headers=AUTH, timeout=5).json()
    assert detail["reference"] == "REF-B" and detail["payload"] == {"patient": "Bo Diaz"}
    assert requests.get(f"{api}/v1/workbench/{item_id}", timeout=5).status_code == 401
    resolved = subprocess.run(
        baton_cmd("workbench", "resolve", str(item_id), "--outcome", "approved_by_hand",
                  "--by", "nurse.kim", "--state", str(state)),
        capture_output=True, text=True, env=env | {"BATON_ORCHESTRATOR_BOTS": "testbots:bots"},
        cwd=tmp, timeout=60,
    )  # fmt: skip
    assert resolved.returncode == 0, resolved.stderr
    assert state_rows(state, "SELECT status, outcome FROM cases WHERE reference='REF-B'") == [
        ("closed", "approved_by_hand")]  # fmt: skip
    again = subprocess.run(
        baton_cmd("workbench", "resolve", str(item_id), "--outcome", "x", "--by", "n",
                  "--state", str(state)),
        capture_output=True, text=True, env=env | {"BATON_ORCHESTRATOR_BOTS": "testbots:bots"},
        cwd=tmp, timeout=60,
    )  # fmt: skip
    assert again.returncode == 1 and "not waiting at the workbench" in again.stderr


def test_a_killed_worker_is_replaced_and_its_item_comes_back(orchestrator):
    api, state, proc = orchestrator["api"], orchestrator["state"], orchestrator["proc"]
    body = {"workflow": "intake", "reference": "REF-S", "payer": "Slow", "site": "Main"}
    requests.post(f"{api}/v1/cases", json=body, headers=AUTH, timeout=5).raise_for_status()
    wait_until(lambda: state_rows(state, "SELECT lease_owner FROM items WHERE state='in_progress'"))
    owner = state_rows(state, "SELECT lease_owner FROM items WHERE state='in_progress'")[0][0]
    assert owner.startswith("worker-")
    before = set(children(proc.pid))
    workers = [pid for pid in before if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert len(workers) == 2
    # kill both workers with SIGKILL: the one holding the lease is among them
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: state_rows(state, "SELECT count(*) FROM workers WHERE state='offline'")
               [0][0] >= 1, timeout_s=30)  # fmt: skip
    wait_until(lambda: state_rows(state, "SELECT state FROM items WHERE state='retried'"
                                  " OR attempt > 1"), timeout_s=30)  # fmt: skip
    assert set(children(proc.pid)) - before, "the orchestrator did not start new workers"
