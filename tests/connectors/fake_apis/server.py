"""A real `ThreadingHTTPServer` on 127.0.0.1 (random free port) with injectable faults.

Faults are consumed one per request, in order: `ok` (no fault), `429` (with Retry-After), `5xx`, a `malformed`
(truncated JSON) body, or `drop` (the connection closes without an answer).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


class FakeApi:
    """Base of the fake vendors: routing, auth, faults, a request log."""

    def __init__(self, *, delay: float = 0.0) -> None:
        self.lock = threading.RLock()
        self.faults: deque[str] = deque()
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self.served_pages = 0
        self.delay = delay
        self._server: ThreadingHTTPServer | None = None

    # ---- lifecycle
    def start(self) -> "FakeApi":
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                api._serve(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                api._serve(self, "POST")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def inject(self, *faults: str) -> None:
        with self.lock:
            self.faults.extend(faults)

    # ---- to implement
    def authorized(self, header: str) -> bool:
        raise NotImplementedError

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Reply:
        raise NotImplementedError

    # ---- plumbing
    def _serve(self, h: BaseHTTPRequestHandler, method: str) -> None:
        u = urlsplit(h.path)
        query = parse_qs(u.query)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        with self.lock:
            self.requests.append((method, u.path, query))
            fault = self.faults.popleft() if self.faults else None
            fault = None if fault == "ok" else fault
        if not self.authorized(h.headers.get("Authorization", "")):
            return self._send(h, Reply(401, {"error": "Couldn't authenticate you"}, {}))
        if fault == "drop":
            h.close_connection = True
            h.wfile.flush()
            h.connection.shutdown(2)
            return None
        if fault == "429":
            return self._send(h, Reply(429, {"error": "Too many requests"}, {"Retry-After": "1"}))
        if fault and fault.isdigit():
            return self._send(h, Reply(int(fault), {"error": "Service unavailable"}, {}))
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            reply = self.route(method, u.path, query, json.loads(raw) if raw else None)
            if reply.status == 200:
                self.served_pages += 1
        if fault == "malformed":
            text = json.dumps(reply.body)
            return self._send(h, Reply(200, text[: len(text) // 2].encode(), reply.headers))
        return self._send(h, reply)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, reply: Reply) -> None:
        body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        h.send_response(reply.status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(body)))
        for k, v in reply.headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
