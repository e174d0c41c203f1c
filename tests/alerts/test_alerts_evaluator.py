"""The evaluator on a real DuckDB log: every rule kind, the pending period, keep-firing,
repeat interval, silences with expiry, inhibition, and state that survives a restart."""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from alerts.evaluator import Delivery, Evaluator
from alerts.model import Alert, AlertState
from alerts.notifiers import Dispatcher
from alerts.rulefile import parse_rules
from alerts.sources import DuckDBSource
from alerts.state import DuckDBAlertStore, MemoryAlertStore, silence_for

from .helpers import T0, H, Log, M, memory_log


@dataclasses.dataclass
class Clock:
    at: datetime

    def now(self) -> datetime:
        return self.at


@dataclasses.dataclass
class Recorder:
    """An in-memory receiver: remembers every group it was sent."""

    name: str = "ops"
    sent: list[tuple[str, list[str]]] = dataclasses.field(default_factory=list)

    def send(self, status: str, alerts: Sequence[Alert], group: str) -> None:
        names = sorted(a.labels.get("queue", a.labels.get("service", "")) for a in alerts)
        self.sent.append((status, names))


RECEIVER = "receivers: [{name: ops, log: {}}]\n"


def harness(log: Log, rules_yaml: str, store=None):  # type: ignore[no-untyped-def]
    rules = parse_rules(RECEIVER + textwrap.dedent(rules_yaml))
    clock = Clock(T0)
    recorder = Recorder()
    store = store or MemoryAlertStore()
    dispatch = Dispatcher({"ops": recorder}, store)
    evaluator = Evaluator(rules, DuckDBSource(log.con.cursor), store, clock, dispatch)
    return evaluator, clock, recorder, store


def states(result) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {a.labels.get("queue", a.labels.get("service")): a.state.value
            for a in result.alerts.values()}  # fmt: skip


def at(evaluator: Evaluator, clock: Clock, moment: datetime):  # type: ignore[no-untyped-def]
    clock.at = moment
    return evaluator.tick()


def test_queue_aging_uses_per_queue_thresholds_and_resolves():
    log = memory_log()
    log.wait("c1", "prior_auth", T0, T0 + 5 * H)
    log.wait("c2", "scheduling", T0, T0 + 5 * H)
    ev, clock, rec, _ = harness(
        log,
        """
        rules:
          - {name: aging, kind: queue_aging, threshold: 4h, queues: {prior_auth: 2h}}
    """,
    )
    assert states(at(ev, clock, T0 + 1 * H)) == {}
    assert states(at(ev, clock, T0 + 3 * H)) == {"prior_auth": "firing"}
    assert states(at(ev, clock, T0 + 4.5 * H)) == {"prior_auth": "firing", "scheduling": "firing"}
    assert states(at(ev, clock, T0 + 6 * H)) == {"prior_auth": "resolved", "scheduling": "resolved"}
    # One notification per receiver, rule and status in a tick: both resolve together.
    assert rec.sent == [
        ("firing", ["prior_auth"]),
        ("firing", ["scheduling"]),
        ("resolved", ["prior_auth", "scheduling"]),
    ]


def test_count_of_items_older_than():
    log = memory_log()
    for i in range(4):
        log.wait(f"c{i}", "eligibility", T0 + i * 10 * M)
    ev, clock, _, _ = harness(
        log,
        """
        rules:
          - {name: many-old, kind: queue_aging, measure: items_older_than, older_than: 1h,
             threshold: 2, summary: "{value} items older than 1h on {queue}"}
    """,
    )
    assert states(at(ev, clock, T0 + 75 * M)) == {}  # two items are older than 1 h: not > 2
    result = at(ev, clock, T0 + 95 * M)  # four are
    assert states(result) == {"eligibility": "firing"}
    assert next(iter(result.alerts.values())).summary == "4 items older than 1h on eligibility"


