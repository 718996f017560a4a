"""Execution fixtures: a swappable broker, a real lake, and scenario helpers.

Every executor test takes ``make_broker`` / ``broker`` and so runs on each
registered implementation. To add one (e.g. ``"ib"``: IBBroker against the
simulated TWS gateway), write a factory ``(request, setup) -> Broker`` that
returns an unconnected broker configured as ``setup`` says, with its market
inside regular hours on ``START``'s trading day, and add it to ``FACTORIES``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tradelib.broker import Broker
from tradelib.broker.sim import FillModel, SimBroker
from tradelib.domain import (
    Contract,
    Fill,
    Leg,
    OrderPurpose,
    OrderState,
    Quote,
    Right,
    TradingMode,
    make_order_ref,
    net_prices,
    utc,
)
from tradelib.lake import Lake
from tradelib.sim import SimMarketConfig, SimRegime, SimulatedMarket

START = utc(2026, 11, 24, 15)  # Tuesday 10:00 New York, a regular full session
SEED = 11


@dataclass(frozen=True, slots=True)
class BrokerSetup:
    """How a test wants its broker: ``reluctant`` fills only at natural, never in between."""

    mode: TradingMode = TradingMode.SIM
    initial_cash: float = 100_000.0
    reluctant: bool = False


BrokerFactory = Callable[[pytest.FixtureRequest, BrokerSetup], Broker]


def _sim_factory(request: pytest.FixtureRequest, setup: BrokerSetup) -> Broker:
    market = SimulatedMarket(SimMarketConfig(seed=SEED, start=START, forced_regime=SimRegime.CALM))
    model = FillModel(max_hazard_per_s=1e-12) if setup.reluctant else None
    return SimBroker(market, initial_cash=setup.initial_cash, mode=setup.mode, fill_model=model)


FACTORIES: dict[str, BrokerFactory] = {"sim": _sim_factory}

MakeBroker = Callable[..., Broker]


@pytest.fixture(params=sorted(FACTORIES))
def make_broker(request: pytest.FixtureRequest) -> Iterator[MakeBroker]:
    made: list[Broker] = []

    def make(**kwargs: Any) -> Broker:
        broker = FACTORIES[request.param](request, BrokerSetup(**kwargs))
        broker.connect()
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.disconnect()


@pytest.fixture
def broker(make_broker: MakeBroker) -> Broker:
    return make_broker()


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


# --- scenario helpers (through the port only) ------------------------------------------------


def expiry_in(broker: Broker, symbol: str = "SPY", lo: int = 30, hi: int = 45) -> date:
    today = broker.now().date()
    for e in broker.option_chain(symbol).expiries:
        if lo <= (e - today).days <= hi:
            return e
    raise AssertionError(f"no {symbol} expiry {lo}-{hi} DTE")


def option(broker: Broker, symbol: str, expiry: date, target: float, right: Right) -> Contract:
    strikes = broker.option_chain(symbol).strikes_for(expiry)
    strike = min(strikes, key=lambda k: abs(k - target))
    return broker.resolve(Contract.option(symbol, expiry, strike, right))


def put_credit_spread(broker: Broker, symbol: str = "SPY", width: float = 5.0) -> tuple[Leg, Leg]:
    """Sell a ~4% OTM put, buy the put ``width`` below (opening execution ratios)."""
    expiry = expiry_in(broker, symbol)
    spot = broker.snapshot([Contract.stock(symbol)])[0].mid
    short = option(broker, symbol, expiry, spot * 0.96, Right.PUT)
    assert short.strike is not None
    long = option(broker, symbol, expiry, short.strike - width, Right.PUT)
    return Leg(short, -1), Leg(long, +1)


def prices(broker: Broker, legs: Sequence[Leg]) -> tuple[float, float, float]:
    """(mid, natural, passive) net prices of ``legs`` now."""
    quotes = {q.contract.key: q for q in broker.snapshot([leg.contract for leg in legs])}
    return net_prices(legs, quotes)


def refs(strategy_id: str, purpose: OrderPurpose, seqs: range = range(1, 40)) -> list[str]:
    return [make_order_ref(strategy_id, purpose, s) for s in seqs]


def broker_orders(broker: Broker, strategy_id: str, purpose: OrderPurpose) -> list[OrderState]:
    """Every order the broker knows for the plan (any sequence number we use)."""
    wanted = [*refs(strategy_id, purpose, range(1, 1000))]
    return [s for r in wanted if (s := broker.order(r)) is not None]


def plan_fills(broker: Broker, strategy_id: str) -> list[Fill]:
    return [f for f in broker.executions() if f.order_ref.split(":")[1:2] == [strategy_id]]


def position(broker: Broker, contract: Contract) -> float:
    return sum(p.quantity for p in broker.positions() if p.contract.key == contract.key)


class FaultyQuotes:
    """A broker wrapper whose quotes for chosen contracts turn bad (NaN bid) on demand."""

    def __init__(self, inner: Broker) -> None:
        self._inner = inner
        self.broken: set[str] = set()
        self.break_after_fill_of: str | None = None  # contract key: break once it has a position

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def snapshot(self, contracts: Sequence[Contract]) -> list[Quote]:
        quotes = self._inner.snapshot(contracts)
        if self.break_after_fill_of is not None and any(
            p.contract.key == self.break_after_fill_of for p in self._inner.positions()
        ):
            self.broken |= {c.key for c in contracts if c.key != self.break_after_fill_of}
        return [
            Quote(q.contract, q.ts, float("nan"), q.ask, q.last) if q.contract.key in self.broken
            else q
            for q in quotes
        ]  # fmt: skip
