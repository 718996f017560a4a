"""Pure builders for the registry tests: contracts, broker positions, our fills and book records.

No broker, no lake: ``StrategyRegistry.update`` is a function over these values, and mutmut
runs these tests (tests that write a Delta table cannot be in its selection).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta

from tradelib.domain import Contract, Position, Right, SecType, StrategyType, utc
from tradelib.sync import FillFact, HeldLeg, RegistryUpdate, StrategyRecord

T0 = utc(2026, 3, 2, 15)  # Monday 10:00 New York: the book was written then
EXP = date(2026, 3, 20)  # the front expiry (a Friday)
BEFORE_EXPIRY = EXP - timedelta(days=1)


def stock(symbol: str, con_id: int) -> Contract:
    return Contract(SecType.STOCK, symbol, con_id=con_id)


def put(strike: float, con_id: int, expiry: date = EXP, symbol: str = "SPY") -> Contract:
    return Contract.option(symbol, expiry, strike, Right.PUT, con_id=con_id)


def call(strike: float, con_id: int, expiry: date = EXP, symbol: str = "SPY") -> Contract:
    return Contract.option(symbol, expiry, strike, Right.CALL, con_id=con_id)


def pos(c: Contract, qty: float, avg_cost: float = 100.0) -> Position:
    """A broker position; ``avg_cost`` is per contract including the multiplier, as IB says."""
    return Position(c, qty, avg_cost)


def fill(
    ref: str | None, c: Contract, qty: float, price: float, at: datetime, exec_id: str = ""
) -> FillFact:
    """One execution of ours (``ref`` ``tl:<sid>:<purpose>:<seq>``) or by hand (other refs)."""
    assert c.con_id is not None
    return FillFact(exec_id or f"e-{c.con_id}-{at:%H%M%S}-{qty:g}", ref, c.con_id, qty, price, at)


def record(
    sid: str,
    legs: Mapping[Contract, float],
    *,
    at: datetime = T0,
    kind: StrategyType = StrategyType.CUSTOM,
    credit: float | None = 1.0,
    underlying: str = "SPY",
    inferred: bool = False,
) -> StrategyRecord:
    """An open strategy as the lake's book holds it, written at ``at``."""
    held = tuple(HeldLeg(c, q) for c, q in legs.items())
    return StrategyRecord(sid, kind, underlying, held, at, at, credit=credit, inferred=inferred)


def held(update: RegistryUpdate) -> dict[str, dict[int, float]]:
    """strategy -> con_id -> signed quantity of every open strategy after ``update``."""
    return {r.strategy_id: {leg.con_id: leg.quantity for leg in r.legs} for r in update.open}