def test_pending_period_and_keep_firing_for():
    log = memory_log()
    log.wait("c1", "prior_auth", T0, T0 + 4 * H)
    log.wait("c2", "prior_auth", T0 + 4 * H + 30 * M, T0 + 5 * H)
    ev, clock, rec, _ = harness(
        log,
        """
        repeat_interval: 1d
        rules:
          - {name: aging, kind: queue_aging, threshold: 1h, for: 30m, keep_firing_for: 2h}
    """,
    )
    assert states(at(ev, clock, T0 + 70 * M)) == {"prior_auth": "pending"}
    assert states(at(ev, clock, T0 + 90 * M)) == {"prior_auth": "pending"}  # 20 min < for
    assert states(at(ev, clock, T0 + 100 * M)) == {"prior_auth": "firing"}
    assert rec.sent == [("firing", ["prior_auth"])]
    assert states(at(ev, clock, T0 + 3 * H + 50 * M)) == {"prior_auth": "firing"}
    # The item is picked up at 4 h: the condition clears, but keep_firing_for (2 h from the
    # last evaluation that saw it, 3:50) holds the alert.
    assert states(at(ev, clock, T0 + 4 * H + 10 * M)) == {"prior_auth": "firing"}
    assert states(at(ev, clock, T0 + 5 * H + 40 * M)) == {"prior_auth": "firing"}
    assert states(at(ev, clock, T0 + 5 * H + 51 * M)) == {"prior_auth": "resolved"}
    assert rec.sent == [("firing", ["prior_auth"]), ("resolved", ["prior_auth"])]


def test_a_pending_alert_that_clears_never_notifies():
    log = memory_log()
    log.wait("c1", "prior_auth", T0, T0 + 80 * M)
    ev, clock, rec, _ = harness(
        log,
        """
        rules:
          - {name: aging, kind: queue_aging, threshold: 1h, for: 30m}
    """,
    )
    assert states(at(ev, clock, T0 + 70 * M)) == {"prior_auth": "pending"}
    assert states(at(ev, clock, T0 + 85 * M)) == {}
    assert rec.sent == []


def test_repeat_interval_reminds_while_firing():
    log = memory_log()
    log.wait("c1", "prior_auth", T0)
    ev, clock, rec, _ = harness(
        log,
        """
        repeat_interval: 2h
        rules:
          - {name: aging, kind: queue_aging, threshold: 1h}
    """,
    )
    for minutes in (70, 100, 130, 190, 200):
        at(ev, clock, T0 + minutes * M)
    assert [s for s, _ in rec.sent] == ["firing", "firing"]  # at 70 and 190 minutes


def test_sla_breach_rate():
    log = memory_log()
    for i in range(4):  # due after 1 h; two finish late
        late = i < 2
        log.wait(
            f"c{i}", "eligibility", T0 + i * M, T0 + i * M + (2 * H if late else 10 * M), due=H
        )
    ev, clock, _, _ = harness(
        log,
        """
        rules:
          - {name: sla, kind: sla_breach_rate, window: 1d, threshold: 40%, min_items: 4}
    """,
    )
    result = at(ev, clock, T0 + 3 * H)
    assert states(result) == {"eligibility": "firing"}
    assert next(iter(result.alerts.values())).value == pytest.approx(0.5)
    ev2, clock2, _, _ = harness(
        log,
        """
        rules:
          - {name: sla, kind: sla_breach_rate, window: 1d, threshold: 60%}
    """,
    )
    assert states(at(ev2, clock2, T0 + 3 * H)) == {}


