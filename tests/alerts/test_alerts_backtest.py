"""Backtests on the sample clinic: the example rules trip on the payer outage and stay quiet
on an ordinary stretch; and a backtest agrees with ``check --at`` run at the same instants."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
from typer.testing import CliRunner

from alerts.backtest import backtest, instants
from alerts.rulefile import load_rules
from alerts.sources import DuckDBSource
from baton.cli import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "alerts.yaml"


def run_backtest(db: Path, step: timedelta):  # type: ignore[no-untyped-def]
    con = duckdb.connect(str(db), read_only=True)
    try:
        first, last = con.execute("SELECT min(ts), max(ts) FROM events").fetchall()[0]
        return backtest(load_rules(EXAMPLE), DuckDBSource(con.cursor), first, last, step)
    finally:
        con.close()


def test_the_example_prior_auth_rule_trips_on_the_outage_and_not_on_a_normal_day(imported):
    outage = run_backtest(imported["outage"], timedelta(hours=1))
    normal = run_backtest(imported["normal"], timedelta(hours=1))
    fired = outage.fired("prior-auth-aging")
    assert len(fired) == 1 and fired[0].labels["queue"] == "prior_auth"
    assert fired[0].peak_value is not None and fired[0].peak_value > 3 * 3600
    # The outage starts on the second weekday at 09:00; the queue crosses 3 h that afternoon.
    assert datetime(2026, 3, 3, 12) < fired[0].fired_at < datetime(2026, 3, 3, 18)
    assert normal.fired("prior-auth-aging") == []
    assert [e.rule for e in normal.episodes if e.fired_at] == []  # the whole set stays quiet


def test_backtest_and_check_at_the_same_instants_agree(copy_of: Callable[[str], Path]):
    db = copy_of("outage")
    start, end, step = datetime(2026, 3, 3, 10), datetime(2026, 3, 3, 23), timedelta(hours=1)
    con = duckdb.connect(str(db), read_only=True)
    report = backtest(load_rules(EXAMPLE), DuckDBSource(con.cursor), start, end, step)
    con.close()
    expected = [(t.ts.isoformat(), t.rule, dict(t.labels), t.from_state.value, t.to_state.value)
                for t in report.transitions]  # fmt: skip
    assert {e[1] for e in expected} >= {"prior-auth-aging", "items-waiting-long"}
    assert any(e[4] == "resolved" for e in expected)

    runner = CliRunner()
    seen = []
    for moment in instants(start, end, step):
        result = runner.invoke(app, ["alerts", "check", "--rules", str(EXAMPLE), "--db",
                                     str(db), "--at", moment.isoformat(), "--json"])  # fmt: skip
        assert result.exit_code == 0, result.output
        tick = json.loads(result.stdout)
        seen += [(tick["now"], t["rule"], t["labels"], t["from"], t["to"])
                 for t in tick["transitions"]]  # fmt: skip
    assert seen == expected
