"""PortfolioRiskCalculator: beta-weighted greeks per underlying and after a candidate."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from tradelib.domain import Contract, Right, Strategy, StrategyType
from tradelib.errors import RiskInputError
from tradelib.risk import PortfolioRiskCalculator

from .conftest import SPOTS, T0, greeks, held, option, put_spread, spread_greeks, spread_marks


def test_beta_weighted_delta_converts_every_underlying_to_spy_shares(
    calc: PortfolioRiskCalculator,
) -> None:
    qqq_put = option("QQQ", 480)
    iwm_call = option("IWM", 220, Right.CALL)
    positions = [
        held(Contract.stock("SPY"), 100, 600.0),  # 100 SPY shares
        held(qqq_put, -2, 3.0),  # short 2 puts, delta -0.20: +40 QQQ shares
        held(iwm_call, 3, 4.0),  # long 3 calls, delta 0.50: +150 IWM shares
    ]
    risk = calc.calculate(
        positions,
        {qqq_put.key: greeks(-0.20, gamma=0.01, theta=0.05, vega=0.3),
         iwm_call.key: greeks(0.50, gamma=0.02, theta=-0.04, vega=0.2)},
    )  # fmt: skip

    qqq, iwm, spy = risk.underlying("QQQ"), risk.underlying("IWM"), risk.underlying("SPY")
    assert qqq is not None and iwm is not None and spy is not None
    assert qqq.delta == pytest.approx(40.0)
    assert qqq.beta_weighted_delta == pytest.approx(40 * 1.2 * 500 / 600)  # 40.0
    assert iwm.beta_weighted_delta == pytest.approx(150 * 1.1 * 220 / 600)  # 60.5
    assert spy.beta_weighted_delta == pytest.approx(100.0)
    assert risk.beta_weighted_delta == pytest.approx(200.5)
    # gamma, vega, theta scale by multiplier x quantity (short positions flip the sign)
    assert qqq.gamma == pytest.approx(-2.0) and iwm.gamma == pytest.approx(6.0)
    assert risk.vega == pytest.approx(-60.0 + 60.0)
    assert risk.theta == pytest.approx(-10.0 - 12.0)
    # beta-weighted gamma: gamma x (beta x spot / SPY spot)^2
    assert risk.gamma == pytest.approx(-2.0 * 1.0**2 + 6.0 * (1.1 * 220 / 600) ** 2)


def test_risk_capital_is_the_spread_width_minus_the_credit(
    calc: PortfolioRiskCalculator,
) -> None:
    legs = put_spread("SPY", 580)
    marks = spread_marks(legs, credit=1.0)
    positions = [held(leg.contract, leg.ratio * 3, marks[leg.contract.key]) for leg in legs]
    risk = calc.calculate(positions, spread_greeks(legs))
    assert risk.risk_capital == pytest.approx(3 * (5.0 - 1.0) * 100)
    assert risk.underlying("SPY") is not None
    assert risk.underlying("QQQ") is None


def test_with_candidate_shows_the_portfolio_after_entry_and_keeps_the_baseline(
    calc: PortfolioRiskCalculator,
) -> None:
    existing = put_spread("SPY", 580)
    marks = spread_marks(existing)
    before = calc.calculate(
        [held(leg.contract, leg.ratio * 2, marks[leg.contract.key]) for leg in existing],
        spread_greeks(existing),
    )
    candidate = put_spread("QQQ", 480)
    after = calc.with_candidate(
        before, candidate, spread_greeks(candidate), quantity=4, marks=spread_marks(candidate)
    )
    qqq = after.underlying("QQQ")
    assert qqq is not None
    assert qqq.delta == pytest.approx(4 * 100 * (0.20 - 0.12))
    assert after.risk_capital == pytest.approx(before.risk_capital + 4 * 400)
    assert after.baseline is before
    assert after.candidate_underlyings == ("QQQ",) and after.candidate_quantity == 4
    # the calculation is pure: the original portfolio is untouched
    assert before.underlying("QQQ") is None


def test_a_strategy_brings_its_own_legs_and_quantity(calc: PortfolioRiskCalculator) -> None:
    legs = put_spread("IWM", 210, width=3.0)
    strategy = Strategy("s-1", StrategyType.PUT_CREDIT_SPREAD, "IWM", legs, 2, 0.8, T0)
    empty = calc.calculate([], {})
    after = calc.with_candidate(empty, strategy, spread_greeks(legs), marks=spread_marks(legs))
    assert after.candidate_quantity == 2
    assert after.risk_capital == pytest.approx(2 * (3.0 - 1.0) * 100)


def test_missing_inputs_are_errors_not_silent_zeros(calc: PortfolioRiskCalculator) -> None:
    put = option("SPY", 580)
    with pytest.raises(RiskInputError, match="no greeks"):
        calc.calculate([held(put, -1, 2.0)], {})
    with pytest.raises(RiskInputError, match="no beta for DIA"):
        PortfolioRiskCalculator({}, {**SPOTS, "DIA": 440.0}).calculate(
            [held(Contract.stock("DIA"), 10, 440.0)], {}
        )
    legs = put_spread("SPY", 580)
    with pytest.raises(RiskInputError, match="no price"):
        calc.with_candidate(calc.calculate([], {}), legs, spread_greeks(legs))


def test_betas_can_come_from_daily_bars() -> None:
    days = [T0 + timedelta(days=i) for i in range(30)]
    spy = [600.0 * (1 + 0.01 * ((i % 5) - 2)) for i in range(30)]
    # QQQ's daily returns are exactly 1.5x SPY's
    qqq = [500.0]
    for i in range(1, 30):
        qqq.append(qqq[-1] * (1 + 1.5 * (spy[i] / spy[i - 1] - 1)))
    bars = {
        "SPY": pl.DataFrame({"ts": days, "close": spy}),
        "QQQ": pl.DataFrame({"ts": days, "close": qqq}),
    }
    calc = PortfolioRiskCalculator.from_bars(bars, SPOTS, lookback_days=20)
    assert calc.betas["QQQ"] == pytest.approx(1.5)
    assert calc.betas["SPY"] == pytest.approx(1.0)