def test_retry_rate_spike_against_a_baseline():
    log = memory_log()
    # A calm day before (1 retry in 10 attempts), then 5 retries in 10 attempts in one hour.
    for i in range(10):
        t = T0 - 20 * H + i * H
        log.event(f"b{i}", "eligibility", "started", t, "eligibility")
    log.event("b0", "eligibility", "retried", T0 - 19 * H, "eligibility", attempt=2)
    for i in range(10):
        t = T0 + i * 5 * M
        log.event(f"s{i}", "eligibility", "started", t, "eligibility")
        if i % 2:
            log.event(f"s{i}", "eligibility", "retried", t + M, "eligibility", attempt=2)
    ev, clock, _, _ = harness(
        log,
        """
        rules:
          - {name: spike, kind: retry_rate, window: 1h, threshold: 20%, baseline: 1d,
             factor: 3, min_items: 5}
    """,
    )
    result = at(ev, clock, T0 + 55 * M)
    assert states(result) == {"eligibility": "firing"}
    ev2, clock2, _, _ = harness(
        log,
        """
        rules:
          - {name: spike, kind: retry_rate, window: 1h, threshold: 20%, baseline: 1d,
             factor: 6, min_items: 5}
    """,
    )
    assert states(at(ev2, clock2, T0 + 55 * M)) == {}  # 50 % is not 6x the 10 % baseline


def test_escalation_backlog():
    log = memory_log()
    for i in range(3):
        log.event(f"c{i}", "prior_auth", "escalated", T0 + i * M, "workbench")
    log.event("c0", "prior_auth", "resumed", T0 + 30 * M, "workbench")
    ev, clock, _, _ = harness(
        log,
        """
        rules:
          - {name: backlog, kind: escalation_backlog, threshold: 2}
    """,
    )
    assert states(at(ev, clock, T0 + 10 * M)) == {"workbench": "firing"}
    assert states(at(ev, clock, T0 + 40 * M)) == {"workbench": "resolved"}


def test_dead_man_needs_the_services_own_records_and_fires_when_they_stop():
    log = memory_log()
    log.wait("c1", "intake", T0, T0 + M)
    rules = """
        rules:
          - {name: silent, kind: dead_man, threshold: 10m}
    """
    ev, clock, _, _ = harness(log, rules)
    assert states(at(ev, clock, T0 + 5 * H)) == {}  # events only: a quiet night, not a death
    log.con.execute("CREATE TABLE log_records (ts TIMESTAMP, event_name VARCHAR, "
                    "service_name VARCHAR)")  # fmt: skip
    for minute in range(0, 30, 5):
        log.con.execute("INSERT INTO log_records VALUES (?, 'baton.heartbeat', "
                        "'baton-orchestrator')", [T0 + minute * M])  # fmt: skip
    ev, clock, _, _ = harness(log, rules)
    assert states(at(ev, clock, T0 + 30 * M)) == {}
    assert states(at(ev, clock, T0 + 40 * M)) == {"baton-orchestrator": "firing"}


def test_inhibition_mutes_queue_aging_while_the_orchestrator_is_silent():
    log = memory_log()
    log.wait("c1", "prior_auth", T0)
    log.con.execute("CREATE TABLE log_records (ts TIMESTAMP, event_name VARCHAR, "
                    "service_name VARCHAR)")  # fmt: skip
    log.con.execute("INSERT INTO log_records VALUES (?, 'baton.heartbeat', "
                    "'baton-orchestrator')", [T0])  # fmt: skip
    ev, clock, rec, _ = harness(
        log,
        """
        rules:
          - {name: aging, kind: queue_aging, threshold: 1h, labels: {service: baton-orchestrator}}
          - {name: silent, kind: dead_man, threshold: 30m}
    """,
    )
    result = at(ev, clock, T0 + 2 * H)
    assert sorted(a.state.value for a in result.alerts.values()) == ["firing", "firing"]
    assert rec.sent == [("firing", ["baton-orchestrator"])]  # the aging alert stays quiet
    # The orchestrator is back: the aging alert, still firing, is now sent.
    log.con.execute("INSERT INTO log_records VALUES (?, 'baton.heartbeat', "
                    "'baton-orchestrator')", [T0 + 2 * H + M])  # fmt: skip
    at(ev, clock, T0 + 2 * H + 5 * M)
    assert sorted(rec.sent[1:]) == [
        ("firing", ["prior_auth"]),
        ("resolved", ["baton-orchestrator"]),
    ]


