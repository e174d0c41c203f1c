"""``baton mine FIGURE``: any registered figure, from a DuckDB file or a running collector.

Usage::

    baton mine --list
    baton mine queue_wait --db baton.duckdb --workflow referral --since 2026-03-02
    baton mine throughput --collector http://127.0.0.1:4318 --param every=1h --json

Filter options are generated from the fields of :class:`mining.filters.Filters`, so a new
filter appears here without a change; figure parameters are ``--param name=value``.
``--db`` opens the file read-only; a file a running collector holds is reported in one line
naming that collector's URL. ``--collector`` asks the collector's query API
(``GET /api/v1/figures/{name}``) with a bearer token from ``--token``, ``BATON_TOKEN`` or
``[mine] token`` in ``baton.toml`` (``BATON_MINE_TOKEN``).

Output is a table, ``--json`` (records, times ISO-8601 UTC) or ``--csv``. This path never
imports pm4py, whose licence banner would otherwise land in the output.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import click
import polars as pl
import typer
from typer.core import TyperGroup

from baton.errors import BatonError
from baton.settings import load
from mining.cli_discover import discover_command
from mining.filters import ATTRIBUTE_PREFIX

#: Rows a table shows before pointing at ``--json``/``--csv`` for the rest.
TABLE_ROWS: Final = 1000
#: Seconds to wait for a collector's answer.
REQUEST_TIMEOUT_S: Final = 120.0
#: Options of the command itself; a filter with one of these names gets a ``--filter-`` prefix.
_OWN_OPTIONS: Final = frozenset({"db", "collector", "token", "attr", "param", "as_json", "as_csv"})


@dataclasses.dataclass(frozen=True)
class MineSettings:
    """Where ``baton mine`` reads from when no flag says so (``[mine]``, ``BATON_MINE_*``)."""

    collector: str | None = None
    token: str | None = None


class SourceError(BatonError):
    """The figure's source (a file or a collector) cannot be read."""


def _filter_fields() -> list[dataclasses.Field[Any]]:
    from mining.filters import Filters

    return list(dataclasses.fields(Filters))


def _option_name(field: str) -> str:
    return f"filter_{field}" if field in _OWN_OPTIONS else field


def _pairs(flag: str, pairs: list[str] | None) -> dict[str, str]:
    from mining.errors import InvalidFilter

    values: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidFilter(f"{flag} {pair!r}: expected name=value")
        values[name.strip()] = value
    return values


def figure_docs() -> dict[str, str]:
    """Each registered figure's name and the first line of its docstring."""
    from mining.registry import FIGURES

    return {
        name: (inspect.getdoc(func) or "").split("\n\n")[0].replace("\n", " ").replace("``", "")
        for name, func in sorted(FIGURES.items())
    }


def compute_from_file(db: Path, name: str, values: Mapping[str, str]) -> pl.DataFrame:
    """Figure ``name`` from a DuckDB file opened read-only."""
    from collector.errors import DatabaseLocked
    from collector.store import open_readonly
    from mining.registry import compute

    try:
        con = open_readonly(db)
    except DatabaseLocked as exc:
        url = exc.url or "URL"
        raise SourceError(
            f"{db} is held by a running collector; use --collector {url}"
            + ("" if exc.url else " (the collector's address), or stop that process first")
        ) from None
    try:
        return compute(name, con, values)
    finally:
        con.close()


def compute_from_collector(
    url: str, name: str, values: Mapping[str, str], token: str | None
) -> pl.DataFrame:
    """Figure ``name`` from a collector's query API (see :func:`mining.remote.fetch_figure`)."""
    from mining.errors import InvalidFilter, MiningError, UnknownFigure
    from mining.remote import fetch_figure

    try:
        return fetch_figure(url, name, values, token, REQUEST_TIMEOUT_S)
    except (UnknownFigure, InvalidFilter):
        raise
    except MiningError as exc:
        raise SourceError(str(exc)) from None


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        moment = value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
        return moment.isoformat() + "Z"
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        if value and all(isinstance(v, dict) and set(v) == {"key", "value"} for v in value):
            return {str(v["key"]): _json_value(v["value"]) for v in value}  # a MAP
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return value


def to_json(frame: pl.DataFrame) -> str:
    """Rows as a JSON array of records; times ISO-8601 UTC (``Z``), NaN as null."""
    rows = [{k: _json_value(v) for k, v in row.items()} for row in frame.to_dicts()]
    return json.dumps(rows, ensure_ascii=False)


def to_csv(frame: pl.DataFrame) -> str:
    """Rows as CSV with a header; times ISO-8601 UTC, nested values as JSON."""
    columns = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is not None:
                column = column.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            column = column.dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        elif isinstance(dtype, pl.Decimal):
            column = column.cast(pl.Float64)
        elif dtype.is_nested():
            column = column.map_elements(
                lambda v: json.dumps(_json_value(v.to_list() if hasattr(v, "to_list") else v)),
                return_dtype=pl.String,
            )
        columns.append(column.alias(name))
    buffer = io.StringIO()
    frame.select(columns).write_csv(buffer)
    return buffer.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        text = f"{value:,.3f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    return str(_json_value(value))


