"""Grouping hand-opened legs by shape (pure)."""

from __future__ import annotations

from datetime import date

from tradelib.domain import Contract, Right, StrategyType
from tradelib.sync import HeldLeg
from tradelib.sync.patterns import classify, group_by_pattern

MAR, APR = date(2026, 3, 20), date(2026, 4, 17)
_ids = iter(range(1000, 9999))


def opt(strike: float, right: str, qty: float, expiry: date = MAR, symbol: str = "SPY") -> HeldLeg:
    return HeldLeg(Contract.option(symbol, expiry, strike, Right(right), con_id=next(_ids)), qty)


def shapes(legs: list[HeldLeg]) -> list[tuple[str, list[tuple[float | None, str, float]]]]:
    return [
        (
            g.strategy_type.value,
            [
                (
                    leg.contract.strike,
                    leg.contract.right.value if leg.contract.right else "",
                    leg.quantity,
                )
                for leg in g.legs
            ],
        )
        for g in group_by_pattern(legs)
    ]


def test_four_legs_of_one_expiry_form_an_iron_condor() -> None:
    legs = [opt(480, "P", 1), opt(490, "P", -1), opt(520, "C", -1), opt(530, "C", 1)]
    assert shapes(legs) == [
        ("iron_condor", [(480, "P", 1), (490, "P", -1), (520, "C", -1), (530, "C", 1)])
    ]


def test_verticals_strangles_and_singles_are_told_apart_by_expiry() -> None:
    legs = [
        opt(490, "P", -2),
        opt(485, "P", 2),  # put credit spread, March
        opt(470, "P", -1, APR),
        opt(540, "C", -1, APR),  # short strangle, April
        opt(550, "C", 1),  # a long call alone
        HeldLeg(Contract.stock("SPY").with_con_id(1), 100),
    ]
    assert [kind for kind, _ in shapes(legs)] == [
        "stock",
        "put_credit_spread",
        "single_leg",
        "short_strangle",
    ]


def test_unequal_quantities_leave_the_remainder_as_a_single_leg() -> None:
    legs = [opt(490, "P", -3), opt(485, "P", 1)]
    assert shapes(legs) == [
        ("put_credit_spread", [(485, "P", 1), (490, "P", -1)]),
        ("short_put", [(490, "P", -2)]),
    ]


def test_a_debit_vertical_is_kept_together_as_custom() -> None:
    legs = [opt(500, "C", 1), opt(510, "C", -1)]
    assert classify(legs) is StrategyType.CUSTOM


def test_classify_names_the_shapes_we_trade() -> None:
    assert classify([opt(490, "P", -1)]) is StrategyType.SHORT_PUT
    assert classify([opt(520, "C", -1)]) is StrategyType.SHORT_CALL
    assert classify([opt(490, "P", -1), opt(485, "P", 1)]) is StrategyType.PUT_CREDIT_SPREAD
    assert classify([opt(520, "C", -1), opt(525, "C", 1)]) is StrategyType.CALL_CREDIT_SPREAD
    assert classify([opt(490, "P", -1), opt(520, "C", -1)]) is StrategyType.SHORT_STRANGLE
    assert classify([opt(490, "P", -1), opt(485, "P", 2)]) is StrategyType.CUSTOM
