"""Shape recognition on its edges (issue 20): equal strikes, the iron butterfly, dust
quantities, mixed expiries and sizes, debit verticals, and which wing and which short pair
when there is a choice."""

from __future__ import annotations

from datetime import date
from itertools import count

from tradelib.domain import Contract, Right, StrategyType
from tradelib.sync import HeldLeg
from tradelib.sync.patterns import classify, group_by_pattern

MAR, APR = date(2026, 3, 20), date(2026, 4, 17)
_ids = count(5000)
ST = StrategyType


def opt(strike: float, right: str, qty: float, expiry: date = MAR) -> HeldLeg:
    return HeldLeg(Contract.option("SPY", expiry, strike, Right(right), con_id=next(_ids)), qty)


def groups(legs: list[HeldLeg]) -> list[tuple[str, list[tuple[float | None, str, float]]]]:
    return [
        (
            g.strategy_type.value,
            [(leg.contract.strike, leg.contract.right.value, leg.quantity) for leg in g.legs],  # type: ignore[union-attr]
        )
        for g in group_by_pattern(legs)
    ]


# --- classify ------------------------------------------------------------------------------------
def test_a_short_straddle_is_a_strangle_with_equal_strikes() -> None:
    assert classify([opt(500, "P", -1), opt(500, "C", -1)]) is ST.SHORT_STRANGLE
    # Crossed (put above call) is not a strangle.
    assert classify([opt(501, "P", -1), opt(500, "C", -1)]) is ST.CUSTOM
    # Two short puts are not a strangle either.
    assert classify([opt(490, "P", -1), opt(480, "P", -1)]) is ST.CUSTOM


def test_an_iron_butterfly_is_not_an_iron_condor() -> None:
    fly = [opt(490, "P", 1), opt(500, "P", -1), opt(500, "C", -1), opt(510, "C", 1)]
    assert classify(fly) is ST.CUSTOM
    condor = [opt(490, "P", 1), opt(500, "P", -1), opt(501, "C", -1), opt(510, "C", 1)]
    assert classify(condor) is ST.IRON_CONDOR


def test_four_legs_that_are_not_two_credit_verticals_are_custom() -> None:
    debit_calls = [opt(490, "P", 1), opt(500, "P", -1), opt(520, "C", 1), opt(530, "C", -1)]
    assert classify(debit_calls) is ST.CUSTOM
    debit_puts = [opt(500, "P", 1), opt(490, "P", -1), opt(520, "C", -1), opt(530, "C", 1)]
    assert classify(debit_puts) is ST.CUSTOM
    three_puts = [opt(490, "P", 1), opt(500, "P", -1), opt(495, "P", 1), opt(530, "C", -1)]
    assert classify(three_puts) is ST.CUSTOM
    three_shorts = [opt(490, "P", -1), opt(500, "P", -1), opt(520, "C", -1), opt(530, "C", 1)]
    assert classify(three_shorts) is ST.CUSTOM


def test_verticals_need_one_right_and_a_credit() -> None:
    assert classify([opt(500, "P", -1), opt(500, "P", 1)]) is ST.CUSTOM  # same strike
    assert classify([opt(500, "C", -1), opt(500, "C", 1)]) is ST.CUSTOM
    assert classify([opt(500, "P", -1), opt(495, "C", 1)]) is ST.CUSTOM  # a risk reversal


def test_dust_quantities_are_not_legs() -> None:
    assert classify([opt(490, "P", -1), opt(485, "P", 1e-12)]) is ST.SHORT_PUT
    assert classify([opt(490, "P", 1e-12)]) is ST.CUSTOM
    assert group_by_pattern([opt(490, "P", 1e-12)]) == []


def test_mixed_expiries_or_sizes_are_custom() -> None:
    assert classify([opt(490, "P", -1), opt(485, "P", 1, APR)]) is ST.CUSTOM
    assert classify([opt(490, "P", -2), opt(485, "P", 1)]) is ST.CUSTOM


def test_stock_futures_and_long_options_alone() -> None:
    stock = HeldLeg(Contract.stock("SPY").with_con_id(1), 100)
    assert classify([stock]) is ST.STOCK
    assert classify([stock, HeldLeg(Contract.stock("QQQ").with_con_id(2), -50)]) is ST.STOCK
    assert classify([stock, opt(490, "P", -1)]) is ST.CUSTOM
    assert classify([opt(490, "P", 2)]) is ST.SINGLE_LEG
    assert classify([opt(520, "C", 1)]) is ST.SINGLE_LEG
    assert classify([]) is ST.CUSTOM


# --- group_by_pattern -----------------------------------------------------------------------------
def test_each_short_takes_the_nearest_wing_on_its_credit_side() -> None:
    legs = [opt(500, "P", -1), opt(480, "P", 1), opt(495, "P", 1), opt(505, "P", 1)]
    assert groups(legs) == [
        ("put_credit_spread", [(495, "P", 1), (500, "P", -1)]),
        ("single_leg", [(480, "P", 1)]),
        ("single_leg", [(505, "P", 1)]),
    ]
    calls = [opt(520, "C", -1), opt(540, "C", 1), opt(525, "C", 1), opt(515, "C", 1)]
    assert groups(calls) == [
        ("call_credit_spread", [(520, "C", -1), (525, "C", 1)]),
        ("single_leg", [(540, "C", 1)]),  # what is left stands alone in the order it came
        ("single_leg", [(515, "C", 1)]),
    ]