def print_table(frame: pl.DataFrame, title: str) -> None:
    """``frame`` as a rich table on stdout, at most :data:`TABLE_ROWS` rows."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{title} ({frame.height} rows)", title_justify="left")
    for name, dtype in frame.schema.items():
        table.add_column(name, justify="right" if dtype.is_numeric() else "left", overflow="fold")
    for row in frame.head(TABLE_ROWS).iter_rows():
        table.add_row(*(_cell(v) for v in row))
    console = Console(soft_wrap=False)
    if not console.is_terminal:  # a pipe or a file: full width, nothing folded
        console = Console(soft_wrap=False, width=10_000)
    console.print(table)
    if frame.height > TABLE_ROWS:
        console.print(f"... {frame.height - TABLE_ROWS} more rows: use --json or --csv")


def _run(name: str, **options: Any) -> None:
    if options["as_json"] and options["as_csv"]:
        raise typer.BadParameter("give --json or --csv, not both")
    db, url = options["db"], options["collector"]
    if db is not None and url:
        raise typer.BadParameter("give --db or --collector, not both")
    from mining.errors import UnknownFigure
    from mining.registry import FIGURES

    values = {
        f.name: options[_option_name(f.name)]
        for f in _filter_fields()
        if options.get(_option_name(f.name)) not in (None, "")
    }
    values.update(
        {f"{ATTRIBUTE_PREFIX}{k}": v for k, v in _pairs("--attr", options["attr"]).items()}
    )
    values.update(_pairs("--param", options["param"]))
    if db is not None:
        if name not in FIGURES:
            known = ", ".join(sorted(FIGURES))
            raise UnknownFigure(f"no figure named {name!r}; known: {known}")
        frame = compute_from_file(db, name, values)
    else:
        settings = load(MineSettings, "mine", {"collector": url, "token": options["token"]})
        if not settings.collector:
            raise typer.BadParameter("give --db PATH or --collector URL")
        frame = compute_from_collector(settings.collector, name, values, settings.token)
    if options["as_json"]:
        typer.echo(to_json(frame))
    elif options["as_csv"]:
        typer.echo(to_csv(frame), nl=False)
    else:
        print_table(frame, name)


def _parameters() -> list[inspect.Parameter]:
    def option(name: str, default: Any, kind: Any) -> inspect.Parameter:
        return inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind
        )

    params = [
        option(
            "db",
            typer.Option(None, "--db", help="DuckDB file to read (opened read-only)."),
            Path | None,
        ),
        option(
            "collector",
            typer.Option(None, "--collector", help="Collector URL to ask instead of a file."),
            str | None,
        ),
        option(
            "token",
            typer.Option(
                None,
                "--token",
                envvar="BATON_TOKEN",
                show_envvar=True,
                help="Query-API token for --collector (prefer the environment: "
                "flags show in the process list).",
            ),
            str | None,
        ),
    ]
    for field in _filter_fields():
        if field.name == "attributes":
            continue  # --attr key=value below
        flag = "--" + _option_name(field.name).replace("_", "-")
        params.append(
            option(
                _option_name(field.name),
                typer.Option(None, flag, help=_FILTER_HELP.get(field.name, _filter_help(field))),
                str | None,
            )
        )
    params += [
        option(
            "attr",
            typer.Option(None, "--attr", help="Attribute filter key=value (repeatable)."),
            list[str] | None,
        ),
        option(
            "param",
            typer.Option(None, "--param", help="Figure parameter name=value (repeatable)."),
            list[str] | None,
        ),
        option("as_json", typer.Option(False, "--json", help="Print JSON records."), bool),
        option("as_csv", typer.Option(False, "--csv", help="Print CSV."), bool),
    ]
    return params


_FILTER_HELP: Final = {
    "since": "Events at or after this ISO-8601 time (UTC).",
    "until": "Events before this ISO-8601 time (UTC).",
}


def _filter_help(field: dataclasses.Field[Any]) -> str:
    return f"Filter: {field.name.replace('_', ' ')}."


def figure_command(name: str) -> click.Command:
    """The ``baton mine NAME`` command: the same options for every figure.

    A name no figure has still gets a command, which fails with :class:`UnknownFigure`
    (``error: no figure named ...``, exit 1) rather than a usage error.
    """

    def command(**options: Any) -> None:
        _run(name, **options)

    command.__signature__ = inspect.Signature(_parameters())  # type: ignore[attr-defined]
    command.__doc__ = figure_docs().get(name) or f"Figure {name!r}."
    single = typer.Typer(add_completion=False)
    single.command(name)(command)
    click_command = typer.main.get_command(single)
    click_command.name = name
    return click_command


class _MineGroup(TyperGroup):
    """Sub-commands: ``list``, ``discover`` and one command per registered figure."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *figure_docs()]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or figure_command(cmd_name)


app = typer.Typer(
    name="mine",
    cls=_MineGroup,
    help="Compute a mining figure from --db PATH or --collector URL: a table, --json or --csv.",
    no_args_is_help=True,
    invoke_without_command=True,
)


@app.callback()
def _group(
    ctx: typer.Context,
    list_figures: bool = typer.Option(False, "--list", help="List the figures and exit."),
) -> None:
    """Compute a mining figure from --db PATH or --collector URL: a table, --json or --csv.

    Each figure is a command (baton mine FIGURE --help); filters are options, figure
    parameters --param name=value.
    """
    if list_figures:
        list_command()
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


@app.command("list")
def list_command() -> None:
    """List the figures, each with one line of what it shows."""
    for name, doc in figure_docs().items():
        typer.echo(f"{name:<22} {doc}")


app.command("discover")(discover_command)
