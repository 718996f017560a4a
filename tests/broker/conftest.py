"""Broker fixtures: one factory per implementation, every contract test runs on each.

To add an implementation, write a factory ``(request, setup) -> Broker`` that
returns an unconnected broker configured as ``setup`` says (the market must
start inside regular hours on ``START``'s trading day, 10:00 New York), and
register it in ``FACTORIES`` under its id (e.g. ``"ib"``: an IBBroker connected
to the simulated TWS gateway, using ``request.getfixturevalue`` for the gateway).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tradelib.broker import Broker
from tradelib.broker.sim import SimBroker
from tradelib.domain import TradingMode, utc
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


FACTORIES: dict[str, BrokerFactory] = {"sim": _sim_factory}

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
