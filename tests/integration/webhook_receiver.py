"""A real HTTP server on loopback that records webhook deliveries.

Each path answers with the status codes queued for it (then 200), so a test can
make a receiver fail a few times and then accept.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


class WebhookReceiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self._answers: dict[str, deque[int]] = defaultdict(deque)
        self._always: dict[str, int] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                status = receiver._answer(self.path)
                with receiver._lock:
                    receiver.received.append(
                        Received(self.path, dict(self.headers.items()), body, status)
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _answer(self, path: str) -> int:
        with self._lock:
            queued = self._answers[path]
            if queued:
                return queued.popleft()
            return self._always.get(path, 200)

    def fail(self, path: str, *statuses: int) -> None:
        """Answer the next requests to `path` with these statuses, then 200."""
        with self._lock:
            self._answers[path].extend(statuses)

    def always(self, path: str, status: int) -> None:
        with self._lock:
            self._always[path] = status

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
