"""``baton collector ...``: run the receiver and query API as a long-lived service.

The root CLI mounts :data:`app`; any :class:`~baton.errors.BatonError` raised here (a held
database file, a port in use) propagates so the root prints it as one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
import uvicorn

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
) -> None:
    """Own the DuckDB file, receive OTLP/HTTP on /v1/traces and /v1/logs, serve /api/v1."""
    serve(load_settings(db=db, host=host, port=port))


def serve(settings: CollectorSettings) -> None:
    """Run until interrupted; the store is opened first so a held file fails fast."""
    store = Store.open(settings.db)
    config = uvicorn.Config(
        create_app(store, settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        lifespan="off",
    )
    try:
        _CollectorServer(config, store).run()
    except SystemExit as exc:  # uvicorn exits when it cannot bind
        raise CollectorError(
            f"could not listen on {settings.host}:{settings.port} (port in use?)"
        ) from exc
    finally:
        store.close()


class _CollectorServer(uvicorn.Server):
    """uvicorn, announcing itself once bound and closing the store once drained.

    uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, and SIGTERM's default action
    ends the process without running ``finally`` blocks, so the store is closed (and its WAL
    checkpointed) here, after the last request has been answered.
    """

    def __init__(self, config: uvicorn.Config, store: Store) -> None:
        super().__init__(config)
        self._store = store

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.started:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            typer.echo(f"collector listening on http://{host}:{port} (db: {self._store.path})")

    async def shutdown(self, sockets: Any = None) -> None:
        await super().shutdown(sockets)
        self._store.close()
