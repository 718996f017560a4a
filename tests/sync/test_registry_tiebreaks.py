"""Who gets a contract when several strategies could: the registry's documented tie-breaks.

The strategies are named against their age ("b-old" is older than "a-new") so that an
order by name cannot pass for an order by age.
"""

from __future__ import annotations

from datetime import timedelta

from tradelib.domain import Contract, Right, StrategyType
from tradelib.sync import FillFact, HeldLeg, RegistryUpdate, StrategyRecord, StrategyRegistry

from .builders import BEFORE_EXPIRY, EXP, T0, held, pos

SHORT = Contract.option("SPY", EXP, 490, Right.PUT, con_id=11)
LONG = Contract.option("SPY", EXP, 485, Right.PUT, con_id=12)
OTHER = Contract.option("SPY", EXP, 480, Right.PUT, con_id=13)
OLD, NEW = "b-old", "a-new"


def record(sid: str, legs: dict[Contract, float], opened_min: int) -> StrategyRecord:
    at = T0 + timedelta(minutes=opened_min)
    held = tuple(HeldLeg(c, q) for c, q in legs.items())
    return StrategyRecord(sid, StrategyType.CUSTOM, "SPY", held, at, at, credit=1.0)


def fill(sid: str, c: Contract, qty: float, minute: int) -> FillFact:
    assert c.con_id is not None
    ts = T0 + timedelta(minutes=minute)
    return FillFact(f"e-{sid}-{minute}", f"tl:{sid}:open:1", c.con_id, qty, 1.0, ts)


def broker_total(update: RegistryUpdate, con_id: int) -> float:
    return sum(leg.quantity for r in update.open for leg in r.legs if leg.con_id == con_id)


def test_the_oldest_strategy_claims_a_contract_both_traded_when_the_broker_has_one() -> None:
    # Both strategies sold the 490 put after the book was written; the account shows one
    # (the other was bought back by hand). The older strategy's fill explains it.
    book = [record(OLD, {LONG: 1}, 0), record(NEW, {OTHER: 1}, 5)]
    fills = [fill(OLD, SHORT, -1, 10), fill(NEW, SHORT, -1, 11)]
    positions = [pos(SHORT, -1), pos(LONG, 1), pos(OTHER, 1)]

    update = StrategyRegistry().update(
        book, positions, fills, T0 + timedelta(hours=1), BEFORE_EXPIRY
    )

    assert held(update) == {OLD: {11: -1, 12: 1}, NEW: {13: 1}}
    assert not [r for r in update.open if r.inferred]


def test_a_claim_takes_no_more_than_the_broker_shows() -> None:
    # The older strategy sold two, the broker shows one: it gets one, the newer none.
    book = [record(OLD, {LONG: 1}, 0), record(NEW, {OTHER: 1}, 5)]
    fills = [fill(OLD, SHORT, -2, 10), fill(NEW, SHORT, -1, 11)]
    positions = [pos(SHORT, -1), pos(LONG, 1), pos(OTHER, 1)]

    update = StrategyRegistry().update(
        book, positions, fills, T0 + timedelta(hours=1), BEFORE_EXPIRY
    )

    assert held(update) == {OLD: {11: -1, 12: 1}, NEW: {13: 1}}


def test_quantity_added_by_hand_joins_the_oldest_strategy_holding_that_side() -> None:
    book = [record(OLD, {SHORT: -1, LONG: 1}, 0), record(NEW, {SHORT: -1, LONG: 1}, 5)]
    positions = [pos(SHORT, -3), pos(LONG, 2)]  # someone sold one more 490 put

    update = StrategyRegistry().update(book, positions, [], T0 + timedelta(hours=1), BEFORE_EXPIRY)

    assert held(update) == {OLD: {11: -2, 12: 1}, NEW: {11: -1, 12: 1}}
    assert broker_total(update, 11) == -3


def test_a_book_holding_more_than_the_broker_is_reduced_newest_first() -> None:
    # Both strategies hold the 490 put short; the account shows only one: the newer one
    # gave it up (bought back by hand), the older one keeps its spread.
    book = [record(OLD, {SHORT: -1, LONG: 1}, 0), record(NEW, {SHORT: -1, LONG: 1}, 5)]
    positions = [pos(SHORT, -1), pos(LONG, 2)]

    update = StrategyRegistry().update(book, positions, [], T0 + timedelta(hours=1), BEFORE_EXPIRY)

    assert held(update) == {OLD: {11: -1, 12: 1}, NEW: {12: 1}}
    assert broker_total(update, 11) == -1 and broker_total(update, 12) == 2


def test_a_book_holding_more_than_the_broker_on_every_leg_closes_the_newest_outside() -> None:
    book = [record(OLD, {SHORT: -1, LONG: 1}, 0), record(NEW, {SHORT: -1, LONG: 1}, 5)]
    positions = [pos(SHORT, -1), pos(LONG, 1)]

    update = StrategyRegistry().update(book, positions, [], T0 + timedelta(hours=1), BEFORE_EXPIRY)

    assert held(update) == {OLD: {11: -1, 12: 1}}
    (closed,) = update.closed
    assert closed.strategy_id == NEW and closed.close_reason is not None
    assert closed.close_reason.value == "closed_outside"


def test_a_reduction_larger_than_the_newest_holding_moves_on_to_the_older() -> None:
    book = [record(OLD, {SHORT: -2}, 0), record(NEW, {SHORT: -1}, 5)]
    positions = [pos(SHORT, -1)]

    update = StrategyRegistry().update(book, positions, [], T0 + timedelta(hours=1), BEFORE_EXPIRY)

    assert held(update) == {OLD: {11: -1}}
    assert [r.strategy_id for r in update.closed] == [NEW]
