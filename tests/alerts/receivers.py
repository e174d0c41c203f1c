"""Real local receivers for notification tests: an HTTP webhook and an SMTP server.

Both record what arrives with the wall time it arrived, so tests can count notifications
and measure how long after a threshold crossing they came.
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from tests.conftest import free_port


class WebhookReceiver:
    """``POST /hook`` answers 200 (or ``fail_first`` times 500 first) and keeps the JSON."""

    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[tuple[float, dict[str, Any]]] = []
        self.attempts: list[float] = []
        self.fail_first = fail_first
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.attempts.append(time.monotonic())
                    failing = len(receiver.attempts) <= receiver.fail_first
                    if not failing:
                        receiver.received.append((time.monotonic(), json.loads(body)))
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def statuses(self) -> list[str]:
        with self._lock:
            return [body["status"] for _, body in self.received]

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler:
    def __init__(self, box: SmtpReceiver) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.box._lock:
            self.box.received.append((time.monotonic(), message))
        return "250 OK"


class SmtpReceiver:
    """A real SMTP server (aiosmtpd) on a free local port, keeping every message."""

    def __init__(self) -> None:
        self.received: list[tuple[float, email.message.EmailMessage]] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def subjects(self) -> list[str]:
        with self._lock:
            return [str(m["Subject"]) for _, m in self.received]

    def __enter__(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
