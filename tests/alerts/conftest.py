"""A real local SMTP server (aiosmtpd, STARTTLS + AUTH) and a local HTTP webhook sink."""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_USER = "alerts-bot"
SMTP_PASSWORD = "s3cret-smtp-pw"


class _Controller(Controller):
    """aiosmtpd's Controller on an OS-chosen port (it pings its own port before knowing it)."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass
class Mailbox:
    """What the SMTP server received."""

    messages: list[Message] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    tls_sessions: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if session.ssl is not None:
            self.tls_sessions += 1
        self.messages.append(message_from_bytes(envelope.content, policy=default))
        return "250 OK"


@dataclass
class SmtpServer:
    host: str
    port: int
    mailbox: Mailbox
    client_tls: ssl.SSLContext


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def smtp_server(tls_files: tuple[Path, Path]) -> Iterator[SmtpServer]:
    """An SMTP server on 127.0.0.1 that requires STARTTLS and a login."""
    cert, key = tls_files
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    mailbox = Mailbox()

    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            SMTP_USER.encode(),
            SMTP_PASSWORD.encode(),
        )
        if ok:
            mailbox.logins.append(data.login.decode())
        return AuthResult(success=ok)

    controller = _Controller(
        mailbox,
        hostname="127.0.0.1",
        port=0,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
    )
    controller.start()
    try:
        yield SmtpServer(
            "127.0.0.1", controller.port, mailbox, ssl.create_default_context(cafile=cert)
        )
    finally:
        controller.stop()


@dataclass
class WebhookSink:
    url: str
    posts: list[tuple[str, dict[str, Any]]]  # (path, body)
    status: list[int]  # the status to answer with (first element)

    def bodies(self) -> list[dict[str, Any]]:
        return [b for _, b in self.posts]


@pytest.fixture
def webhook_sink() -> Iterator[WebhookSink]:
    """An HTTP server on 127.0.0.1 recording every JSON POST."""
    posts: list[tuple[str, dict[str, Any]]] = []
    status = [200]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            posts.append((self.path, json.loads(self.rfile.read(length))))
            self.send_response(status[0])
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield WebhookSink(
            f"http://127.0.0.1:{server.server_address[1]}/hook/tradelib-alerts", posts, status
        )
    finally:
        server.shutdown()
        server.server_close()
