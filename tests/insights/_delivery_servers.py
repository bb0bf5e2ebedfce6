"""Real servers on 127.0.0.1 for the delivery tests: an SMTP server (aiosmtpd) and a webhook receiver (http.server)."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        msg = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"


class SmtpServer:
    """An SMTP server on 127.0.0.1:`port` keeping every message it accepts (`messages`: (recipients, message))."""

    def __init__(self, port: int):
        self.port = port
        self.inbox = _Inbox()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=port)

    @property
    def messages(self) -> list[tuple[list[str], EmailMessage]]:
        return self.inbox.messages

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpt, m in self.messages if address in rcpt]

    def __enter__(self) -> "SmtpServer":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


@dataclass
class Hooks:
    """A webhook receiver: every POST's path and JSON body; answers `status` (200 unless a test says otherwise)."""

    port: int
    status: int = 200
    posts: list[tuple[str, dict]] = field(default_factory=list)

    def on(self, path: str) -> list[dict]:
        return [body for p, body in self.posts if p == path]

    def __enter__(self) -> "Hooks":
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's hook name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if hooks.status < 300:
                    hooks.posts.append((self.path, json.loads(body)))
                self.send_response(hooks.status)
                self.end_headers()
                self.wfile.write(b"ok" if hooks.status < 300 else b"server error")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
