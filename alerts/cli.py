"""``baton alerts check`` and ``baton alerts backtest``.

``check`` runs one evaluation, now (or ``--at`` an instant). Over ``--db`` it is one tick of
the collector's evaluator on that file: state is read from and written to the file's alert
tables, so checks at successive instants go pending -> firing -> resolved exactly as the
collector would (``--dry-run`` leaves the file untouched). Over ``--collector`` it reads
figures through the query API and starts from no state: a look, not a tick. ``--notify``
sends what the tick decides to the rules file's receivers.

``backtest`` replays the rules over past data and lists when each alert would have fired
and resolved. Errors are :class:`~baton.errors.BatonError` and reach the root CLI, which
prints one line.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import duckdb
import typer

from alerts.backtest import BacktestReport, backtest
from alerts.clock import Clock, FixedClock, make_clock
from alerts.errors import AlertsError
from alerts.evaluator import Evaluator, TickResult
from alerts.notifiers import Dispatcher
from alerts.rulefile import load_rules
from alerts.sources import CollectorSource, DuckDBSource, FigureSource, open_file
from alerts.state import AlertStore, DuckDBAlertStore, MemoryAlertStore
from baton.durations import parse_duration
from baton.settings import load

app = typer.Typer(name="alerts", help="Alert rules: check them now, or backtest them.")

RulesOption = Annotated[
    Path, typer.Option("--rules", help="Alert rules file (YAML, see docs/alerts.md).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@dataclasses.dataclass(frozen=True)
class AlertsSettings:
    """``token``: a viewer token for ``--collector`` (``BATON_ALERTS_TOKEN`` or ``[alerts]``
    in ``baton.toml``), never a flag, which other users could read in the process list."""

    token: str | None = dataclasses.field(default=None, repr=False)


@app.callback()
def _group() -> None:
    """Alert rules: check them now, or backtest them."""


def open_db(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Open a Baton DuckDB file, saying clearly when a running collector holds it."""
    con = open_file(path, read_only=read_only, when_held="use --collector URL instead")
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'events'"
    ).fetchall()
    if not found[0][0]:
        con.close()
        raise AlertsError(f"{path} has no events table; is it a Baton database?")
    return con


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise AlertsError(f"{text!r} is not an ISO-8601 time") from None
    return FixedClock(moment).now()


