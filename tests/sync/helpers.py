"""Scenario helpers for the sync tests: a simulated account, our orders and hand orders."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import date

import polars as pl

from tradelib.broker.sim import SimBroker
from tradelib.domain import (
    Contract,
    Leg,
    OrderIntent,
    OrderPurpose,
    OrderStatus,
    OrderType,
    Right,
    make_order_ref,
    utc,
)
from tradelib.lake import Lake
from tradelib.sim import SimMarketConfig, SimRegime, SimulatedMarket

START = utc(2026, 11, 24, 15)  # Tuesday 10:00 New York, a regular full session
SEED = 11
_hand = itertools.count(1)


def sim_broker(cash: float = 1_000_000.0) -> SimBroker:
    """A connected SimBroker on a calm, seeded market at START."""
    market = SimulatedMarket(SimMarketConfig(seed=SEED, start=START, forced_regime=SimRegime.CALM))
    broker = SimBroker(market, initial_cash=cash)
    broker.connect()
    return broker


def spot(broker: SimBroker, symbol: str = "SPY") -> float:
    return broker.snapshot([Contract.stock(symbol)])[0].mid


def expiry_between(broker: SimBroker, lo: int, hi: int, symbol: str = "SPY") -> date:
    today = broker.now().date()
    return next(e for e in broker.option_chain(symbol).expiries if lo <= (e - today).days <= hi)


def option(
    broker: SimBroker, expiry: date, strike: float, right: Right, symbol: str = "SPY"
) -> Contract:
    strikes = broker.option_chain(symbol).strikes_for(expiry)
    nearest = min(strikes, key=lambda k: abs(k - strike))
    return broker.resolve(Contract.option(symbol, expiry, nearest, right))


def put_spread(
    broker: SimBroker, *, otm: float = 0.96, width: float = 5.0, dte: tuple[int, int] = (30, 45)
) -> tuple[Leg, Leg]:
    """(short put, long put) opening legs, ``otm`` x spot, ``width`` below."""
    expiry = expiry_between(broker, *dte)
    short = option(broker, expiry, spot(broker) * otm, Right.PUT)
    assert short.strike is not None
    lower = [k for k in broker.option_chain("SPY").strikes_for(expiry) if k < short.strike]
    wing = min(lower, key=lambda k: abs(k - (short.strike - width)))  # strictly below
    long = option(broker, expiry, wing, Right.PUT)
    return Leg(short, -1), Leg(long, 1)


def iron_condor(broker: SimBroker, dte: tuple[int, int] = (30, 45)) -> tuple[Leg, ...]:
    expiry = expiry_between(broker, *dte)
    s = spot(broker)
    sp = option(broker, expiry, s * 0.95, Right.PUT)
    sc = option(broker, expiry, s * 1.05, Right.CALL)
    assert sp.strike is not None and sc.strike is not None
    return (
        Leg(sp, -1),
        Leg(option(broker, expiry, sp.strike - 5, Right.PUT), 1),
        Leg(sc, -1),
        Leg(option(broker, expiry, sc.strike + 5, Right.CALL), 1),
    )


def trade(
    broker: SimBroker,
    legs: Sequence[Leg],
    *,
    ref: str,
    quantity: int = 1,
    purpose: OrderPurpose = OrderPurpose.OPEN,
    limit: float | None = None,
) -> OrderStatus:
    """Place a market order (or a limit) for ``legs`` and let a few seconds pass."""
    intent = OrderIntent(
        order_ref=ref,
        strategy_id=ref.split(":")[1] if ref.startswith("tl:") else "manual",
        purpose=purpose,
        legs=tuple(legs),
        quantity=quantity,
        limit_price=limit,
        created_at=broker.now(),
        order_type=OrderType.MARKET if limit is None else OrderType.LIMIT,
    )
    broker.place_order(intent)
    broker.wait(5)
    state = broker.order(ref)
    assert state is not None
    return state.status


def ours(
    broker: SimBroker,
    sid: str,
    legs: Sequence[Leg],
    purpose: OrderPurpose = OrderPurpose.OPEN,
    *,
    seq: int = 1,
    quantity: int = 1,
) -> OrderStatus:
    """Trade ``legs`` with one of our order refs (tl:<sid>:<purpose>:<seq>)."""
    return trade(
        broker, legs, ref=make_order_ref(sid, purpose, seq), quantity=quantity, purpose=purpose
    )


def by_hand(broker: SimBroker, legs: Sequence[Leg], quantity: int = 1) -> OrderStatus:
    """Trade ``legs`` the way a person at TWS would: no tradelib order ref."""
    return trade(broker, legs, ref=f"manual-{next(_hand)}", quantity=quantity)


def closing(legs: Sequence[Leg]) -> list[Leg]:
    return [Leg(leg.contract, -leg.ratio) for leg in legs]


def table(lake: Lake, name: str) -> pl.DataFrame:
    return lake.read(name).collect()


def counts(lake: Lake) -> dict[str, int]:
    names = ("positions", "strategies", "orders", "executions", "reconciliation_events")
    return {n: table(lake, n).height for n in names}


def strategy(lake: Lake, sid: str) -> dict[str, object]:
    rows = table(lake, "strategies").filter(pl.col("strategy_id") == sid).to_dicts()
    assert len(rows) == 1, f"strategy {sid}: {len(rows)} rows"
    return rows[0]


def event_kinds(lake: Lake) -> list[str]:
    return sorted(table(lake, "reconciliation_events")["kind"].to_list())
