"""A real S3 API for the lake tests: moto's server on 127.0.0.1, and a careless store.

``CarelessStore`` is a small HTTP proxy in front of moto that drops the
``If-None-Match`` header, as a store that ignores conditional PUT would: a
Delta commit can then overwrite another, which the lake must detect and refuse.
"""

from __future__ import annotations

import http.client
import subprocess
import sys
import textwrap
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import boto3

REGION = "us-east-1"
# Not secrets: moto accepts any keys. Chosen to be easy to spot if a repr ever leaked them.
ACCESS_KEY = "AKIATESTLAKEKEY0001"
SECRET_KEY = "tradelib-test-secret-Xq9vB2"
_DROPPED = {"if-none-match", "if-match"}
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection"}


@dataclass(frozen=True)
class S3Endpoint:
    """An S3 API endpoint and the environment a process needs to reach it."""

    url: str

    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ALLOW_HTTP": "true",
        }

    def create_bucket(self, name: str) -> str:
        client = boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )
        client.create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        client = boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]


# The server runs in its own process: some deltalake calls hold the GIL while they wait
# on the network, so a server thread in the test process would never answer them.
_SERVER_SCRIPT = textwrap.dedent(
    """
    import logging, sys
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"http://{host}:{port}", flush=True)
    sys.stdin.read()  # until the test closes our stdin
    server.stop()
    """
)


class MotoServer:
    """moto's ``ThreadedMotoServer`` on 127.0.0.1 and an OS-chosen port, in a child process."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER_SCRIPT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"moto server did not start (said {line!r})")
        self.endpoint = S3Endpoint(line)

    def stop(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def _careless_proxy(upstream: str) -> ThreadingHTTPServer:
    target = urlsplit(upstream)
    assert target.hostname is not None and target.port is not None
    host, port = target.hostname, target.port

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers: Mapping[str, Any] = {
                k: v for k, v in self.headers.items() if k.lower() not in _DROPPED | _HOP_BY_HOP
            }
            conn = http.client.HTTPConnection(host, port, timeout=30)
            try:
                conn.request(self.command, self.path, body=body, headers=dict(headers))
                reply = conn.getresponse()
                data = reply.read()
            finally:
                conn.close()
            self.send_response(reply.status, reply.reason)
            for k, v in reply.getheaders():
                if k.lower() not in _HOP_BY_HOP | {"content-length"}:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


class CarelessStore:
    """A proxy to ``upstream`` that drops conditional headers, in a child process."""

    def __init__(self, upstream: str) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, __file__, upstream],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        self.endpoint = S3Endpoint(self._proc.stdout.readline().strip())

    def stop(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def _serve_careless(upstream: str) -> None:
    server = _careless_proxy(upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    _serve_careless(sys.argv[1])
