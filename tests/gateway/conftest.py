"""Fixtures: a simulated gateway in a background thread and real ib_async clients against it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import date

import pytest
from ib_async import IB

from tradelib.gateway import GatewayThread, build_gateway

TRADING_DAY = date(2025, 6, 10)  # a Tuesday: the market starts at 09:45 New York


class IbErrorLog(logging.Handler):
    """Collects ERROR records from the ib_async loggers; a test may allow some by text."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.allowed: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def allow(self, *fragments: str) -> None:
        """Tolerate ERROR records containing any of ``fragments`` (expected IB errors)."""
        self.allowed += fragments

    def unexpected(self) -> list[str]:
        messages = [r.getMessage() for r in self.records]
        return [m for m in messages if not any(a in m for a in self.allowed)]


@pytest.fixture(autouse=True)
def ib_errors() -> Iterator[IbErrorLog]:
    """Fail the test on any ERROR logged by ib_async (its decoder logs parse errors, never raises)."""
    handler = IbErrorLog()
    logger = logging.getLogger("ib_async")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
    unexpected = handler.unexpected()
    assert not unexpected, f"ib_async logged errors: {unexpected}"


@pytest.fixture
def gateway() -> Iterator[GatewayThread]:
    """A fresh gateway (seed 7, 09:45 New York on a Tuesday, real-time pace) on a free port."""
    with GatewayThread(build_gateway(seed=7, day=TRADING_DAY, port=0)) as thread:
        yield thread


@pytest.fixture
def fast_gateway() -> Iterator[GatewayThread]:
    """Like ``gateway`` but the market runs 60x faster (streaming and resting-order tests)."""
    with GatewayThread(build_gateway(seed=7, day=TRADING_DAY, port=0, speed=60.0)) as thread:
        yield thread


ConnectFn = Callable[..., IB]


@pytest.fixture
def connect() -> Iterator[ConnectFn]:
    """Connect real ib_async clients (raiseSyncErrors) and disconnect them after the test."""
    clients: list[IB] = []

    def _connect(gw: GatewayThread, client_id: int = 1, timeout: float = 10.0) -> IB:
        ib = IB()
        clients.append(ib)
        ib.connect("127.0.0.1", gw.port, clientId=client_id, timeout=timeout, raiseSyncErrors=True)
        return ib

    yield _connect
    for ib in clients:
        ib.disconnect()


WaitFn = Callable[..., bool]


@pytest.fixture
def wait_until() -> WaitFn:
    """Let ib_async process messages until ``condition()`` holds or ``limit`` seconds pass."""

    def _wait(ib: IB, condition: Callable[[], bool], limit: float = 10.0) -> bool:
        waited = 0.0
        while not condition() and waited < limit:
            ib.sleep(0.05)
            waited += 0.05
        return condition()

    return _wait
