"""Telling people: a webhook (Alertmanager's payload), email over SMTP, and the log.

A notification carries the alert's labels (rule, severity, queue, service, the rule's own
labels), its summary, value and threshold, and its times: counts and ages, never a patient
identifier or a case id, because rules are built from aggregate figures and labels that name
cases are refused when the rules file loads (:data:`alerts.rules.FORBIDDEN_LABELS`).

The webhook body is Alertmanager's webhook format (``version: "4"``), so Alertmanager's own
receivers, chat bridges and incident tools take it unchanged. Every send is retried with
exponential backoff; a receiver that still fails is tried again on the next tick, since the
alert's state records that it was not told.
"""

from __future__ import annotations

import dataclasses
import logging
import smtplib
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any, Protocol

import requests

from alerts.errors import NotificationFailed
from alerts.evaluator import Delivery
from alerts.model import Alert
from alerts.rules import Receiver, RuleSet
from alerts.state import AlertStore

log = logging.getLogger(__name__)

#: Where the webhook's ``externalURL`` and the alerts' ``generatorURL`` point.
EXTERNAL_URL = "baton://alerts"


@dataclasses.dataclass(frozen=True)
class Backoff:
    """Retry schedule: ``attempts`` tries, waiting ``initial_s``, then times ``factor``, capped.

    Example:
        >>> Backoff(attempts=4, initial_s=0.5).delays()
        [0.5, 1.0, 2.0]
    """

    attempts: int = 4
    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 10.0

    def delays(self) -> list[float]:
        return [min(self.initial_s * self.factor**i, self.max_s) for i in range(self.attempts - 1)]


class Notifier(Protocol):
    """One receiver: sends one group of alerts of one status, raising on failure."""

    name: str

    def send(self, status: str, alerts: Sequence[Alert], group: str) -> None: ...


def _iso(moment: datetime | None) -> str:
    if moment is None:
        return "0001-01-01T00:00:00Z"
    return moment.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def alert_json(alert: Alert, status: str) -> dict[str, Any]:
    """One alert as Alertmanager's webhook lists it."""
    annotations = {"summary": alert.summary}
    if alert.value is not None:
        annotations["value"] = f"{alert.value:g}"
    if alert.threshold is not None:
        annotations["threshold"] = f"{alert.threshold:g}"
    return {
        "status": status,
        "labels": dict(sorted(alert.labels.items())),
        "annotations": annotations,
        "startsAt": _iso(alert.fired_at or alert.active_since),
        "endsAt": _iso(alert.resolved_at if status == "resolved" else None),
        "generatorURL": f"{EXTERNAL_URL}/rules/{alert.rule}",
        "fingerprint": alert.key,
    }


def webhook_payload(status: str, alerts: Sequence[Alert], group: str) -> dict[str, Any]:
    """Alertmanager's webhook body (version 4) for one group of alerts."""
    common = dict(set.intersection(*(set(a.labels.items()) for a in alerts))) if alerts else {}
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{group}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "",
        "groupLabels": {"alertname": group},
        "commonLabels": dict(sorted(common.items())),
        "commonAnnotations": {},
        "externalURL": EXTERNAL_URL,
        "alerts": [alert_json(a, status) for a in alerts],
    }


@dataclasses.dataclass
class WebhookNotifier:
    """POSTs Alertmanager's JSON to ``url``; any non-2xx answer is a failure."""

    name: str
    url: str
    timeout_s: float = 5.0
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def send(self, status: str, alerts: Sequence[Alert], group: str) -> None:
        payload = {**webhook_payload(status, alerts, group), "receiver": self.name}
        response = requests.post(
            self.url, json=payload, timeout=self.timeout_s, headers=dict(self.headers)
        )
        if not 200 <= response.status_code < 300:
            raise NotificationFailed(f"webhook {self.name}: HTTP {response.status_code}")