def test_silence_mutes_until_it_expires():
    log = memory_log()
    log.wait("c1", "prior_auth", T0)
    log.wait("c2", "scheduling", T0)
    ev, clock, rec, store = harness(
        log,
        """
        rules:
          - {name: aging, kind: queue_aging, threshold: 1h}
    """,
    )
    store.add_silence(silence_for({"queue": "prior_auth"}, T0, 2 * H, "nurse-lead", "portal"))
    at(ev, clock, T0 + 90 * M)
    assert rec.sent == [("firing", ["scheduling"])]
    at(ev, clock, T0 + 110 * M)
    assert len(rec.sent) == 1
    at(ev, clock, T0 + 2 * H + M)  # the silence expired; still firing: now it is sent
    assert rec.sent[1:] == [("firing", ["prior_auth"])]


def test_state_in_duckdb_survives_a_restart_without_paging_twice(tmp_path: Path):
    db = tmp_path / "baton.duckdb"
    log = Log(duckdb.connect(str(db)))
    log.wait("c1", "prior_auth", T0, T0 + 3 * H)
    rules = """
        rules:
          - {name: aging, kind: queue_aging, threshold: 1h, for: 20m}
    """
    ev, clock, rec, _ = harness(log, rules, DuckDBAlertStore(log.con.cursor))
    at(ev, clock, T0 + 70 * M)
    at(ev, clock, T0 + 95 * M)
    assert rec.sent == [("firing", ["prior_auth"])]
    log.con.close()
    # A new process: same file, a fresh evaluator and receiver.
    log = Log(duckdb.connect(str(db)))
    ev, clock, rec, store = harness(log, rules, DuckDBAlertStore(log.con.cursor))
    assert states(at(ev, clock, T0 + 2 * H)) == {"prior_auth": "firing"}
    assert rec.sent == []
    at(ev, clock, T0 + 4 * H)
    assert rec.sent == [("resolved", ["prior_auth"])]
    history = [(r["from_state"], r["to_state"]) for r in reversed(store.history())]
    assert history == [("normal", "pending"), ("pending", "firing"), ("firing", "resolved")]
    delivered = log.con.execute(
        "SELECT status, ok FROM alert_notifications ORDER BY ts").fetchall()  # fmt: skip
    assert delivered == [("firing", True), ("resolved", True)]


def test_a_receiver_that_fails_is_tried_again_next_tick():
    log = memory_log()
    log.wait("c1", "prior_auth", T0)

    @dataclasses.dataclass
    class Flaky(Recorder):
        failures: int = 4

        def send(self, status: str, alerts: Sequence[Alert], group: str) -> None:
            if self.failures:
                self.failures -= 1
                raise ConnectionError("down")
            super().send(status, alerts, group)

    flaky = Flaky()
    rules = parse_rules(RECEIVER + "rules: [{name: aging, kind: queue_aging, threshold: 1h}]")
    clock, store = Clock(T0), MemoryAlertStore()
    from alerts.notifiers import Backoff

    dispatch = Dispatcher({"ops": flaky}, store, Backoff(attempts=3, initial_s=0.01))
    ev = Evaluator(rules, DuckDBSource(log.con.cursor), store, clock, dispatch)
    first = at(ev, clock, T0 + 2 * H)
    assert first.sent == [] and flaky.sent == []
    second = at(ev, clock, T0 + 2 * H + M)
    assert [d.status for d in second.sent] == ["firing"] and len(flaky.sent) == 1
    assert [(r[5], r[6]) for r in store.notifications] == [(False, 3), (True, 2)]
    assert (
        isinstance(second.sent[0], Delivery)
        and second.alerts[second.sent[0].alert.key].state is AlertState.FIRING
    )
