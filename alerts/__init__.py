"""Alerts on queues and bots: YAML rules, an evaluator in the collector, notifiers, backtests.

Rules read :mod:`mining` figures as of an instant; the evaluator moves each alert through
:class:`AlertState` and keeps its state in the collector's DuckDB file so a restart never
pages twice; notifiers send Alertmanager-compatible webhooks, email and log lines with
labels and counts only. See ``docs/alerts.md``.
"""

from alerts.backtest import BacktestReport, backtest
from alerts.clock import FixedClock, PublishedClock, WallClock
from alerts.errors import AlertsError, ClockUnavailable, NotificationFailed, RuleFileError
from alerts.evaluator import Evaluator
from alerts.model import Alert, AlertState, Silence
from alerts.rulefile import load_rules, parse_rules
from alerts.rules import Rule, RuleKind, RuleSet

__all__ = [
    "Alert",
    "AlertState",
    "AlertsError",
    "BacktestReport",
    "ClockUnavailable",
    "Evaluator",
    "FixedClock",
    "NotificationFailed",
    "PublishedClock",
    "Rule",
    "RuleFileError",
    "RuleKind",
    "RuleSet",
    "Silence",
    "WallClock",
    "backtest",
    "load_rules",
    "parse_rules",
]
