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
from tradelib.broker.ib import IBBroker
from tradelib.broker.sim import SimBroker
from tradelib.domain import TradingMode, utc
from tradelib.gateway import GatewayThread, embedded
from tradelib.gateway.embedded import connect_ib
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


def start_gateway(initial_cash: float = 100_000.0, **gateway_kwargs: object) -> GatewayThread:
    """A started gateway over the same calm, seeded market the sim factory uses."""
    return embedded.start_gateway(
        SimBroker(sim_market(), initial_cash=initial_cash), **gateway_kwargs
    )


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


# --- the IB modules' shared fixtures (each module uses ib_errors for every test) -------------
@pytest.fixture
def ib_errors() -> Iterator[IbErrorLog]:
    """Fail the test on any ERROR logged by ib_async that the test did not say it expects."""
    handler, check = watch_ib_errors()
    yield handler
    check()


@pytest.fixture
def gateway() -> Iterator[GatewayThread]:
    """A started simulated gateway over the calm, seeded market; stopped after the test."""
    thread = start_gateway()
    yield thread
    thread.stop()


MakeIB = Callable[..., IBBroker]


@pytest.fixture
def make_ib(gateway: GatewayThread) -> Iterator[MakeIB]:
    """Connected IBBrokers on ``gateway``; disconnected after the test."""
    made: list[IBBroker] = []

    def make(**kwargs: object) -> IBBroker:
        broker = connect_ib(gateway, **kwargs)  # type: ignore[arg-type]
        broker.connect()
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.disconnect()
