"""Notifiers against real receivers: Alertmanager's webhook body, email over SMTP, retries
with backoff against a receiver that fails first, and nothing that names a case."""

from __future__ import annotations

from datetime import datetime

import pytest

from alerts.errors import NotificationFailed
from alerts.model import Alert, AlertState
from alerts.notifiers import (
    Backoff,
    EmailNotifier,
    WebhookNotifier,
    build_notifier,
    send_with_retries,
)
from alerts.rulefile import parse_rules

from .receivers import SmtpReceiver, WebhookReceiver


def an_alert(state: AlertState = AlertState.FIRING) -> Alert:
    return Alert(
        key="3f2a9c1b0d4e5f60",
        rule="prior-auth-aging",
        labels={"alertname": "prior-auth-aging", "queue": "prior_auth", "severity": "page"},
        state=state,
        value=11520.0,
        threshold=10800.0,
        summary="prior_auth: oldest item waiting 3h 12m",
        active_since=datetime(2026, 3, 3, 12, 0),
        fired_at=datetime(2026, 3, 3, 12, 15),
        resolved_at=datetime(2026, 3, 4, 6, 0) if state is AlertState.RESOLVED else None,
    )


def test_webhook_body_is_alertmanagers():
    with WebhookReceiver() as hook:
        WebhookNotifier("ops", hook.url).send("firing", [an_alert()], "prior-auth-aging")
    body = hook.received[0][1]
    keys = {"version", "groupKey", "status", "receiver", "groupLabels", "commonLabels",
            "commonAnnotations", "externalURL", "alerts", "truncatedAlerts"}  # fmt: skip
    assert keys <= set(body)
    assert body["status"] == "firing" and body["receiver"] == "ops"
    assert body["commonLabels"]["queue"] == "prior_auth"
    alert = body["alerts"][0]
    assert alert["startsAt"] == "2026-03-03T12:15:00Z"
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert alert["annotations"] == {"summary": "prior_auth: oldest item waiting 3h 12m",
                                    "value": "11520", "threshold": "10800"}  # fmt: skip


def test_retries_back_off_until_the_receiver_takes_it():
    backoff = Backoff(attempts=4, initial_s=0.2, factor=2.0)
    with WebhookReceiver(fail_first=2) as hook:
        notifier = WebhookNotifier("ops", hook.url)
        attempts, error = send_with_retries(notifier, "firing", [an_alert()], "g", backoff)
    assert (attempts, error) == (3, None)
    assert len(hook.attempts) == 3 and len(hook.received) == 1
    gaps = [b - a for a, b in zip(hook.attempts, hook.attempts[1:], strict=False)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4  # exponential: 0.2 s, then 0.4 s


def test_a_receiver_that_keeps_failing_is_reported_not_raised():
    with WebhookReceiver(fail_first=99) as hook:
        notifier = WebhookNotifier("ops", hook.url)
        attempts, error = send_with_retries(notifier, "firing", [an_alert()], "g",
                                            Backoff(attempts=3, initial_s=0.01))  # fmt: skip
        with pytest.raises(NotificationFailed):
            notifier.send("firing", [an_alert()], "g")
    assert attempts == 3 and len(hook.attempts) == 4
    assert error is not None and "HTTP 500" in error


def test_email_over_smtp():
    with SmtpReceiver() as smtp:
        EmailNotifier("mail", "127.0.0.1", "baton@clinic.example", ("ops@clinic.example",),
                      port=smtp.port).send("resolved", [an_alert(AlertState.RESOLVED)],
                                           "prior-auth-aging")  # fmt: skip
    message = smtp.received[0][1]
    assert message["Subject"] == "[RESOLVED:1] prior-auth-aging"
    assert message["To"] == "ops@clinic.example"
    text = message.get_content()
    assert "prior_auth: oldest item waiting 3h 12m" in text
    assert "resolved: 2026-03-04T06:00:00Z" in text


def test_receivers_from_a_rules_file_and_a_password_from_the_environment():
    rules = parse_rules("""
receivers:
  - {name: hook, webhook: {url: "http://127.0.0.1:1/hook", timeout_s: 2}}
  - {name: mail, email: {host: smtp.example, port: 587, starttls: true, from: a@b.c,
                         to: ops@b.c, username: baton, password_env: SMTP_PASSWORD}}
  - {name: log, log: {}}
rules: [{name: r, kind: queue_aging, threshold: 1h}]
""")
    hook, mail, log = (build_notifier(r, {"SMTP_PASSWORD": "s3cret"}) for r in rules.receivers)
    assert isinstance(hook, WebhookNotifier) and hook.timeout_s == 2.0
    assert isinstance(mail, EmailNotifier)
    assert (mail.port, mail.starttls, mail.to, mail.password) == (587, True, ("ops@b.c",), "s3cret")
    assert "s3cret" not in repr(mail)
    assert log.name == "log"
