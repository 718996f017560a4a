"""Why a strategy left the book, as the registry records it, and the credit it is booked at
(issue 20: survivors of the sync mutation run): closed by our own fills, expired worthless,
or closed outside tradelib, each stamped with the sync's time; units from the opening fills."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from tradelib.domain import Contract, Right, StrategyType, utc
from tradelib.sync import CloseReason, FillFact, HeldLeg, StrategyRecord, StrategyRegistry
from tradelib.sync.registry import credit_from_fills

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


# --- the credit of a strategy from its fills ------------------------------------------------------
NEW_SHORT = Contract.option("SPY", EXP, 495, Right.PUT, con_id=13)


def test_units_come_from_the_opening_fills_not_the_rolls() -> None:
    fills = [
        _fill("tl:s1:open:1", SHORT, -2, 1),
        _fill("tl:s1:open:1", LONG, 2, 2),
        _fill("tl:s1:roll:1", SHORT, 1, 3),  # one unit rolled up
        _fill("tl:s1:roll:1", NEW_SHORT, -1, 4),
    ]
    prices = [1.5, 0.4, 0.5, 0.9]
    fills = [replace(f, price=p) for f, p in zip(fills, prices, strict=True)]
    # 2 x 1.10 opening + 0.40 from the roll, over the two units opened.
    assert credit_from_fills(fills) == 1.3


def test_partial_fills_of_one_leg_add_up_to_its_units() -> None:
    fills = [
        replace(_fill("tl:s1:open:1", SHORT, -1, 1), price=1.5),
        replace(_fill("tl:s1:open:1", SHORT, -1, 2), price=1.5),
        replace(_fill("tl:s1:open:1", LONG, 2, 3), price=0.4),
    ]
    assert credit_from_fills(fills) == 1.1


def test_a_one_unit_credit_is_not_divided_and_is_kept_to_six_places() -> None:
    fills = [
        replace(_fill("tl:s1:open:1", SHORT, -1, 1), price=1.23456789),
        replace(_fill("tl:s1:open:1", LONG, 1, 2), price=0.1),
    ]
    assert credit_from_fills(fills) == 1.134568


def test_opening_fills_that_net_to_nothing_count_as_one_unit() -> None:
    fills = [
        replace(_fill("tl:s1:open:1", SHORT, 1, 1), price=1.0),
        replace(_fill("tl:s1:open:1", SHORT, -1, 2), price=1.2),
    ]
    assert credit_from_fills(fills) == 0.2
