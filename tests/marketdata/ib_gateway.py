"""IBBroker over ib_async against the simulated TWS gateway, whose market moves only in ``wait``."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tradelib.broker.connection import IBConnectionManager
from tradelib.broker.ib import IBBroker
from tradelib.broker.sim import SimBroker
from tradelib.domain import TradingMode
from tradelib.gateway import GatewayThread, SimGateway
from tradelib.sim import SimMarketConfig, SimulatedMarket

from .helpers import START

TICK_S = 0.02  # the gateway's push interval, real seconds


class SteppedIBBroker(IBBroker):
    """IBBroker whose gateway market stands still except inside ``wait``.

    ``wait`` moves the gateway's market by exactly ``seconds`` and lets the pushed
    ticks arrive, so a simulated hour of cycles costs only the real requests, and
    slow requests on a busy machine never age quotes in market time.
    """

    def __init__(self, connection: IBConnectionManager, gateway: GatewayThread) -> None:
        super().__init__(connection, mode=TradingMode.PAPER, line_budget=100)
        self.gateway = gateway

    def wait(self, seconds: float) -> None:
        market = self.gateway.gateway.broker
        self.gateway.call(lambda: market.wait(seconds))
        # The server clock jumped: give IBBroker's clock the new time before any event is
        # processed (a handler finding no estimate would ask the server from inside a request).
        now = self.gateway.call(market.now)
        self._clock.reset()
        self._clock.observe(math.floor(now.timestamp()), time.monotonic())
        self._ib.sleep(3 * TICK_S)


class IbErrors(logging.Handler):
    """ERROR records logged by ib_async (its decoder logs problems instead of raising)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def ib_over_gateway(seed: int = 5) -> Iterator[tuple[SteppedIBBroker, GatewayThread, IbErrors]]:
    """A connected IBBroker on a fresh gateway over a seeded market at START."""
    errors = IbErrors()
    logger = logging.getLogger("ib_async")
    logger.addHandler(errors)
    market = SimulatedMarket(SimMarketConfig(seed=seed, start=START))
    gateway = SimGateway(
        SimBroker(market, initial_cash=1e7), port=0, speed=0.0, tick_interval=TICK_S
    )
    thread = GatewayThread(gateway)
    thread.start()
    connection = IBConnectionManager(
        "127.0.0.1",
        thread.port,
        (21,),
        connect_timeout_s=5.0,
        retry_backoff_s=0.1,
        max_requests_per_s=0,
    )
    broker = SteppedIBBroker(connection, thread)
    try:
        broker.connect()
        yield broker, thread, errors
    finally:
        broker.disconnect()
        thread.stop()
        logger.removeHandler(errors)
