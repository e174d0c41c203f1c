"""``baton mine discover``: mine a model with pm4py and write it as PNML and BPMN files.

:func:`discover_command` is a plain function with Typer annotations; the ``baton mine``
group registers it with ``app.command("discover")(discover_command)``. Heavy imports (pm4py,
the discovery module) happen inside the command, so loading the CLI stays cheap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import duckdb
import typer

from mining.filters import Filters
from mining.sources import open_duckdb


def open_log(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection whose ``events`` is the DuckDB file or Parquet log at ``path``."""
    if path.suffix.lower() == ".parquet":
        con = duckdb.connect(":memory:")
        literal = str(path).replace("'", "''")
        con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{literal}')")
        return con
    return open_duckdb(
        path,
        when_held="is open in another process (a running collector?); "
        "copy the file or stop that process",
    )


def discover_command(
    db: Annotated[
        Path,
        typer.Option(
            "--db",
            help="DuckDB file (or Parquet events log) to mine.",
            exists=True,
            dir_okay=False,
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the .pnml and .bpmn files.", file_okay=False)
    ] = Path("."),
    name: Annotated[str, typer.Option(help="File name of the model, without suffix.")] = (
        "discovered"
    ),
    noise: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Inductive miner noise threshold (0 keeps all)."),
    ] = 0.0,
    workflow: Annotated[str | None, typer.Option(help="Only this workflow's events.")] = None,
    since: Annotated[str | None, typer.Option(help="Events at or after this ISO time.")] = None,
    until: Annotated[str | None, typer.Option(help="Events before this ISO time.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Discover a process model (inductive miner) and write it as PNML and BPMN.

    Offline job: it reads the whole filtered log. Run it on a copy or an exported log.
    """
    from mining.discovery import discover

    filters = Filters.from_mapping(
        {k: v for k, v in (("workflow", workflow), ("since", since), ("until", until)) if v}
    )
    con = open_log(db)
    try:
        model = discover(con, out, filters, name=name, noise_threshold=noise)
    finally:
        con.close()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "pnml": str(model.pnml),
                    "bpmn": str(model.bpmn),
                    "cases": model.cases,
                    "activity_instances": model.activity_instances,
                }
            )
        )
    else:
        typer.echo(
            f"{model.cases} cases, {model.activity_instances} activity instances\n"
            f"{model.pnml}\n{model.bpmn}"
        )
