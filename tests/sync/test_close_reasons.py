"""Why a strategy left the book, as the registry records it (issue 20: the close-reason
survivors of the sync mutation run): closed by our own fills, expired worthless, or
closed outside tradelib, each stamped with the sync's time."""

from __future__ import annotations

from datetime import date, timedelta

from tradelib.domain import Contract, Right, StrategyType, utc
from tradelib.sync import CloseReason, FillFact, HeldLeg, StrategyRecord, StrategyRegistry

T0 = utc(2026, 3, 2, 15)
NOW = T0 + timedelta(days=3)
EXP = date(2026, 3, 20)
SHORT = Contract.option("SPY", EXP, 490, Right.PUT, con_id=11)
LONG = Contract.option("SPY", EXP, 485, Right.PUT, con_id=12)


def _spread(sid: str = "s1") -> StrategyRecord:
    legs = (HeldLeg(LONG, 2), HeldLeg(SHORT, -2))
    return StrategyRecord(sid, StrategyType.PUT_CREDIT_SPREAD, "SPY", legs, T0, T0, credit=1.1)


def _fill(ref: str, c: Contract, qty: float, n: int) -> FillFact:
    assert c.con_id is not None
    return FillFact(f"e{n}", ref, c.con_id, qty, 0.1, NOW - timedelta(minutes=n))


def _closed(fills: list[FillFact], expired_through: date) -> StrategyRecord:
    update = StrategyRegistry().update([_spread()], [], fills, NOW, expired_through)
    assert update.open == ()
    (rec,) = update.closed
    assert rec.closed_at == NOW and rec.strategy_id == "s1"
    return rec


def test_a_strategy_our_orders_closed_is_closed() -> None:
    fills = [_fill("tl:s1:close:1", SHORT, 2, 1), _fill("tl:s1:close:1", LONG, -2, 2)]
    assert _closed(fills, EXP - timedelta(days=1)).close_reason is CloseReason.CLOSED


def test_a_strategy_gone_after_its_expiry_expired() -> None:
    assert _closed([], EXP).close_reason is CloseReason.EXPIRED


def test_a_strategy_gone_before_its_expiry_without_our_fills_was_closed_outside() -> None:
    assert _closed([], EXP - timedelta(days=1)).close_reason is CloseReason.CLOSED_OUTSIDE
