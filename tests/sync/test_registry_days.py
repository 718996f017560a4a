"""A trader's days through ``StrategyRegistry.update``, as pure values (issue 20: the sync
survivors). Each scenario asserts the records the sync would write, field by field: an
assignment, a roll out of a strategy, legs opened by hand, expiry, and the credit."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from tradelib.domain import StrategyType, utc
from tradelib.sync import (
    CloseReason,
    FillFact,
    HeldLeg,
    StrategyRecord,
    StrategyRegistry,
    StrategyStatus,
)
from tradelib.sync.registry import Assignment, inferred_id

from .builders import BEFORE_EXPIRY, EXP, T0, call, fill, held, pos, put, record, stock

SPY = stock("SPY", 1)
QQQ = stock("QQQ", 2)
P490 = put(490, 11)
P485 = put(485, 12)
P480 = put(480, 13)
C510 = call(510, 14)
C515 = call(515, 15)
LATER = EXP + timedelta(days=28)
P490_LATER = put(490, 21, LATER)
P485_LATER = put(485, 22, LATER)
AFTER_EXPIRY = utc(2026, 3, 23, 14)  # the Monday after the front expiry
MIDDAY = T0 + timedelta(days=2, hours=3)

update = StrategyRegistry().update


# --- assignment --------------------------------------------------------------------------------
def test_a_short_put_assigned_over_the_weekend_becomes_stock_linked_to_it() -> None:
    book = [record("sp1", {P490: -1}, kind=StrategyType.SHORT_PUT, credit=2.5)]

    result = update(book, [pos(SPY, 100, avg_cost=490.0)], [], AFTER_EXPIRY, EXP)

    stock_rec = StrategyRecord(
        "sp1-assigned",
        StrategyType.STOCK,
        "SPY",
        (HeldLeg(SPY, 100),),
        AFTER_EXPIRY,
        AFTER_EXPIRY,
        credit=-490.0,  # stock is carried at its entry price, as a debit per share
        inferred=True,
        linked_strategy_id="sp1",
    )
    closed = book[0].closed(CloseReason.ASSIGNED, AFTER_EXPIRY)
    assert result.assignments == (Assignment("sp1", "sp1-assigned", "SPY", 100),)
    assert result.changed == (closed, stock_rec)
    assert result.open == (stock_rec,)
    assert result.closed == (closed,)
    assert dict(result.strategy_of) == {1: "sp1-assigned"}


def test_a_short_call_called_away_leaves_short_stock_at_its_price_as_a_credit() -> None:
    book = [record("sc1", {C510: -2}, kind=StrategyType.SHORT_CALL)]

    result = update(book, [pos(SPY, -200, avg_cost=510.0)], [], AFTER_EXPIRY, EXP)

    (assignment,) = result.assignments
    assert assignment == Assignment("sc1", "sc1-assigned", "SPY", -200)
    (rec,) = result.open
    assert (rec.legs, rec.credit, rec.units) == ((HeldLeg(SPY, -200),), 510.0, 200)


def test_only_the_shares_the_book_does_not_hold_came_from_the_assignment() -> None:
    book = [
        record("shares", {SPY: 100}, kind=StrategyType.STOCK, credit=-480.0),
        record("sp1", {P490: -1}, at=T0 + timedelta(hours=1), kind=StrategyType.SHORT_PUT),
    ]

    result = update(book, [pos(SPY, 200, avg_cost=485.0)], [], AFTER_EXPIRY, EXP)

    assert held(result) == {"shares": {1: 100}, "sp1-assigned": {1: 100}}
    assert result.assignments == (Assignment("sp1", "sp1-assigned", "SPY", 100),)
    assert [(r.strategy_id, r.close_reason) for r in result.closed] == [
        ("sp1", CloseReason.ASSIGNED)
    ]


def test_the_oldest_strategy_that_expired_in_the_underlying_is_the_one_assigned() -> None:
    # Named against their age: an order by name cannot pass for an order by opening time.
    book = [
        record("a-new", {P485: -1}, at=T0 + timedelta(hours=1), kind=StrategyType.SHORT_PUT),
        record("b-old", {P490: -1}, kind=StrategyType.SHORT_PUT),
    ]

    result = update(book, [pos(SPY, 100, avg_cost=490.0)], [], AFTER_EXPIRY, EXP)

    assert result.assignments == (Assignment("b-old", "b-old-assigned", "SPY", 100),)
    reasons = {r.strategy_id: r.close_reason for r in result.closed}
    assert reasons == {"a-new": CloseReason.EXPIRED, "b-old": CloseReason.ASSIGNED}


def test_stock_bought_by_hand_in_another_underlying_is_not_an_assignment() -> None:
    book = [record("sp1", {P490: -1}, kind=StrategyType.SHORT_PUT)]

    result = update(book, [pos(QQQ, 10, avg_cost=400.0)], [], AFTER_EXPIRY, EXP)

    assert result.assignments == ()
    (rec,) = result.open
    assert (rec.strategy_type, rec.underlying, rec.inferred, rec.linked_strategy_id) == (
        StrategyType.STOCK,
        "QQQ",
        True,
        None,
    )
    assert rec.credit == -400.0 and rec.strategy_id.startswith("inf-QQQ-")
    assert [r.close_reason for r in result.closed] == [CloseReason.EXPIRED]


def test_stock_appearing_before_any_option_expired_was_bought_by_hand() -> None:
    book = [record("sp1", {P490: -1}, kind=StrategyType.SHORT_PUT)]
    positions = [pos(P490, -1), pos(SPY, 100, avg_cost=495.0)]

    result = update(book, positions, [], MIDDAY, BEFORE_EXPIRY)

    assert result.assignments == ()
    assert [(r.strategy_id, r.inferred) for r in result.open] == [
        ("sp1", False),
        (inferred_id("SPY", (HeldLeg(SPY, 100),), MIDDAY), True),
    ]


def test_an_option_opened_by_hand_on_expiry_day_is_not_taken_for_an_assignment() -> None:
    book = [record("sp1", {P490: -1}, kind=StrategyType.SHORT_PUT)]
    positions = [pos(P490_LATER, -1, avg_cost=300.0)]

    result = update(book, positions, [], AFTER_EXPIRY, EXP)

    assert result.assignments == ()
    (rec,) = result.open
    assert (rec.strategy_type, rec.inferred, rec.linked_strategy_id, rec.credit) == (
        StrategyType.SHORT_PUT,
        True,
        None,
        3.0,
    )
    assert [r.close_reason for r in result.closed] == [CloseReason.EXPIRED]


# --- a roll booked from our own fills ----------------------------------------------------------
def _roll_fills(sid: str) -> list[FillFact]:
    """One unit of the 490/485 put spread rolled out four weeks, booked under ``sid``."""
    at = MIDDAY - timedelta(minutes=5)
    ref = f"tl:{sid}:roll:1"
    return [
        fill(ref, P490, 1, 0.8, at, "r1"),
        fill(ref, P485, -1, 0.3, at + timedelta(seconds=1), "r2"),
        fill(ref, P490_LATER, -1, 2.0, at + timedelta(seconds=2), "r3"),
        fill(ref, P485_LATER, 1, 1.2, at + timedelta(seconds=3), "r4"),
    ]


def test_a_roll_to_a_later_expiry_closes_the_old_spread_and_links_the_new_one() -> None:
    old = record("pcs1", {P485: 1, P490: -1}, kind=StrategyType.PUT_CREDIT_SPREAD, credit=1.1)
    fills = _roll_fills("pcs1r")
    positions = [pos(P490_LATER, -1, 200.0), pos(P485_LATER, 1, 120.0)]

    result = update([old], positions, fills, MIDDAY, BEFORE_EXPIRY)

    rolled = StrategyRecord(
        "pcs1r",
        StrategyType.PUT_CREDIT_SPREAD,
        "SPY",
        (HeldLeg(P485_LATER, 1), HeldLeg(P490_LATER, -1)),
        fills[0].ts,
        MIDDAY,
        credit=0.3,  # 2.00 - 1.20 for the new spread less 0.80 - 0.30 to close the old one
        linked_strategy_id="pcs1",
    )
    closed = old.closed(CloseReason.ROLLED, MIDDAY, linked="pcs1r")
    assert result.changed == (closed, rolled)
    assert result.open == (rolled,)
    assert closed.linked_strategy_id == "pcs1r" and closed.status is StrategyStatus.CLOSED
    assert dict(result.strategy_of) == {21: "pcs1r", 22: "pcs1r"}


def test_rolling_one_of_two_units_leaves_the_other_on_the_old_strategy() -> None:
    old = record("pcs1", {P485: 2, P490: -2}, kind=StrategyType.PUT_CREDIT_SPREAD, credit=1.1)
    positions = [pos(P485, 1), pos(P490, -1), pos(P490_LATER, -1), pos(P485_LATER, 1)]

    result = update([old], positions, _roll_fills("pcs1r"), MIDDAY, BEFORE_EXPIRY)

    assert held(result) == {"pcs1": {12: 1, 11: -1}, "pcs1r": {22: 1, 21: -1}}
    kept, new = result.changed
    assert kept == replace(old, legs=(HeldLeg(P485, 1), HeldLeg(P490, -1)), updated_at=MIDDAY)
    assert (new.linked_strategy_id, new.credit, new.inferred) == ("pcs1", 0.3, False)
    assert result.closed == ()


def test_a_roll_buying_back_more_than_the_old_strategy_held_keeps_the_rest() -> None:
    old = record("sp1", {P490: -1}, kind=StrategyType.SHORT_PUT, credit=2.0)
    at = MIDDAY - timedelta(minutes=5)
    fills = [
        fill("tl:sp2:roll:1", P490, 2, 1.0, at, "r1"),  # one more than sp1 was short
        fill("tl:sp2:roll:1", P490_LATER, -1, 3.0, at + timedelta(seconds=1), "r2"),
    ]
    positions = [pos(P490, 1), pos(P490_LATER, -1)]

    result = update([old], positions, fills, MIDDAY, BEFORE_EXPIRY)

    assert held(result) == {"sp2": {11: 1, 21: -1}}
    assert [(r.strategy_id, r.close_reason, r.linked_strategy_id) for r in result.closed] == [
        ("sp1", CloseReason.ROLLED, "sp2")
    ]


def test_a_roll_comes_out_of_the_strategy_whose_legs_it_undoes_most() -> None:
    one_leg = record("a-one", {P490: -1}, kind=StrategyType.SHORT_PUT)
    both = record("b-both", {P485: 1, P490: -1}, at=T0 + timedelta(hours=1))
    positions = [pos(P490, -1), pos(P490_LATER, -1), pos(P485_LATER, 1)]

    result = update([one_leg, both], positions, _roll_fills("new"), MIDDAY, BEFORE_EXPIRY)

    assert held(result) == {"a-one": {11: -1}, "new": {22: 1, 21: -1}}
    (closed,) = result.closed
    assert (closed.strategy_id, closed.close_reason) == ("b-both", CloseReason.ROLLED)


def test_a_roll_undoing_two_strategies_equally_comes_out_of_the_oldest() -> None:
    young = record("a-young", {P490: -1}, at=T0 + timedelta(hours=1), kind=StrategyType.SHORT_PUT)
    old = record("b-old", {P490: -1}, kind=StrategyType.SHORT_PUT)
    at = MIDDAY - timedelta(minutes=5)
    fills = [
        fill("tl:new:roll:1", P490, 1, 1.0, at, "r1"),
        fill("tl:new:roll:1", P490_LATER, -1, 3.0, at + timedelta(seconds=1), "r2"),
    ]
    positions = [pos(P490, -1), pos(P490_LATER, -1)]

    result = update([young, old], positions, fills, MIDDAY, BEFORE_EXPIRY)

    assert held(result) == {"a-young": {11: -1}, "new": {21: -1}}
    assert [(r.strategy_id, r.linked_strategy_id) for r in result.changed] == [
        ("b-old", "new"),
        ("new", "b-old"),
    ]


def test_a_new_strategy_opened_against_anothers_leg_is_not_a_roll() -> None:
    # Selling the put another strategy holds long opens a strategy of its own: the account
    # nets the contract, the strategies keep their legs.
    hedge = record("hedge", {P485: 1}, kind=StrategyType.SINGLE_LEG)
    at = MIDDAY - timedelta(minutes=5)
    fills = [
        fill("tl:pcs2:open:1", P485, -1, 1.5, at, "o1"),
        fill("tl:pcs2:open:1", P480, 1, 1.0, at + timedelta(seconds=1), "o2"),
    ]

    result = update([hedge], [pos(P480, 1)], fills, MIDDAY, BEFORE_EXPIRY)

    assert held(result) == {"hedge": {12: 1}, "pcs2": {13: 1, 12: -1}}
    (new,) = result.changed
    assert (new.strategy_id, new.linked_strategy_id, new.credit) == ("pcs2", None, 0.5)
    assert new.strategy_type is StrategyType.PUT_CREDIT_SPREAD


# --- legs opened by hand -----------------------------------------------------------------------
def test_a_spread_opened_at_tws_is_grouped_and_booked_at_the_broker_s_cost() -> None:
    positions = [pos(P490, -2, avg_cost=250.0), pos(P485, 2, avg_cost=150.0)]

    result = update([], positions, [], MIDDAY, BEFORE_EXPIRY)

    legs = (HeldLeg(P485, 2), HeldLeg(P490, -2))
    rec = StrategyRecord(
        inferred_id("SPY", legs, MIDDAY),
        StrategyType.PUT_CREDIT_SPREAD,
        "SPY",
        legs,
        MIDDAY,
        MIDDAY,
        credit=1.0,
        inferred=True,
    )
    assert result.changed == (rec,) and result.open == (rec,)
    assert rec.strategy_id == "inf-SPY-69a91f9a65"


def test_hand_opened_legs_form_one_strategy_per_shape() -> None:
    positions = [
        pos(P490, -1, 250.0),
        pos(P485, 1, 150.0),
        pos(C510, -1, 90.0),
        pos(QQQ, 5, 400.0),
    ]

    result = update([], positions, [], MIDDAY, BEFORE_EXPIRY)

    shapes = [(r.strategy_type, r.underlying, r.credit) for r in result.open]
    assert shapes == [
        (StrategyType.STOCK, "QQQ", -400.0),
        (StrategyType.PUT_CREDIT_SPREAD, "SPY", 1.0),
        (StrategyType.SHORT_CALL, "SPY", 0.9),
    ]
    assert all(r.inferred and r.opened_at == MIDDAY for r in result.open)


def test_a_position_flipped_at_tws_reduces_the_strategy_and_books_the_rest_by_hand() -> None:
    book = [record("sp1", {P490: -1}, kind=StrategyType.SHORT_PUT)]

    result = update(book, [pos(P490, 1, avg_cost=80.0)], [], MIDDAY, BEFORE_EXPIRY)

    (closed,) = result.closed
    assert (closed.strategy_id, closed.close_reason) == ("sp1", CloseReason.CLOSED_OUTSIDE)
    (rec,) = result.open
    assert (rec.legs, rec.strategy_type, rec.credit, rec.inferred) == (
        (HeldLeg(P490, 1),),
        StrategyType.SINGLE_LEG,
        -0.8,
        True,
    )


def test_a_flat_or_unresolved_position_line_is_ignored() -> None:
    unresolved = replace(P480, con_id=None)
    positions = [pos(P490, 0.0), pos(unresolved, -1), pos(P485, 1, 120.0)]

    result = update([], positions, [], MIDDAY, BEFORE_EXPIRY)

    assert held(result) == {inferred_id("SPY", (HeldLeg(P485, 1),), MIDDAY): {12: 1}}


def test_one_contract_reported_on_two_lines_adds_up() -> None:
    positions = [pos(P490, -1, 250.0), pos(P490, -2, 250.0)]

    result = update([], positions, [], MIDDAY, BEFORE_EXPIRY)

    assert [leg.quantity for r in result.open for leg in r.legs] == [-3]


# --- expiry ------------------------------------------------------------------------------------
def test_on_the_expiry_day_itself_a_leg_gone_from_the_account_expired() -> None:
    book = [record("cal", {P490: -1, P490_LATER: 1}, kind=StrategyType.CUSTOM)]

    result = update(book, [pos(P490_LATER, 1)], [], AFTER_EXPIRY, EXP)

    (rec,) = result.changed
    assert rec == replace(
        book[0],
        legs=(HeldLeg(P490_LATER, 1),),
        strategy_type=StrategyType.SINGLE_LEG,
        updated_at=AFTER_EXPIRY,
    )
    assert result.open == (rec,) and result.assignments == ()


def test_an_expired_leg_the_broker_still_shows_stays_until_it_settles() -> None:
    book = [record("sp1", {P490: -1}, kind=StrategyType.SHORT_PUT)]

    result = update(book, [pos(P490, -1)], [], AFTER_EXPIRY, EXP)

    assert result.changed == () and result.open == tuple(book)


def test_a_leg_gone_the_day_before_its_expiry_was_closed_outside() -> None:
    book = [record("cal", {P490: -1, P490_LATER: 1})]

    result = update(book, [pos(P490_LATER, 1)], [], AFTER_EXPIRY, EXP - timedelta(days=1))

    (rec,) = result.changed
    assert rec.is_open and held(result) == {"cal": {21: 1}}


def test_shares_never_expire_with_the_calls_written_on_them() -> None:
    book = [record("cc", {SPY: 100, C510: -1}, credit=-505.0)]

    result = update(book, [pos(SPY, 100)], [], AFTER_EXPIRY, EXP)

    (rec,) = result.open
    assert (rec.legs, rec.strategy_type) == ((HeldLeg(SPY, 100),), StrategyType.STOCK)
    assert result.assignments == ()


def test_a_strategy_with_stock_sold_by_hand_and_calls_expired_was_closed_outside() -> None:
    book = [record("cc", {SPY: 100, C510: -1})]

    result = update(book, [], [], AFTER_EXPIRY, EXP)

    assert [r.close_reason for r in result.closed] == [CloseReason.CLOSED_OUTSIDE]


def test_expired_legs_we_also_closed_count_as_closed_by_us() -> None:
    book = [record("sp1", {P490: -1}, kind=StrategyType.SHORT_PUT)]
    fills = [fill("tl:sp1:close:1", P490, 1, 0.05, T0 + timedelta(days=18), "c1")]

    result = update(book, [], fills, AFTER_EXPIRY, EXP)

    assert [r.close_reason for r in result.closed] == [CloseReason.CLOSED]


# --- the credit as fills come in ---------------------------------------------------------------
def _opened(units: int, at: datetime, seq: int, short: float, long: float) -> list[FillFact]:
    ref = f"tl:s1:open:{seq}"
    return [
        fill(ref, P490, -units, short, at, f"o{seq}a"),
        fill(ref, P485, units, long, at + timedelta(seconds=1), f"o{seq}b"),
    ]


def test_a_unit_added_at_the_book_s_write_time_recounts_the_credit() -> None:
    past = _opened(2, T0 - timedelta(minutes=1), 1, 1.5, 0.5)
    added = _opened(1, T0 - timedelta(seconds=1), 2, 1.6, 0.4)
    # The book row of the added unit was written with its last fill's time.
    book = [replace(record("s1", {P485: 2, P490: -2}, credit=1.0), updated_at=added[-1].ts)]
    positions = [pos(P490, -3), pos(P485, 3)]

    result = update(book, positions, added, MIDDAY, BEFORE_EXPIRY, past_fills=past)

    (rec,) = result.changed
    # (2 x (1.50 - 0.50) + (1.60 - 0.40)) / 3 units
    assert (rec.credit, rec.updated_at, held(result)) == (
        1.066667,
        MIDDAY,
        {"s1": {12: 3, 11: -3}},
    )


def test_closing_fills_leave_a_known_credit_alone() -> None:
    past = _opened(2, T0 - timedelta(minutes=1), 1, 1.5, 0.5)
    book = [record("s1", {P485: 2, P490: -2}, credit=1.05)]
    reduce = [fill("tl:s1:reduce:1", P490, 1, 0.7, MIDDAY - timedelta(minutes=1), "x1")]
    positions = [pos(P490, -1), pos(P485, 2)]

    result = update(book, positions, reduce, MIDDAY, BEFORE_EXPIRY, past_fills=past)

    (rec,) = result.changed
    assert (rec.credit, held(result)) == (1.05, {"s1": {12: 2, 11: -1}})


def test_an_unknown_credit_is_filled_in_from_the_opening_fills_alone() -> None:
    # The book already holds what the reduce left (2 long, 1 short): only the credit moves.
    past = _opened(2, T0 - timedelta(minutes=1), 1, 1.5, 0.5)
    reduce = [fill("tl:s1:reduce:1", P490, 1, 0.7, T0 - timedelta(seconds=30), "x1")]
    book = [record("s1", {P485: 2, P490: -1}, credit=None)]

    result = update(
        book, [pos(P490, -1), pos(P485, 2)], reduce, MIDDAY, BEFORE_EXPIRY, past_fills=past
    )

    (rec,) = result.changed
    assert rec == replace(book[0], credit=1.0, updated_at=MIDDAY)


def test_an_unknown_credit_stays_unknown_without_opening_fills() -> None:
    book = [record("s1", {P485: 2, P490: -2}, credit=None)]
    reduce = [fill("tl:s1:reduce:1", P490, 1, 0.7, MIDDAY - timedelta(minutes=1), "x1")]

    result = update(book, [pos(P490, -1), pos(P485, 2)], reduce, MIDDAY, BEFORE_EXPIRY)

    (rec,) = result.changed
    assert rec.credit is None and held(result) == {"s1": {12: 2, 11: -1}}


def test_a_mislabelled_shape_alone_is_a_change() -> None:
    book = [record("s1", {P485: 1, P490: -1}, kind=StrategyType.CUSTOM)]

    result = update(book, [pos(P490, -1), pos(P485, 1)], [], MIDDAY, BEFORE_EXPIRY)

    (rec,) = result.changed
    assert rec == replace(book[0], strategy_type=StrategyType.PUT_CREDIT_SPREAD, updated_at=MIDDAY)


def test_a_strategy_nothing_happened_to_is_not_rewritten() -> None:
    book = [record("s1", {P485: 1, P490: -1}, kind=StrategyType.PUT_CREDIT_SPREAD)]

    result = update(book, [pos(P490, -1), pos(P485, 1)], [], MIDDAY, BEFORE_EXPIRY)

    assert result.changed == () and result.open == tuple(book)


# --- new strategies from our fills ---------------------------------------------------------------
def test_new_strategies_come_in_the_order_of_their_first_fill() -> None:
    at = MIDDAY - timedelta(minutes=10)
    fills = [
        fill("tl:a-new:open:1", C510, -1, 1.0, at + timedelta(minutes=1), "n1"),
        fill("tl:b-old:open:1", P490, -1, 2.0, at, "o1"),
    ]

    result = update([], [pos(C510, -1), pos(P490, -1)], fills, MIDDAY, BEFORE_EXPIRY)

    assert [(r.strategy_id, r.opened_at, r.credit) for r in result.open] == [
        ("b-old", at, 2.0),
        ("a-new", at + timedelta(minutes=1), 1.0),
    ]


def test_a_strategy_opened_and_closed_between_syncs_is_not_booked_but_the_next_is() -> None:
    at = MIDDAY - timedelta(minutes=10)
    fills = [
        fill("tl:quick:open:1", P490, -1, 2.0, at, "q1"),
        fill("tl:quick:close:1", P490, 1, 1.5, at + timedelta(minutes=1), "q2"),
        fill("tl:kept:open:1", C510, -1, 1.0, at + timedelta(minutes=2), "k1"),
    ]

    result = update([], [pos(C510, -1)], fills, MIDDAY, BEFORE_EXPIRY)

    assert held(result) == {"kept": {14: -1}}


def test_a_new_strategy_without_opening_fills_is_booked_at_the_broker_s_cost() -> None:
    fills = [fill("tl:lost:close:1", P490, 1, 0.9, MIDDAY - timedelta(minutes=1), "c1")]

    result = update([], [pos(P490, 1, avg_cost=90.0)], fills, MIDDAY, BEFORE_EXPIRY)

    (rec,) = result.open
    assert (rec.strategy_id, rec.credit, rec.inferred) == ("lost", -0.9, False)


def test_fills_by_hand_are_skipped_wherever_they_fall() -> None:
    at = MIDDAY - timedelta(minutes=10)
    fills = [
        fill("manual-7", C510, -1, 1.0, at, "h1"),
        fill(None, C515, 1, 0.5, at + timedelta(seconds=1), "h2"),
        fill("tl:s1:open:1", P490, -1, 2.0, at + timedelta(seconds=2), "o1"),
    ]
    positions = [pos(C510, -1, 100.0), pos(C515, 1, 50.0), pos(P490, -1)]

    result = update([], positions, fills, MIDDAY, BEFORE_EXPIRY)

    ours = [r for r in result.open if not r.inferred]
    assert [(r.strategy_id, r.credit, r.opened_at) for r in ours] == [
        ("s1", 2.0, at + timedelta(seconds=2))
    ]
    (hand,) = [r for r in result.open if r.inferred]
    assert (hand.strategy_type, hand.credit) == (StrategyType.CALL_CREDIT_SPREAD, 0.5)


def test_a_fill_at_exactly_the_book_s_write_time_is_already_in_the_book() -> None:
    # b-old's book row was written with its last fill; a-new's fill came after its row. The
    # broker shows both shorts: the one the book lacks is a-new's.
    sold = T0 + timedelta(hours=1)
    old = replace(record("b-old", {P490: -1, P485: 1}), updated_at=sold)
    new = record("a-new", {P480: 1}, at=T0 + timedelta(minutes=30))
    fills = [
        fill("tl:b-old:open:1", P490, -1, 2.0, sold, "b1"),
        fill("tl:a-new:open:1", P490, -1, 2.0, sold + timedelta(minutes=1), "a1"),
    ]
    positions = [pos(P490, -2), pos(P485, 1), pos(P480, 1)]

    result = update([old, new], positions, fills, MIDDAY, BEFORE_EXPIRY)

    assert held(result) == {"b-old": {12: 1, 11: -1}, "a-new": {13: 1, 11: -1}}


def test_the_sync_time_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match=r"^now must be timezone-aware"):
        update([], [], [], MIDDAY.replace(tzinfo=None), BEFORE_EXPIRY)


# --- ids of hand-opened groups --------------------------------------------------------------------
def test_a_hand_opened_group_s_id_is_stable_through_its_first_day_only() -> None:
    # The id is stored in the lake and re-derived at every sync of the day: it must not drift.
    legs = (HeldLeg(P490, -2), HeldLeg(P485, 2))
    first = inferred_id("SPY", legs, MIDDAY)
    assert first == "inf-SPY-69a91f9a65"
    assert inferred_id("SPY", legs[::-1], MIDDAY + timedelta(hours=3)) == first
    assert inferred_id("SPY", legs, MIDDAY + timedelta(days=1)) != first
    assert inferred_id("SPY", (HeldLeg(P490, -1), HeldLeg(P485, 1)), MIDDAY) != first
    assert inferred_id("BRK B/1", legs, MIDDAY).startswith("inf-BRK_B_1-")


def test_a_dust_leg_in_the_book_is_dropped() -> None:
    book = [record("s1", {P490: -1, P485: 1e-12}, kind=StrategyType.SHORT_PUT)]

    result = update(book, [pos(P490, -1)], [], AFTER_EXPIRY, EXP)

    (rec,) = result.changed
    assert rec.legs == (HeldLeg(P490, -1),) and rec.updated_at == AFTER_EXPIRY


# --- after the second mutation run: what the later passes would otherwise hide --------------------
def test_two_strategies_holding_one_expired_contract_both_let_it_go() -> None:
    # The account nets the 490 put to zero; at expiry neither strategy may keep its side.
    short = record("a-short", {P490: -2, P490_LATER: 2})
    long = record("b-long", {P490: 2, P485_LATER: -2}, at=T0 + timedelta(hours=1))
    positions = [pos(P490_LATER, 2), pos(P485_LATER, -2)]

    result = update([short, long], positions, [], AFTER_EXPIRY, EXP)

    assert held(result) == {"a-short": {21: 2}, "b-long": {22: -2}}


def test_a_put_bought_by_hand_beside_a_roll_is_not_taken_into_the_roll() -> None:
    old = record("sp1", {P490: -1}, kind=StrategyType.SHORT_PUT)
    at = MIDDAY - timedelta(minutes=5)
    fills = [
        fill("tl:sp2:roll:1", P490, 1, 1.0, at, "r1"),
        fill("tl:sp2:roll:1", P490_LATER, -1, 3.0, at + timedelta(seconds=1), "r2"),
    ]
    positions = [pos(P490, 1, avg_cost=95.0), pos(P490_LATER, -1)]  # one more bought at TWS

    result = update([old], positions, fills, MIDDAY, BEFORE_EXPIRY)

    hand = inferred_id("SPY", (HeldLeg(P490, 1),), MIDDAY)
    assert held(result) == {"sp2": {21: -1}, hand: {11: 1}}


def test_a_roll_adding_to_a_short_the_old_strategy_keeps_books_the_addition_to_the_new() -> None:
    # Out of the 490/485 spread's wing only: the 485 is sold back, one more 490 sold and a
    # 480 wing bought for the new strategy; a 475 bought in error and sold again nets to zero.
    old = record("pcs1", {P485: 1, P490: -1}, kind=StrategyType.PUT_CREDIT_SPREAD)
    p475 = put(475, 16)
    at = MIDDAY - timedelta(minutes=5)
    ref = "tl:pcs2:roll:1"
    fills = [
        fill(ref, P485, -1, 0.3, at, "r1"),
        fill(ref, P490, -1, 1.5, at + timedelta(seconds=1), "r2"),
        fill(ref, P480, 1, 0.2, at + timedelta(seconds=2), "r3"),
        fill(ref, p475, 1, 0.1, at + timedelta(seconds=3), "r4"),
        fill(ref, p475, -1, 0.1, at + timedelta(seconds=4), "r5"),
    ]
    positions = [pos(P490, -2), pos(P480, 1)]

    result = update([old], positions, fills, MIDDAY, BEFORE_EXPIRY)

    assert held(result) == {"pcs1": {11: -1}, "pcs2": {13: 1, 11: -1}}
    new = next(r for r in result.open if r.strategy_id == "pcs2")
    assert new.linked_strategy_id == "pcs1"


def test_a_strategy_claims_only_the_direction_its_fills_traded() -> None:
    # Neither row has caught up with its fill. b-buy (first fill) bought the 490 put, a-sell
    # sold two; the account is short one: that short is a-sell's, never b-buy's.
    seller = record("a-sell", {P485: 1}, at=T0 + timedelta(hours=1), kind=StrategyType.SINGLE_LEG)
    buyer = record("b-buy", {P480: -1}, kind=StrategyType.SHORT_PUT)
    fills = [
        fill("tl:b-buy:open:2", P490, 1, 2.0, MIDDAY - timedelta(minutes=2), "b1"),
        fill("tl:a-sell:open:2", P490, -2, 2.0, MIDDAY - timedelta(minutes=1), "a1"),
    ]
    positions = [pos(P485, 1), pos(P480, -1), pos(P490, -1)]

    result = update([seller, buyer], positions, fills, MIDDAY, BEFORE_EXPIRY)

    assert held(result) == {"b-buy": {13: -1}, "a-sell": {12: 1, 11: -1}}


def test_each_strategy_claims_only_the_contracts_its_fills_traded() -> None:
    # b-first sold a call, a-second bought a put wing; neither row has caught up.
    first = record("b-first", {P490: -1}, kind=StrategyType.SHORT_PUT)
    second = record("a-second", {P480: -1}, at=T0 + timedelta(hours=1), kind=StrategyType.SHORT_PUT)
    fills = [
        fill("tl:b-first:open:2", C510, -1, 1.0, MIDDAY - timedelta(minutes=2), "b1"),
        fill("tl:a-second:open:2", P485, 1, 0.5, MIDDAY - timedelta(minutes=1), "a1"),
    ]
    positions = [pos(P490, -1), pos(P480, -1), pos(C510, -1), pos(P485, 1)]

    result = update([first, second], positions, fills, MIDDAY, BEFORE_EXPIRY)

    assert held(result) == {"b-first": {11: -1, 14: -1}, "a-second": {13: -1, 12: 1}}


def test_an_assignment_is_found_whatever_the_account_lists_before_it() -> None:
    shares = stock("SPY", 99)  # listed after the still-open put below
    book = [
        record("sp1", {P490: -1}, kind=StrategyType.SHORT_PUT),
        record("sp2", {P490_LATER: -1}, kind=StrategyType.SHORT_PUT),
    ]
    positions = [pos(P490_LATER, -1), pos(shares, 100, avg_cost=490.0)]

    result = update(book, positions, [], AFTER_EXPIRY, EXP)

    assert result.assignments == (Assignment("sp1", "sp1-assigned", "SPY", 100),)


def test_a_strategy_rolled_into_two_names_the_first_by_id() -> None:
    old = record("pcs1", {P485: 1, P490: -1}, kind=StrategyType.PUT_CREDIT_SPREAD)
    at = MIDDAY - timedelta(minutes=5)
    fills = [
        fill("tl:roll-b:roll:1", P490, 1, 0.8, at, "b1"),
        fill("tl:roll-b:roll:1", P490_LATER, -1, 2.0, at + timedelta(seconds=1), "b2"),
        fill("tl:roll-a:roll:1", P485, -1, 0.3, at + timedelta(seconds=2), "a1"),
        fill("tl:roll-a:roll:1", P485_LATER, 1, 1.2, at + timedelta(seconds=3), "a2"),
    ]
    positions = [pos(P490_LATER, -1), pos(P485_LATER, 1)]

    result = update([old], positions, fills, MIDDAY, BEFORE_EXPIRY)

    links = {r.strategy_id: r.linked_strategy_id for r in result.changed}
    assert links == {"pcs1": "roll-a", "roll-a": "pcs1", "roll-b": "pcs1"}


def test_an_unknown_credit_without_fills_this_sync_stays_unknown() -> None:
    book = [record("s1", {P490: -1}, kind=StrategyType.SHORT_PUT, credit=None)]

    result = update(book, [pos(P490, -1)], [], MIDDAY, BEFORE_EXPIRY)

    assert result.changed == () and result.open == tuple(book)


def test_a_hand_opened_group_s_id_keeps_lower_case_letters() -> None:
    assert inferred_id("Brk b", (HeldLeg(SPY, 1),), MIDDAY).startswith("inf-Brk_b-")


def test_a_fill_the_account_does_not_show_costs_no_other_strategy_its_leg() -> None:
    # d-short and c-long net the 490 put to zero; a-buyer bought one more after its row was
    # written, and it was sold again at TWS: the account shows no 490 put. Nothing moves.
    short = record("d-short", {P490: -1, P485: 1})
    buyer = record("a-buyer", {P480: -1}, at=T0 + timedelta(hours=1), kind=StrategyType.SHORT_PUT)
    long = record("c-long", {P490: 1}, at=T0 + timedelta(hours=2), kind=StrategyType.SINGLE_LEG)
    fills = [fill("tl:a-buyer:open:2", P490, 1, 2.0, MIDDAY - timedelta(minutes=2), "a1")]
    positions = [pos(P485, 1), pos(P480, -1)]

    result = update([short, buyer, long], positions, fills, MIDDAY, BEFORE_EXPIRY)

    assert held(result) == {"d-short": {12: 1, 11: -1}, "a-buyer": {13: -1}, "c-long": {11: 1}}
    assert result.closed == ()