@app.command("check")
def check_command(
    rules: RulesOption,
    db: Annotated[
        Path | None, typer.Option("--db", help="DuckDB file (no collector running).")
    ] = None,
    collector: Annotated[str | None, typer.Option("--collector", help="Collector URL.")] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Evaluate at this instant (ISO-8601 UTC).")
    ] = None,
    clock: Annotated[
        str, typer.Option("--clock", help="Without --at: wall or simulation.")
    ] = "wall",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="With --db: do not record state.")
    ] = False,
    notify: Annotated[
        bool, typer.Option("--notify", help="Send notifications to the receivers.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Evaluate the rules once and print every alert that is not normal."""
    if (db is None) == (collector is None):
        raise AlertsError("give exactly one of --db PATH or --collector URL")
    if clock not in ("wall", "simulation"):
        raise AlertsError(f"--clock must be wall or simulation, not {clock!r}")
    ruleset = load_rules(rules)
    con = None
    source: FigureSource
    store: AlertStore
    if db is not None:
        con = open_db(db, read_only=dry_run)
        source = DuckDBSource(con.cursor)
        store = MemoryAlertStore() if dry_run else DuckDBAlertStore(con.cursor)
    else:
        token = load(AlertsSettings, "alerts").token
        source, store = CollectorSource(str(collector), token), MemoryAlertStore()
    try:
        the_clock: Clock = FixedClock(_instant(at)) if at else make_clock(clock, source)
        dispatch = Dispatcher.for_rules(ruleset, store) if notify else None
        result = Evaluator(ruleset, source, store, the_clock, dispatch).tick()
    finally:
        if con is not None:
            con.close()
    _print_check(result, as_json)


def check_json(result: TickResult) -> dict[str, Any]:
    """A tick as JSON: its instant, alerts not normal, transitions, deliveries sent."""
    return {
        "now": result.now.isoformat(),
        "alerts": [
            {
                "rule": a.rule,
                "state": a.state.value,
                "labels": a.labels,
                "value": a.value,
                "threshold": a.threshold,
                "summary": a.summary,
                "key": a.key,
            }
            for a in sorted(result.alerts.values(), key=lambda a: (a.rule, a.key))
        ],
        "transitions": [
            {
                "rule": t.rule,
                "labels": dict(t.labels),
                "from": t.from_state.value,
                "to": t.to_state.value,
            }
            for t in result.transitions
        ],
        "sent": [
            {"receiver": d.receiver, "status": d.status, "rule": d.alert.rule} for d in result.sent
        ],
    }


def _print_check(result: TickResult, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(check_json(result), indent=2))
        return
    typer.echo(f"evaluated at {result.now.isoformat()}: {len(result.samples)} samples")
    if not result.alerts:
        typer.echo("no alerts pending or firing")
    for alert in sorted(result.alerts.values(), key=lambda a: (a.state.value, a.rule)):
        typer.echo(f"{alert.state.value.upper():9} {alert.rule}: {alert.summary}")


@app.command("backtest")
def backtest_command(
    rules: RulesOption,
    db: Annotated[Path, typer.Option("--db", help="DuckDB file with past events.")],
    since: Annotated[
        str, typer.Option("--since", help="How far back (30d) or an ISO instant.")
    ] = "30d",
    until: Annotated[
        str | None, typer.Option("--until", help="End (default: the newest event).")
    ] = None,
    step: Annotated[
        str | None,
        typer.Option(
            "--step", help="Time between evaluations (default: the file's evaluation_interval)."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List when each rule would have fired and resolved on past data."""
    ruleset = load_rules(rules)
    con = open_db(db, read_only=True)
    try:
        first, last = con.execute("SELECT min(ts), max(ts) FROM events").fetchall()[0]
        if first is None:
            raise AlertsError(f"{db} holds no events to backtest on")
        end = _instant(until) if until else last
        try:
            start = max(first, end - timedelta(seconds=parse_duration(since)))
        except ValueError:
            start = max(first, _instant(since))
        try:
            step_s = parse_duration(step) if step else ruleset.evaluation_interval_s
        except ValueError as exc:
            raise AlertsError(f"--step: {exc}") from None
        try:
            report = backtest(
                ruleset, DuckDBSource(con.cursor), start, end, timedelta(seconds=step_s)
            )
        except ValueError as exc:
            raise AlertsError(str(exc)) from None
    finally:
        con.close()
    _print_backtest(report, as_json)


def backtest_json(report: BacktestReport) -> dict[str, Any]:
    """A backtest as JSON: the range, and every episode (pending, fired, resolved)."""
    return {
        "from": report.start.isoformat(),
        "until": report.end.isoformat(),
        "step_s": report.step_s,
        "evaluations": report.evaluations,
        "episodes": [e.as_dict() for e in report.episodes],
        "transitions": [
            {
                "ts": t.ts.isoformat(),
                "rule": t.rule,
                "labels": dict(t.labels),
                "from": t.from_state.value,
                "to": t.to_state.value,
                "value": t.value,
            }
            for t in report.transitions
        ],
    }


def _print_backtest(report: BacktestReport, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(backtest_json(report), indent=2))
        return
    typer.echo(
        f"{report.evaluations} evaluations from {report.start:%Y-%m-%d %H:%M} to "
        f"{report.end:%Y-%m-%d %H:%M}, every {report.step_s:g} s"
    )
    fired = [e for e in report.episodes if e.fired_at is not None]
    if not fired:
        typer.echo("no rule would have fired")
    for e in fired:
        until = f"resolved {e.resolved_at:%Y-%m-%d %H:%M}" if e.resolved_at else "still firing"
        labels = ", ".join(
            f"{k}={v}" for k, v in sorted(e.labels.items()) if k not in ("alertname", "severity")
        )
        typer.echo(f"{e.rule} [{labels}]: fired {e.fired_at:%Y-%m-%d %H:%M}, {until}")
