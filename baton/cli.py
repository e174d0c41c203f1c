"""The root ``baton`` command: assembles each package's commands and reports errors as one line.

Each layer keeps its own ``cli.py`` with light imports; this module only wires them, so no
layer imports another through the CLI.
"""

from __future__ import annotations

import logging
import sys

import typer

from alerts.cli import app as alerts_app
from baton import __version__
from baton.demo import demo
from baton.errors import BatonError
from collector.audit_cli import app as audit_app
from collector.cli import app as collector_app
from collector.transfer_cli import export_command, import_command
from dashboard.cli import dashboard_command
from mining.cli import app as mine_app
from orchestrator.cli import app as orchestrator_app
from orchestrator.cli import simulate, workbench_app

app = typer.Typer(
    name="baton",
    help="Baton: every bot handoff traced, every queue measured.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(collector_app, name="collector")
app.add_typer(audit_app, name="audit")
app.add_typer(orchestrator_app, name="orchestrator")
app.add_typer(workbench_app, name="workbench")
app.add_typer(alerts_app, name="alerts")
app.command("simulate")(simulate)
app.command("import")(import_command)
app.command("export")(export_command)
app.command("dashboard")(dashboard_command)
app.add_typer(mine_app, name="mine")
app.command("demo")(demo)


@app.command("version")
def version() -> None:
    """Print Baton's version."""
    typer.echo(__version__)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: one line per error, never a traceback.

    Usage errors (a bad option or value) are Typer's to report, with its usage line and exit
    code 2; Baton's own errors become ``error: ...`` and exit 1.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app(args=argv)
    except BatonError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except FileNotFoundError as exc:
        typer.echo(f"error: no such file: {exc.filename or exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
