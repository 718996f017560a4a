"""Broker fixtures: one factory per implementation, every contract test runs on each.

To add an implementation, write a factory ``(request, setup) -> Broker`` that
returns an unconnected broker configured as ``setup`` says (the market must
start inside regular hours on ``START``'s trading day, 10:00 New York), and
register it in ``FACTORIES`` under its id (e.g. ``"ib"``: an IBBroker connected
to the simulated TWS gateway, using ``request.getfixturevalue`` for the gateway).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tradelib.broker import Broker
from tradelib.broker.connection import IBConnectionManager
from tradelib.broker.ib import IBBroker
from tradelib.broker.sim import SimBroker
from tradelib.domain import TradingMode, utc
from tradelib.gateway import GatewayThread, SimGateway
from tradelib.sim import SimMarketConfig, SimRegime, SimulatedMarket

START = utc(2026, 11, 24, 15)  # Tuesday 10:00 New York, a regular full session
SEED = 11


@dataclass(frozen=True, slots=True)
class BrokerSetup:
    """How a test wants its broker configured."""

    mode: TradingMode = TradingMode.SIM
    line_budget: int = 100
    initial_cash: float = 100_000.0


BrokerFactory = Callable[[pytest.FixtureRequest, BrokerSetup], Broker]


def sim_market() -> SimulatedMarket:
    """A calm, seeded market at ``START``."""
    return SimulatedMarket(SimMarketConfig(seed=SEED, start=START, forced_regime=SimRegime.CALM))


def _sim_factory(request: pytest.FixtureRequest, setup: BrokerSetup) -> Broker:
    return SimBroker(
        sim_market(),
        initial_cash=setup.initial_cash,
        line_budget=setup.line_budget,
        mode=setup.mode,
    )


# --- "ib": IBBroker over ib_async, connected to the simulated TWS gateway ---------------------
GATEWAY_SPEED = 20.0  # market seconds per real second while a test is not waiting
WAIT_REAL_S = 0.25  # real seconds a broker.wait() of any length takes (about)
GATEWAY_TICK_S = 0.05  # the gateway's market-clock step, real seconds
# IB errors the shared contract provokes on purpose (resolving an unknown symbol).
CONTRACT_SUITE_IB_ERRORS = ("Error 200,",)


class IbErrorLog(logging.Handler):
    """Collects ERROR records from ib_async's loggers; a test may allow some by text."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.allowed: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def allow(self, *fragments: str) -> None:
        """Tolerate ERROR records containing any of ``fragments`` (errors a test provokes)."""
        self.allowed += fragments

    def unexpected(self) -> list[str]:
        messages = [r.getMessage() for r in self.records]
        return [m for m in messages if not any(a in m for a in self.allowed)]


def watch_ib_errors() -> tuple[IbErrorLog, Callable[[], None]]:
    """Start collecting ib_async ERROR records; the returned function stops and asserts none slipped by."""
    handler = IbErrorLog()
    logger = logging.getLogger("ib_async")
    logger.addHandler(handler)

    def check() -> None:
        logger.removeHandler(handler)
        unexpected = handler.unexpected()
        assert not unexpected, f"ib_async logged errors: {unexpected}"

    return handler, check


class FastForwardIBBroker(IBBroker):
    """IBBroker whose simulated gateway runs fast only inside ``wait()``.

    Between a snapshot and an order the market barely moves, yet a test that
    waits hours for the close takes about a second. ``wait`` itself is
    IBBroker's: it sleeps until the server clock has advanced.
    """

    def __init__(self, *args: object, gateway: GatewayThread, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.gateway = gateway

    def _set_speed(self, speed: float) -> None:
        gw = self.gateway.gateway
        self.gateway.call(lambda: setattr(gw, "speed", speed))

    def wait(self, seconds: float) -> None:
        self._set_speed(max(GATEWAY_SPEED, seconds / WAIT_REAL_S))
        try:
            super().wait(seconds)
        finally:
            self._set_speed(GATEWAY_SPEED)


def start_gateway(initial_cash: float = 100_000.0, **gateway_kwargs: object) -> GatewayThread:
    """A started gateway over the same calm, seeded market the sim factory uses."""
    broker = SimBroker(sim_market(), initial_cash=initial_cash)
    gateway = SimGateway(
        broker,
        port=0,
        speed=GATEWAY_SPEED,
        tick_interval=GATEWAY_TICK_S,
        **gateway_kwargs,  # type: ignore[arg-type]
    )
    thread = GatewayThread(gateway)
    thread.start()
    return thread


def connect_ib(
    thread: GatewayThread,
    *,
    mode: TradingMode = TradingMode.PAPER,
    line_budget: int = 100,
    client_ids: tuple[int, ...] = (1, 11, 12),
    **connection_kwargs: object,
) -> FastForwardIBBroker:
    """An unconnected IBBroker for ``thread``'s gateway (no request pacing: it has none)."""
    options: dict[str, object] = {"connect_timeout_s": 5.0, "retry_backoff_s": 0.1}
    options |= connection_kwargs
    connection = IBConnectionManager(
        "127.0.0.1",
        thread.port,
        client_ids,
        max_requests_per_s=0,
        **options,  # type: ignore[arg-type]
    )
    return FastForwardIBBroker(connection, gateway=thread, mode=mode, line_budget=line_budget)


def _ib_factory(request: pytest.FixtureRequest, setup: BrokerSetup) -> Broker:
    errors, check_errors = watch_ib_errors()
    errors.allow(*CONTRACT_SUITE_IB_ERRORS)
    thread = start_gateway(initial_cash=setup.initial_cash)
    # A simulated broker is "paper" over IB; read-only stays read-only.
    mode = TradingMode.PAPER if setup.mode is TradingMode.SIM else setup.mode
    broker = connect_ib(thread, mode=mode, line_budget=setup.line_budget)

    def teardown() -> None:
        broker.disconnect()
        thread.stop()
        check_errors()

    request.addfinalizer(teardown)
    return broker


FACTORIES: dict[str, BrokerFactory] = {"sim": _sim_factory, "ib": _ib_factory}

MakeBroker = Callable[..., Broker]


@pytest.fixture(params=sorted(FACTORIES))
def make_broker(request: pytest.FixtureRequest) -> Iterator[MakeBroker]:
    """Build connected brokers of the parametrized implementation; all disconnected at teardown."""
    made: list[Broker] = []

    def make(**kwargs: object) -> Broker:
        broker = FACTORIES[request.param](request, BrokerSetup(**kwargs))  # type: ignore[arg-type]
        broker.connect()
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.disconnect()


@pytest.fixture
def broker(make_broker: MakeBroker) -> Broker:
    """A connected broker in SIM mode with the default budget and cash."""
    return make_broker()
