"""Payoff arithmetic of the strategies we trade, checked against hand-computed values."""

from __future__ import annotations

import math
from datetime import date

import pytest

from tradelib.domain import Contract, Leg, Strategy, StrategyType, expiry_pnl, payoff_profile, utc
from tradelib.errors import ContractError

EXP = date(2026, 12, 31)


def put(strike: float) -> Contract:
    return Contract.option("SPY", EXP, strike, "P")


def call(strike: float) -> Contract:
    return Contract.option("SPY", EXP, strike, "C")


def test_put_credit_spread_profile_matches_hand_computation() -> None:
    legs = [Leg(put(580), -1), Leg(put(575), 1)]
    profile = payoff_profile(legs, credit=1.20)
    assert profile.max_profit == pytest.approx(1.20)
    assert profile.max_loss == pytest.approx(5.0 - 1.20)
    assert profile.breakevens == (pytest.approx(578.80),)


def test_iron_condor_has_two_breakevens_and_bounded_risk() -> None:
    legs = [Leg(put(570), 1), Leg(put(575), -1), Leg(call(625), -1), Leg(call(630), 1)]
    profile = payoff_profile(legs, credit=2.0)
    assert profile.max_profit == pytest.approx(2.0)
    assert profile.max_loss == pytest.approx(3.0)
    assert profile.breakevens == (pytest.approx(573.0), pytest.approx(627.0))


def test_short_strangle_loss_is_unbounded_above() -> None:
    legs = [Leg(put(560), -1), Leg(call(640), -1)]
    profile = payoff_profile(legs, credit=3.0)
    assert math.isinf(profile.max_loss)
    assert profile.max_profit == pytest.approx(3.0)
    assert profile.breakevens == (pytest.approx(557.0), pytest.approx(643.0))


def test_short_put_max_loss_is_strike_minus_credit() -> None:
    profile = payoff_profile([Leg(put(500), -1)], credit=4.0)
    assert profile.max_loss == pytest.approx(496.0)
    assert profile.breakevens == (pytest.approx(496.0),)


def test_expiry_pnl_inside_and_outside_the_wings() -> None:
    legs = [Leg(put(580), -1), Leg(put(575), 1)]
    assert expiry_pnl(legs, 1.2, 600.0) == pytest.approx(1.2)
    assert expiry_pnl(legs, 1.2, 577.0) == pytest.approx(1.2 - 3.0)
    assert expiry_pnl(legs, 1.2, 100.0) == pytest.approx(1.2 - 5.0)


def test_strategy_dollar_figures_scale_with_quantity_and_multiplier() -> None:
    s = Strategy(
        strategy_id="s1",
        strategy_type=StrategyType.PUT_CREDIT_SPREAD,
        underlying="SPY",
        legs=(Leg(put(580), -1), Leg(put(575), 1)),
        quantity=3,
        credit=1.0,
        opened_at=utc(2026, 11, 24, 15),
    )
    assert s.max_profit == pytest.approx(300.0)
    assert s.max_loss == pytest.approx(1200.0)
    assert s.dte(date(2026, 11, 24)) == 37
    assert [leg.contract.strike for leg in s.short_legs] == [580.0]


def test_strategy_rejects_naive_time_and_empty_legs() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Strategy(
            "s",
            StrategyType.SHORT_PUT,
            "SPY",
            (Leg(put(500), -1),),
            1,
            1.0,
            utc(2026, 1, 1).replace(tzinfo=None),
        )
    with pytest.raises(ContractError, match="no legs"):
        Strategy("s", StrategyType.SHORT_PUT, "SPY", (), 1, 1.0, utc(2026, 1, 1))


def test_option_contract_requires_strike_expiry_and_right() -> None:
    from tradelib.domain import SecType

    with pytest.raises(ContractError, match="missing expiry, strike, right"):
        Contract(SecType.OPTION, "SPY")
    with pytest.raises(ContractError, match="strike must be > 0"):
        Contract.option("SPY", EXP, -5, "P")
    assert put(580).key == "SPY 20261231 580 P"
