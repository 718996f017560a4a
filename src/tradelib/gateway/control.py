"""A tiny line protocol on 127.0.0.1 to inject faults into a gateway running in another process.

Each request is one line: a fault spec in the ``--faults`` syntax (see
``FAULT_SPEC_HELP``; several faults may share a line, comma-separated),
``stats`` or ``help``. Each answer is one line: ``ok``, ``error: <why>``,
the stats as JSON, or the help text with its newlines escaped as ``\\n``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import socket
from collections.abc import Sequence

from tradelib.errors import GatewayFaultSpecError
from tradelib.gateway.faults import FAULT_SPEC_HELP, FaultInjector, parse_fault_spec

log = logging.getLogger("tradelib.gateway.control")

MAX_LINE = 4096


def answer(faults: FaultInjector, line: str) -> str:
    """The reply to one control line (applies the faults it names)."""
    text = line.strip()
    if text.lower() == "stats":
        return json.dumps(dataclasses.asdict(faults.stats), sort_keys=True)
    if text.lower() == "help":
        return FAULT_SPEC_HELP.replace("\n", "\\n")
    try:
        commands = parse_fault_spec(text)
        if not commands:
            return "error: empty command"
        for command in commands:
            command.apply(faults)
    except (GatewayFaultSpecError, ValueError) as exc:
        return f"error: {exc}"
    return "ok"


class FaultControlServer:
    """Serve the control line protocol for ``faults`` on ``host:port`` (0 = any free port)."""

    def __init__(self, faults: FaultInjector, host: str = "127.0.0.1", port: int = 0) -> None:
        self._faults = faults
        self._host = host
        self._requested_port = port
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self._requested_port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self._host, self._requested_port, limit=MAX_LINE
        )
        log.info("gateway fault control on %s:%d", self._host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                reply = answer(self._faults, line.decode(errors="replace"))
                log.info("control %r -> %s", line.decode(errors="replace").strip(), reply[:80])
                writer.write(reply.encode() + b"\n")
                await writer.drain()
        except (ConnectionError, ValueError, asyncio.LimitOverrunError):
            pass  # a client that hung up or sent an over-long line
        finally:
            writer.close()


def send_control(
    port: int, lines: Sequence[str], host: str = "127.0.0.1", timeout: float = 10.0
) -> list[str]:
    """Send ``lines`` to a gateway's control channel; return one reply per line."""
    replies: list[str] = []
    with socket.create_connection((host, port), timeout=timeout) as sock:
        stream = sock.makefile("rwb")
        for line in lines:
            stream.write(line.strip().encode() + b"\n")
            stream.flush()
            reply = stream.readline()
            if not reply:
                raise ConnectionError("the gateway closed the control connection")
            replies.append(reply.decode().rstrip("\n"))
    return replies
