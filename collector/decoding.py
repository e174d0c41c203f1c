"""Decoding request bodies off the event loop: in worker processes, or in threads.

Decoding (protobuf to Arrow) is the costly, GIL-bound stage of ingest, so with
``decode_workers > 0`` it runs in that many worker processes and the server process keeps
its core for HTTP and the writer (whose DuckDB work releases the GIL). With 0 it runs in the
server's thread pool: fewer moving parts, for tests and one-core machines.

Workers are started with ``spawn``: the server process runs threads (the writer, DuckDB's),
and forking a threaded process can copy a held lock into the child.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from starlette.concurrency import run_in_threadpool

from collector.errors import Overloaded
from collector.otlp import Decoded, DecodeOptions, Signal, decode

log = logging.getLogger(__name__)


def exit_with_parent(parent: int) -> None:
    """In a decode worker: leave when the collector is gone, even if it was SIGKILLed.

    A pool worker otherwise waits on its call queue forever, and every killed collector
    would leave its workers behind.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="baton-parent-watch", daemon=True).start()


class Decoder:
    """Runs :func:`collector.otlp.decode` with fixed options, where the settings say."""

    def __init__(self, workers: int, options: DecodeOptions) -> None:
        self._workers = workers
        self._options = options
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the worker processes now, so the first requests do not wait for them."""
        if self._workers and self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                self._workers,
                mp_context=context,
                initializer=exit_with_parent,
                initargs=(os.getpid(),),
            )
            warmups = [
                self._pool.submit(decode, Signal.TRACES, b"", False, self._options)
                for _ in range(self._workers)
            ]
            for warmup in warmups:
                warmup.result()

    async def decode(self, signal: Signal, body: bytes, is_json: bool) -> Decoded:
        """``body`` decoded; :class:`InvalidPayload` when it is not a request of ``signal``.

        A worker that died (killed, out of memory) breaks the pool: it is replaced and the
        request answered 503, so the sender retries it.
        """
        if not self._workers:
            return await run_in_threadpool(decode, signal, body, is_json, self._options)
        if self._pool is None:
            await run_in_threadpool(self.start)  # after a broken pool: not on the event loop
        assert self._pool is not None
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._pool, decode, signal, body, is_json, self._options
            )
        except BrokenProcessPool:
            log.warning("a decode worker died; starting new workers")
            self.close()
            raise Overloaded("a decode worker died; retry") from None

    def close(self) -> None:
        """Stop the workers (pending decodes are cancelled)."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.shutdown(wait=False, cancel_futures=True)
