"""An IBBroker talking to an in-process simulated gateway: the whole IB path, no account.

The demo (``tradelib demo --broker ib``) and the tests use it to run the real
ib_async client end to end. The gateway's market runs at ``base_speed``
between calls, so prices barely move between a snapshot and an order, and
much faster inside ``wait()``, so waiting hours of market time takes a fraction
of a second.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tradelib.broker.connection import IBConnectionManager
from tradelib.broker.ib import IBBroker
from tradelib.broker.sim import SimBroker
from tradelib.domain import TradingMode
from tradelib.gateway.server import SimGateway
from tradelib.gateway.thread import GatewayThread

BASE_SPEED = 20.0  # market seconds per real second outside wait()
WAIT_REAL_S = 0.25  # about how long any wait() takes in real time
TICK_S = 0.05  # the gateway's market-clock step, real seconds
CATCH_UP_S = 10.0  # how long wait() waits for a lagging gateway clock, real seconds


class FastForwardIBBroker(IBBroker):
    """IBBroker whose in-process gateway runs fast only inside ``wait()``."""

    def __init__(
        self,
        *args: Any,
        gateway: GatewayThread,
        base_speed: float = BASE_SPEED,
        wait_real_s: float = WAIT_REAL_S,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.gateway = gateway
        self._base_speed = base_speed
        self._wait_real_s = wait_real_s

    def connect(self) -> None:
        """Connect, and tell the clock the gateway's pace (it is ours to set)."""
        super().connect()
        self.declare_clock_rate(self._base_speed)

    def _set_speed(self, speed: float) -> None:
        """Change the gateway's pace and re-anchor the clock on it (one time request)."""
        gw = self.gateway.gateway
        self.gateway.call(lambda: setattr(gw, "speed", speed))
        if self.is_connected:
            self.resync_clock(speed)

    def wait(self, seconds: float) -> None:
        """Let ``seconds`` of market time pass in about ``wait_real_s`` real seconds.

        The local estimate can run ahead of a gateway starved of CPU, so the wait
        ends only once the gateway's own clock has reached the target.
        """
        target = self.now().timestamp() + seconds
        self._set_speed(max(self._base_speed, seconds / self._wait_real_s))
        try:
            super().wait(seconds)
            deadline = time.monotonic() + CATCH_UP_S
            while self._server_seconds() < math.floor(target) and time.monotonic() < deadline:
                self._ib.sleep(0.01)
        finally:
            self._set_speed(self._base_speed)

    def _server_seconds(self) -> float:
        """The gateway's own time (whole seconds), asked now."""
        self.resync_clock()
        answer = self._last_answer
        return answer[0] if answer is not None else math.inf


def start_gateway(sim: SimBroker, **gateway_kwargs: Any) -> GatewayThread:
    """Serve ``sim`` on a free 127.0.0.1 port from a background thread."""
    options: dict[str, Any] = {"port": 0, "speed": BASE_SPEED, "tick_interval": TICK_S}
    thread = GatewayThread(SimGateway(sim, **(options | gateway_kwargs)))
    thread.start()
    return thread


def connect_ib(
    thread: GatewayThread,
    *,
    mode: TradingMode = TradingMode.PAPER,
    line_budget: int = 100,
    client_ids: tuple[int, ...] = (1, 11, 12),
    **connection_kwargs: Any,
) -> FastForwardIBBroker:
    """An unconnected IBBroker for ``thread``'s gateway (no request pacing: it has none)."""
    options: dict[str, Any] = {"connect_timeout_s": 5.0, "retry_backoff_s": 0.1}
    connection = IBConnectionManager(
        "127.0.0.1", thread.port, client_ids, max_requests_per_s=0, **(options | connection_kwargs)
    )
    return FastForwardIBBroker(connection, gateway=thread, mode=mode, line_budget=line_budget)


@contextmanager
def embedded_ib_broker(
    sim: SimBroker, *, line_budget: int = 100, mode: TradingMode = TradingMode.PAPER
) -> Iterator[FastForwardIBBroker]:
    """Yield a connected IBBroker over a gateway serving ``sim``; stop both on exit."""
    thread = start_gateway(sim)
    try:
        broker = connect_ib(thread, mode=mode, line_budget=line_budget)
        broker.connect()
        try:
            yield broker
        finally:
            broker.disconnect()
    finally:
        thread.stop()