def test_the_short_nearest_the_money_pairs_first() -> None:
    # Two short puts share one wing below both: the higher (nearer the money) gets it.
    legs = [opt(500, "P", -1), opt(490, "P", -1), opt(480, "P", 1)]
    assert groups(legs) == [
        ("put_credit_spread", [(480, "P", 1), (500, "P", -1)]),
        ("short_put", [(490, "P", -1)]),
    ]
    calls = [opt(520, "C", -1), opt(530, "C", -1), opt(540, "C", 1)]
    assert groups(calls) == [
        ("call_credit_spread", [(520, "C", -1), (540, "C", 1)]),
        ("short_call", [(530, "C", -1)]),
    ]


def test_an_iron_butterfly_by_hand_is_two_verticals() -> None:
    fly = [opt(490, "P", 1), opt(500, "P", -1), opt(500, "C", -1), opt(510, "C", 1)]
    assert [kind for kind, _ in groups(fly)] == ["put_credit_spread", "call_credit_spread"]


def test_a_straddle_by_hand_is_one_strangle_and_crossed_shorts_stay_apart() -> None:
    assert groups([opt(500, "P", -2), opt(500, "C", -2)]) == [
        ("short_strangle", [(500, "C", -2), (500, "P", -2)])
    ]
    assert [kind for kind, _ in groups([opt(510, "P", -1), opt(500, "C", -1)])] == [
        "short_put",
        "short_call",
    ]


def test_a_condor_forms_with_the_nearest_short_call_above_the_short_put() -> None:
    legs = [
        opt(480, "P", 1),
        opt(490, "P", -1),
        opt(485, "C", -1),  # below the short put: not the condor's call
        opt(520, "C", -1),
        opt(530, "C", 1),
    ]
    assert groups(legs) == [
        ("iron_condor", [(480, "P", 1), (490, "P", -1), (520, "C", -1), (530, "C", 1)]),
        ("short_call", [(485, "C", -1)]),
    ]


def test_unequal_condor_sizes_leave_a_vertical_over() -> None:
    legs = [opt(480, "P", 2), opt(490, "P", -2), opt(520, "C", -1), opt(530, "C", 1)]
    assert groups(legs) == [
        ("iron_condor", [(480, "P", 1), (490, "P", -1), (520, "C", -1), (530, "C", 1)]),
        ("put_credit_spread", [(480, "P", 1), (490, "P", -1)]),
    ]


def test_every_group_names_its_underlying() -> None:
    legs = [opt(490, "P", -1), opt(485, "P", 1), opt(520, "C", -1)]
    assert [g.underlying for g in group_by_pattern(legs)] == ["SPY", "SPY"]


def test_a_short_future_alone_is_a_single_leg_not_a_short_call() -> None:
    future = Contract.future("ES", MAR, 50.0).with_con_id(7)
    assert classify([HeldLeg(future, -1)]) is ST.SINGLE_LEG
    assert classify([HeldLeg(future, 1)]) is ST.SINGLE_LEG


def test_two_shorts_and_a_long_or_two_short_calls_are_custom() -> None:
    assert classify([opt(490, "P", -1), opt(480, "P", -1), opt(485, "P", 1)]) is ST.CUSTOM
    assert classify([opt(510, "C", -1), opt(520, "C", -1)]) is ST.CUSTOM


def test_the_condor_s_short_put_is_the_one_nearest_the_money() -> None:
    legs = [
        opt(480, "P", -1),
        opt(490, "P", -1),
        opt(475, "P", 1),
        opt(510, "C", -1),
        opt(515, "C", 1),
    ]
    assert groups(legs) == [
        ("iron_condor", [(475, "P", 1), (490, "P", -1), (510, "C", -1), (515, "C", 1)]),
        ("short_put", [(480, "P", -1)]),
    ]


def test_the_strangle_s_short_put_is_the_one_nearest_the_money() -> None:
    legs = [opt(480, "P", -1), opt(490, "P", -1), opt(510, "C", -1)]
    assert groups(legs) == [
        ("short_strangle", [(490, "P", -1), (510, "C", -1)]),
        ("short_put", [(480, "P", -1)]),
    ]


def test_a_dust_leg_handed_to_the_grouping_is_skipped_not_the_end() -> None:
    legs = [opt(480, "P", 1e-12), opt(490, "P", -1), opt(485, "P", 1)]
    assert groups(legs) == [("put_credit_spread", [(485, "P", 1), (490, "P", -1)])]


def test_two_shorts_above_one_long_are_not_a_vertical() -> None:
    assert classify([opt(490, "P", -1), opt(495, "P", -1), opt(485, "P", 1)]) is ST.CUSTOM


def test_four_longs_are_not_an_iron_condor() -> None:
    legs = [opt(480, "P", 1), opt(490, "P", 1), opt(520, "C", 1), opt(510, "C", 1)]
    assert classify(legs) is ST.CUSTOM
