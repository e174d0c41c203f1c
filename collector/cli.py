"""``baton collector ...``: run the receiver and query API as a long-lived service.

The root CLI mounts :data:`app`; any :class:`~baton.errors.BatonError` raised here (a held
database file, a port in use) propagates so the root prints it as one line. Tokens are read
from the environment or ``baton.toml`` only, never from flags, which other users can see in
the process list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
import uvicorn

from collector._endpoint import remove_endpoint, write_endpoint
from collector.audit_cli import prune_command
from collector.config import CollectorSettings, load_settings
from collector.errors import CollectorError
from collector.server import create_app
from collector.store import Store

app = typer.Typer(name="collector", help="Receive OTLP telemetry into DuckDB and serve queries.")


@app.callback()
def _group() -> None:
    """Receive OTLP telemetry into DuckDB and serve queries."""
    # A callback keeps ``serve`` a sub-command even while it is the only one.


@app.command("serve")
def serve_command(
    db: Path | None = typer.Option(None, "--db", help="DuckDB file to own (created if missing)."),
    host: str | None = typer.Option(None, "--host", help="Interface to listen on."),
    port: int | None = typer.Option(None, "--port", help="Port (OTLP/HTTP default 4318)."),
    decode_workers: int | None = typer.Option(
        None, "--decode-workers", help="Processes that decode requests (0: in-process)."
    ),
    case_attribute: str | None = typer.Option(
        None, "--case-attribute", help="Span attribute naming the case of other sources' spans."
    ),
    alerts_rules: Path | None = typer.Option(
        None, "--alerts", help="Alert rules file to evaluate in this collector (docs/alerts.md)."
    ),
    alerts_interval: float | None = typer.Option(
        None, "--alerts-interval", help="Seconds between alert evaluations (default 60)."
    ),
    alerts_clock: str | None = typer.Option(
        None, "--alerts-clock", help="wall, or simulation (the simulator's published time)."
    ),
) -> None:
    """Own the DuckDB file, receive OTLP/HTTP on /v1/{traces,logs,metrics}, serve /api/v1."""
    serve(
        load_settings(
            db=db,
            host=host,
            port=port,
            decode_workers=decode_workers,
            case_attribute=case_attribute,
            alerts_rules=alerts_rules,
            alerts_interval_s=alerts_interval,
            alerts_clock=alerts_clock,
        )
    )


app.command("prune")(prune_command)


def serve(settings: CollectorSettings) -> None:
    """Run until interrupted; the store is opened first so a held file fails fast."""
    if settings.alerts_rules is not None:  # a bad rules file fails before the store opens
        from alerts.rulefile import load_rules

        load_rules(settings.alerts_rules)
    store = Store.open(settings.db, threads=settings.store_threads())
    config = uvicorn.Config(
        create_app(store, settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        lifespan="on",
    )
    try:
        _CollectorServer(config, store).run()
    except SystemExit as exc:  # uvicorn exits when it cannot bind
        raise CollectorError(
            f"could not listen on {settings.host}:{settings.port} (port in use?)"
        ) from exc
    finally:
        remove_endpoint(store.path)
        store.close()


class _CollectorServer(uvicorn.Server):
    """uvicorn, announcing itself once bound and closing the store once drained.

    uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, and SIGTERM's default action
    ends the process without running ``finally`` blocks, so the store is closed (and its WAL
    checkpointed) here, after the last request has been answered and the app's lifespan has
    committed queued writes.
    """

    def __init__(self, config: uvicorn.Config, store: Store) -> None:
        super().__init__(config)
        self._store = store

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.started:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            url = f"http://{host}:{port}"
            write_endpoint(self._store.path, url)
            typer.echo(f"collector listening on {url} (db: {self._store.path})")

    async def shutdown(self, sockets: Any = None) -> None:
        await super().shutdown(sockets)
        remove_endpoint(self._store.path)
        self._store.close()
