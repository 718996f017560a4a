"""Scenario helpers built on the Broker port only, so they hold for every implementation."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import date

from tradelib.broker import Broker
from tradelib.domain import (
    Contract,
    Leg,
    OrderIntent,
    OrderPurpose,
    OrderType,
    Quote,
    Right,
    TimeInForce,
    make_order_ref,
    net_prices,
)

_refs = itertools.count(1)


def new_ref(strategy: str = "T") -> str:
    """A fresh, valid order reference."""
    return make_order_ref(f"{strategy}-{next(_refs)}", OrderPurpose.OPEN)


def spot(broker: Broker, symbol: str = "SPY") -> float:
    """Mid price of a stock."""
    return broker.snapshot([Contract.stock(symbol)])[0].mid


def expiry_in(broker: Broker, symbol: str = "SPY", lo: int = 30, hi: int = 45) -> date:
    """The first listed expiry between ``lo`` and ``hi`` calendar days away."""
    today = broker.now().date()
    chain = broker.option_chain(symbol)
    for e in chain.expiries:
        if lo <= (e - today).days <= hi:
            return e
    raise AssertionError(f"no {symbol} expiry {lo}-{hi} DTE in {chain.expiries}")


def strike_near(broker: Broker, symbol: str, expiry: date, target: float) -> float:
    """The listed strike closest to ``target``."""
    strikes = broker.option_chain(symbol).strikes_for(expiry)
    return min(strikes, key=lambda k: abs(k - target))


def option(
    broker: Broker, symbol: str, expiry: date, target_strike: float, right: Right
) -> Contract:
    """A resolved option at the listed strike nearest ``target_strike``."""
    strike = strike_near(broker, symbol, expiry, target_strike)
    return broker.resolve(Contract.option(symbol, expiry, strike, right))


def intent(
    broker: Broker,
    legs: Sequence[Leg],
    limit: float | None,
    *,
    quantity: int = 1,
    ref: str | None = None,
    purpose: OrderPurpose = OrderPurpose.OPEN,
    tif: TimeInForce = TimeInForce.DAY,
    to_cent: bool = True,
) -> OrderIntent:
    """An order intent for ``legs`` (execution ratios) at the net ``limit`` (None: market).

    ``to_cent`` rounds the limit to a cent (every SPY/QQQ/IWM option tick).
    """
    order_ref = ref or new_ref()
    return OrderIntent(
        order_ref=order_ref,
        strategy_id=order_ref.split(":")[1],
        purpose=purpose,
        legs=tuple(legs),
        quantity=quantity,
        limit_price=None if limit is None else (round(limit, 2) if to_cent else limit),
        created_at=broker.now(),
        order_type=OrderType.MARKET if limit is None else OrderType.LIMIT,
        tif=tif,
    )


def prices(broker: Broker, legs: Sequence[Leg]) -> tuple[float, float, float]:
    """(mid, natural, passive) net prices of ``legs`` now."""
    quotes: dict[str, Quote] = {
        q.contract.key: q for q in broker.snapshot([leg.contract for leg in legs])
    }
    return net_prices(legs, quotes)


def marketable(broker: Broker, legs: Sequence[Leg], pad: float = 0.05) -> float:
    """A limit that crosses the natural price by ``pad``."""
    return prices(broker, legs)[1] + pad


def put_credit_spread(broker: Broker, symbol: str = "SPY") -> tuple[Leg, Leg]:
    """Sell a ~4% OTM put, buy the put 5 below it, 30-45 DTE."""
    expiry = expiry_in(broker, symbol)
    s = spot(broker, symbol)
    short = option(broker, symbol, expiry, s * 0.96, Right.PUT)
    assert short.strike is not None
    long = option(broker, symbol, expiry, short.strike - 5, Right.PUT)
    return Leg(short, -1), Leg(long, +1)


def position_qty(broker: Broker, contract: Contract) -> float:
    """Signed position in ``contract`` (0 when flat)."""
    return sum(p.quantity for p in broker.positions() if p.contract.key == contract.key)
