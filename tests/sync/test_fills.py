"""What the registry reads of our fills (``tradelib.sync.fills``): one ``FillFact`` per
execution, each strategy's fills netted and ordered (``OurFills``), and the credit the
broker's average cost implies (issue 20: functions no registry test reached)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tradelib.domain import Contract, Fill, OrderPurpose, SecType
from tradelib.sync import HeldLeg
from tradelib.sync.fills import FillFact, OurFills, credit_from_cost

from .builders import T0, call, fill, put, record, stock

P490 = put(490, 11)
P485 = put(485, 12)
C510 = call(510, 14)
SPY = stock("SPY", 1)


# --- FillFact ------------------------------------------------------------------------------------
def test_a_broker_fill_keeps_what_the_registry_needs_of_it() -> None:
    f = Fill("0001.a", "tl:s1:roll:2", P490, -2.0, 1.25, T0, commission=1.3)

    fact = FillFact.of(f)

    assert fact == FillFact("0001.a", "tl:s1:roll:2", 11, -2.0, 1.25, T0, P490)
    assert (fact.strategy_id, fact.purpose) == ("s1", OrderPurpose.ROLL)


def test_a_fill_without_an_order_ref_is_nobody_s() -> None:
    fact = FillFact.of(Fill("0002.a", "", P490, 1.0, 1.0, T0))

    assert fact.order_ref is None
    assert (fact.strategy_id, fact.purpose) == (None, None)


def test_a_fill_by_hand_names_no_strategy_and_no_purpose() -> None:
    fact = fill("manual-3", P490, 1, 1.0, T0)
    assert (fact.strategy_id, fact.purpose) == (None, None)


def test_a_fill_of_an_unresolved_contract_is_refused() -> None:
    unresolved = Contract(SecType.STOCK, "SPY")
    with pytest.raises(AssertionError, match=r"fill 0003\.a has no con_id"):
        FillFact.of(Fill("0003.a", "tl:s1:open:1", unresolved, 1.0, 1.0, T0))


# --- OurFills ------------------------------------------------------------------------------------
def test_our_fills_are_netted_per_strategy_and_contract_in_time_order() -> None:
    t = T0 + timedelta(hours=1)
    new = [
        fill("tl:s1:roll:1", P490, 1, 0.5, t + timedelta(minutes=2), "c"),
        fill("manual-1", P490, 5, 0.5, t, "h"),  # by hand: not ours, wherever it falls
        fill("tl:s1:open:1", P490, -1, 1.5, t + timedelta(minutes=1), "b"),
        fill("tl:s1:open:1", P490, -1, 1.5, t + timedelta(minutes=1), "a"),
        fill("tl:s2:open:1", C510, -1, 1.0, t + timedelta(minutes=3), "d"),
    ]

    ours = OurFills.of(new, [])

    assert ours.net == {"s1": {11: -1}, "s2": {14: -1}}
    assert ours.first == {"s1": t + timedelta(minutes=1), "s2": t + timedelta(minutes=3)}
    assert ours.last == {"s1": t + timedelta(minutes=2), "s2": t + timedelta(minutes=3)}
    assert ours.purposes == {
        "s1": frozenset({OrderPurpose.OPEN, OrderPurpose.ROLL}),
        "s2": frozenset({OrderPurpose.OPEN}),
    }
    assert [f.exec_id for f in ours.of_strategy["s1"]] == ["a", "b", "c"]


def test_past_fills_join_only_strategies_with_new_fills_and_only_once() -> None:
    t = T0 + timedelta(hours=1)
    new = [fill("tl:s1:close:1", P490, 1, 0.5, t, "n1")]
    past = [
        fill("tl:s1:open:1", P490, -1, 1.5, T0, "p1"),
        fill("tl:s1:close:1", P490, 1, 0.5, t, "n1"),  # the same execution, from the lake
        fill("tl:s9:open:1", C510, -1, 1.0, T0, "p9"),  # no new fills: not needed
        fill(None, P485, 1, 1.0, T0, "p0"),
    ]

    ours = OurFills.of(new, past)

    assert {sid: [f.exec_id for f in fs] for sid, fs in ours.of_strategy.items()} == {
        "s1": ["n1", "p1"]
    }
    assert ours.net == {"s1": {11: 1}}


def test_strategies_the_book_may_not_reflect_claim_first_then_by_first_fill() -> None:
    t = T0 + timedelta(hours=1)
    new = [
        fill("tl:c:open:1", P490, -1, 1.0, t, "c"),  # first, but its book row has it
        fill("tl:b:open:1", P490, -1, 1.0, t + timedelta(minutes=1), "b"),  # row older
        fill("tl:a:open:1", P490, -1, 1.0, t + timedelta(minutes=2), "a"),  # not in the book
        fill("tl:d:open:1", P490, -1, 1.0, t + timedelta(minutes=1), "d"),  # tie with b
    ]
    book = {
        "c": record("c", {P490: -1}, at=t),  # written at exactly its last fill
        "b": record("b", {P490: -1}, at=T0),
        "d": record("d", {P490: -1}, at=T0),
    }

    ours = OurFills.of(new, [])

    assert ours.claim_order(book) == ["b", "d", "a", "c"]
    assert ours.new_strategies(book) == ["a"]


def test_new_strategies_come_by_first_fill_then_by_id() -> None:
    t = T0 + timedelta(hours=1)
    new = [
        fill("tl:z:open:1", P490, -1, 1.0, t, "z"),
        fill("tl:y:open:1", P490, -1, 1.0, t + timedelta(minutes=1), "y"),
        fill("tl:x:open:1", P490, -1, 1.0, t + timedelta(minutes=1), "x"),
    ]
    assert OurFills.of(new, []).new_strategies({}) == ["z", "x", "y"]


# --- the credit from the broker's average cost ---------------------------------------------------
def test_the_average_costs_give_the_premium_per_share_per_unit() -> None:
    legs = [HeldLeg(P490, -2), HeldLeg(P485, 2)]
    assert credit_from_cost(legs, {11: 250.0, 12: 150.0}) == 1.0


def test_stock_is_carried_at_its_price_per_share_as_a_debit() -> None:
    assert credit_from_cost([HeldLeg(SPY, 100)], {1: 490.25}) == -490.25
    assert credit_from_cost([HeldLeg(SPY, -100)], {1: 490.25}) == 490.25


def test_a_leg_without_an_average_cost_leaves_the_credit_unknown() -> None:
    legs = [HeldLeg(P490, -1), HeldLeg(P485, 1)]
    assert credit_from_cost(legs, {11: 250.0}) is None


def test_the_cost_credit_is_kept_to_six_places() -> None:
    legs = [HeldLeg(P490, -3)]
    assert credit_from_cost(legs, {11: 123.4567891}) == 1.234568