@dataclasses.dataclass
class EmailNotifier:
    """One plain-text email per group over SMTP (STARTTLS and login when configured)."""

    name: str
    host: str
    sender: str
    to: tuple[str, ...]
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    timeout_s: float = 10.0

    def send(self, status: str, alerts: Sequence[Alert], group: str) -> None:
        message = EmailMessage()
        word = "FIRING" if status == "firing" else "RESOLVED"
        message["Subject"] = f"[{word}:{len(alerts)}] {group}"
        message["From"], message["To"] = self.sender, ", ".join(self.to)
        lines = []
        for alert in alerts:
            labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))
            lines += [
                f"{word}: {alert.summary}",
                f"  labels: {labels}",
                f"  since: {_iso(alert.fired_at or alert.active_since)}",
            ]
            if status == "resolved":
                lines.append(f"  resolved: {_iso(alert.resolved_at)}")
            lines.append(f"  fingerprint: {alert.key}")
        message.set_content("\n".join(lines) + "\n")
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


@dataclasses.dataclass
class LogNotifier:
    """A warning line per alert in the collector's log."""

    name: str

    def send(self, status: str, alerts: Sequence[Alert], group: str) -> None:
        for alert in alerts:
            log.warning("alert %s [%s]: %s", status.upper(), group, alert.summary)


def build_notifier(receiver: Receiver, secrets: Mapping[str, str] | None = None) -> Notifier:
    """The notifier a rules file's receiver describes.

    An email password is never in the rules file: ``password_env`` names an entry of
    ``secrets`` (the environment).
    """
    if receiver.kind == "webhook":
        return WebhookNotifier(
            receiver.name, str(receiver.option("url")), float(receiver.option("timeout_s", 5.0))
        )
    if receiver.kind == "email":
        to = receiver.option("to")
        env = receiver.option("password_env")
        return EmailNotifier(
            receiver.name,
            str(receiver.option("host")),
            str(receiver.option("from")),
            tuple(to) if isinstance(to, list) else (str(to),),
            port=int(receiver.option("port", 25)),
            starttls=bool(receiver.option("starttls")),
            username=receiver.option("username"),
            password=(secrets or {}).get(env) if env else None,
        )
    return LogNotifier(receiver.name)


def send_with_retries(
    notifier: Notifier,
    status: str,
    alerts: Sequence[Alert],
    group: str,
    backoff: Backoff,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[int, str | None]:
    """Send, retrying with ``backoff``; returns (attempts made, last error or None)."""
    delays = [*backoff.delays(), None]
    for attempt, delay in enumerate(delays, start=1):
        try:
            notifier.send(status, alerts, group)
            return attempt, None
        except Exception as exc:  # any failure of a receiver is retried, then reported
            error = f"{type(exc).__name__}: {exc}"
            log.warning("notifying %s failed (attempt %d): %s", notifier.name, attempt, error)
            if delay is None:
                return attempt, error
            sleep(delay)
    raise AssertionError("unreachable")


class Dispatcher:
    """The evaluator's ``notify``: groups deliveries per receiver, rule and status, sends them.

    Returns the deliveries a receiver accepted; every attempt is recorded in ``store``.
    """

    def __init__(
        self,
        notifiers: Mapping[str, Notifier],
        store: AlertStore | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.notifiers, self.store = dict(notifiers), store
        self.backoff = backoff or Backoff()

    @classmethod
    def for_rules(
        cls,
        rules: RuleSet,
        store: AlertStore | None = None,
        secrets: Mapping[str, str] | None = None,
        backoff: Backoff | None = None,
    ) -> Dispatcher:
        return cls({r.name: build_notifier(r, secrets) for r in rules.receivers}, store, backoff)

    def __call__(self, batch: Sequence[Delivery], now: datetime) -> list[Delivery]:
        groups: dict[tuple[str, str, str], list[Delivery]] = {}
        for delivery in batch:
            key = (delivery.receiver, delivery.alert.rule, delivery.status)
            groups.setdefault(key, []).append(delivery)
        accepted: list[Delivery] = []
        records = []
        for (receiver, rule, status), group in groups.items():
            notifier = self.notifiers.get(receiver)
            if notifier is None:
                continue
            alerts = [d.alert for d in group]
            attempts, error = send_with_retries(notifier, status, alerts, rule, self.backoff)
            if error is None:
                accepted.extend(group)
            records += [
                (now, receiver, a.key, rule, status, error is None, attempts, error) for a in alerts
            ]
        if self.store is not None and records:
            self.store.record_deliveries(records)
        return accepted
