"""The StrategyRegistry as a pure function over values: the lake's book, positions and fills."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tradelib.domain import Contract, Position, Right, StrategyType, utc
from tradelib.sync import FillFact, HeldLeg, StrategyRecord, StrategyRegistry
from tradelib.sync.reconcile import ReconKind, diff_positions, empty_answer_problem, lake_book
from tradelib.sync.registry import credit_from_fills

T0 = utc(2026, 3, 2, 15)
EXP = date(2026, 3, 20)
SHORT = Contract.option("SPY", EXP, 490, Right.PUT, con_id=11)
LONG = Contract.option("SPY", EXP, 485, Right.PUT, con_id=12)


def pos(c: Contract, qty: float, avg: float = 100.0) -> Position:
    return Position(c, qty, avg)


def fill(ref: str | None, c: Contract, qty: float, price: float, n: int) -> FillFact:
    assert c.con_id is not None
    return FillFact(f"e{n}", ref, c.con_id, qty, price, T0 + timedelta(seconds=n))


def spread(sid: str, units: float = 2) -> StrategyRecord:
    legs = (HeldLeg(LONG, units), HeldLeg(SHORT, -units))
    return StrategyRecord(sid, StrategyType.PUT_CREDIT_SPREAD, "SPY", legs, T0, T0, credit=1.1)


def test_new_fills_group_legs_under_the_strategy_in_their_order_ref() -> None:
    fills = [fill("tl:s1:open:1", SHORT, -2, 1.5, 1), fill("tl:s1:open:1", LONG, 2, 0.4, 2)]
    update = StrategyRegistry().update(
        [], [pos(SHORT, -2), pos(LONG, 2)], fills, T0, EXP - timedelta(days=1)
    )
    (rec,) = update.open
    assert (rec.strategy_id, rec.inferred, rec.units) == ("s1", False, 2)
    assert rec.credit == pytest.approx(1.1)
    assert update.strategy_of == {11: "s1", 12: "s1"}


def test_quantity_added_by_hand_joins_the_strategy_holding_the_contract() -> None:
    update = StrategyRegistry().update(
        [spread("s1")], [pos(SHORT, -3), pos(LONG, 2)], [], T0, EXP - timedelta(days=1)
    )
    (rec,) = update.open
    assert rec.quantity_of(11) == -3 and rec.strategy_type is StrategyType.CUSTOM


def test_two_strategies_on_one_contract_share_what_the_broker_holds() -> None:
    book = [spread("s1", 1), spread("s2", 1)]
    update = StrategyRegistry().update(book, [pos(SHORT, -2), pos(LONG, 2)], [], T0, EXP)
    assert [r.units for r in update.open] == [1, 1] and update.changed == ()


def test_credit_counts_opening_and_roll_fills_per_unit() -> None:
    fills = [
        fill("tl:s1:open:1", SHORT, -2, 1.5, 1),
        fill("tl:s1:open:1", LONG, 2, 0.4, 2),
        fill("tl:s1:reduce:1", SHORT, 1, 0.7, 3),  # closing fills leave the credit alone
    ]
    assert credit_from_fills(fills) == pytest.approx(1.1)


def test_differences_are_events_with_stable_ids() -> None:
    book = lake_book([spread("s1")])
    positions = [pos(SHORT, -1), pos(LONG, 2)]
    first = diff_positions(
        book, positions, [], now=T0, expired_through=EXP - timedelta(days=1), book_version="v1"
    )
    again = diff_positions(
        book, positions, [], now=T0 + timedelta(minutes=5), expired_through=EXP, book_version="v1"
    )
    assert [e.kind for e in first] == [ReconKind.QUANTITY_MISMATCH]
    assert first[0].event_id == again[0].event_id


def test_an_empty_answer_is_believed_only_when_fills_or_expiry_explain_it() -> None:
    book = lake_book([spread("s1")])
    assert empty_answer_problem(book, [], [], EXP - timedelta(days=1)) is not None
    assert empty_answer_problem(book, [], [], EXP) is None  # both legs expired
    closed = [fill("tl:s1:close:1", SHORT, 2, 0.1, 1), fill("tl:s1:close:1", LONG, -2, 0.05, 2)]
    assert empty_answer_problem(book, [], closed, EXP - timedelta(days=1)) is None
