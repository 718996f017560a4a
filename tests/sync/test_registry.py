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


# --- one contract, several strategies (the day-14 IWM rolls of the demo audit) ------------
C200 = Contract.option("IWM", EXP, 200, Right.CALL, con_id=21)
C205 = Contract.option("IWM", EXP, 205, Right.CALL, con_id=22)
C210 = Contract.option("IWM", EXP, 210, Right.CALL, con_id=23)


def call_spread(sid: str, short: Contract, long: Contract, opened: int) -> StrategyRecord:
    legs = (HeldLeg(short, -1), HeldLeg(long, 1))
    at = T0 + timedelta(minutes=opened)
    return StrategyRecord(sid, StrategyType.CALL_CREDIT_SPREAD, "IWM", legs, at, at, credit=0.9)


def test_strategies_holding_one_contract_in_opposite_directions_keep_their_legs() -> None:
    # X is short 200 / long 205, Y short 205 / long 210: the account nets 205 to zero.
    book = [call_spread("x", C200, C205, 0), call_spread("y", C205, C210, 1)]
    positions = [pos(C200, -1), pos(C210, 1)]

    update = StrategyRegistry().update(book, positions, [], T0, EXP - timedelta(days=30))

    assert update.changed == ()
    held = {r.strategy_id: {leg.con_id: leg.quantity for leg in r.legs} for r in update.open}
    assert held == {"x": {21: -1, 22: 1}, "y": {22: -1, 23: 1}}
    assert all(r.strategy_type is StrategyType.CALL_CREDIT_SPREAD for r in update.open)


def test_rolls_whose_new_long_is_anothers_short_are_booked_from_their_own_fills() -> None:
    # Both spreads rolled up before the book caught up: X from 195/200 to 200/205, Y from
    # 200/205... each new long call is exactly the other's short call.
    c195 = Contract.option("IWM", EXP, 195, Right.CALL, con_id=20)
    book = [call_spread("x", c195, C200, 0), call_spread("y", C205, C210, 1)]
    fills = [
        fill("tl:x:roll:1", c195, 1, 2.0, 1),
        fill("tl:x:roll:1", C200, -1, 1.5, 2),  # closes X's long 200 ...
        fill("tl:x:roll:1", C200, -1, 1.5, 3),  # ... and sells 200 as the new short
        fill("tl:x:roll:1", C205, 1, 1.0, 4),  # X's new long = Y's short
    ]
    positions = [pos(C200, -1), pos(C210, 1)]  # 195 closed, 205 nets to zero

    update = StrategyRegistry().update(book, positions, fills, T0, EXP - timedelta(days=30))

    held = {r.strategy_id: {leg.con_id: leg.quantity for leg in r.legs} for r in update.open}
    assert held == {"x": {21: -1, 22: 1}, "y": {22: -1, 23: 1}}
    assert {r.strategy_id for r in update.closed} == set()


def test_a_hand_trade_on_a_shared_contract_reduces_the_side_it_closes() -> None:
    book = [call_spread("x", C200, C205, 0), call_spread("y", C205, C210, 1)]
    positions = [pos(C200, -1), pos(C205, 1), pos(C210, 1)]  # someone bought a 205 call

    update = StrategyRegistry().update(book, positions, [], T0, EXP - timedelta(days=30))

    held = {r.strategy_id: {leg.con_id: leg.quantity for leg in r.legs} for r in update.open}
    assert held == {"x": {21: -1, 22: 1}, "y": {23: 1}}  # Y's short 205 was bought back
    total = sum(leg.quantity for r in update.open for leg in r.legs if leg.con_id == 22)
    assert total == 1  # the strategies add up to the broker's position
