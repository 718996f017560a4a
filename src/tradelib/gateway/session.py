"""One connected API client: its id, subscriptions and its outgoing stream (with optional delay).

Output normally goes straight onto the socket. When the fault injector sets
a reply delay, messages wait in a per-session outbox drained by one task, so
they still leave in the order they were produced; a graceful close waits
behind them, an abort (a dropped connection) discards them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tradelib.domain import Contract
from tradelib.gateway import parsing as p
from tradelib.gateway.marketdata import LineState


@dataclass(slots=True)
class Line:
    """One streaming market-data line."""

    req_id: int
    contract: Contract
    open_interest: bool
    delayed: bool = False  # carries delayed tick types (no market-data subscription)
    state: LineState = field(default_factory=LineState)


def _no_delay() -> float:
    return 0.0


class ClientSession:
    """One connected API client: its id, subscriptions and outgoing stream."""

    def __init__(
        self,
        writer: asyncio.StreamWriter,
        delay: Callable[[], float] = _no_delay,
        on_error: Callable[[int], None] | None = None,
    ) -> None:
        self.writer = writer
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.client_id: int | None = None
        self.closing = False  # no more input is read and no more output accepted
        self.lines: dict[int, Line] = {}  # req id -> streaming line
        self.positions_sub = False
        self.account_sub = False
        self.market_data_type = p.MarketDataType.REALTIME
        self._delay = delay
        self._on_error = on_error
        self._outbox: deque[tuple[float, bytes | None]] = deque()  # (due loop time, data | close)
        self._flusher: asyncio.Task[None] | None = None

    def send(self, *messages: Sequence[p.Field]) -> None:
        """Queue ``messages`` on the socket (dropped silently once the client is gone)."""
        if self.closing or self.writer.is_closing():
            return
        if self._on_error is not None:
            for m in messages:
                if m and m[0] == p.Out.ERR_MSG:
                    self._on_error(int(m[3] or 0))
        self._enqueue(b"".join(p.frame(m) for m in messages))

    def close(self) -> None:
        """Stop reading and close the socket once the output queued so far has left."""
        if self.closing:
            return
        self._enqueue(None)
        self.closing = True

    def abort(self) -> None:
        """Drop the connection now, discarding anything still queued."""
        self.closing = True
        self._outbox.clear()
        if self._flusher is not None:
            self._flusher.cancel()
        self.writer.transport.abort()

    def shutdown(self) -> None:
        """Gateway stop: cancel the outbox and close the socket."""
        self.closing = True
        self._outbox.clear()
        if self._flusher is not None:
            self._flusher.cancel()
        self.writer.close()

    def _enqueue(self, item: bytes | None) -> None:
        delay = self._delay()
        if delay <= 0 and not self._outbox:
            self._write(item)
            return
        loop = asyncio.get_running_loop()
        self._outbox.append((loop.time() + max(delay, 0.0), item))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush(), name=f"gateway-outbox-{self.peer}")

    def _write(self, item: bytes | None) -> None:
        if self.writer.is_closing():
            return
        if item is None:
            self.writer.close()
        else:
            self.writer.write(item)

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ConnectionError):
            while self._outbox:
                due, item = self._outbox[0]
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue  # the outbox may have been cleared meanwhile
                self._outbox.popleft()
                self._write(item)
