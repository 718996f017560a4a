"""The existing book exactly on each portfolio limit (within it) and just past it (a breach
with its numbers and contributors)."""

from __future__ import annotations

import pytest

from tradelib.domain import Contract
from tradelib.risk import BookLimits, PortfolioRiskCalculator, StrategyRisk, check_book

from .conftest import account, held

SPY = Contract.stock("SPY")
LIMITS = BookLimits(max_margin_use=0.5, max_portfolio_delta=500.0)


def _risk(sid: str, delta: float) -> StrategyRisk:
    return StrategyRisk(sid, "SPY", 1, delta, 0.0, 0.0, 30, ())


def test_book_delta_exactly_at_the_limit_is_no_breach(calc: PortfolioRiskCalculator) -> None:
    for shares in (500, -500):
        portfolio = calc.calculate([held(SPY, shares, 600.0)], {})
        assert check_book(portfolio, account(), LIMITS, open_strategies=1) == ()


def test_book_delta_one_share_over_names_the_strategies_adding_to_it(
    calc: PortfolioRiskCalculator,
) -> None:
    portfolio = calc.calculate([held(SPY, 501, 600.0)], {})
    risks = (_risk("long-a", 300.0), _risk("short-b", -100.0), _risk("long-c", 301.0))
    (b,) = check_book(portfolio, account(), LIMITS, open_strategies=3, strategies=risks)
    assert (b.limit, b.measured, b.threshold) == ("max_portfolio_delta", pytest.approx(501), 500)
    assert (b.underlyings, b.strategies) == (("SPY",), ("long-a", "long-c"))
    assert b.reason == "book delta over the limit: +501 beyond +-500 SPY-equivalent shares"
    assert b.excess == pytest.approx(1)


def test_margin_use_exactly_at_the_limit_is_no_breach_and_just_over_is(
    calc: PortfolioRiskCalculator,
) -> None:
    empty = calc.calculate([], {})
    margin = BookLimits(max_margin_use=0.5)
    assert check_book(empty, account(init_margin=50_000), margin, open_strategies=0) == ()
    (b,) = check_book(empty, account(init_margin=50_001), margin, open_strategies=0)
    assert (b.limit, b.measured, b.threshold) == ("max_margin_use", pytest.approx(0.50001), 0.5)
    assert b.per_dollar == pytest.approx(1 / 100_000)


def test_without_net_liquidation_margin_use_is_infinite(calc: PortfolioRiskCalculator) -> None:
    empty = calc.calculate([], {})
    (b,) = check_book(
        empty, account(0.0, init_margin=1.0), BookLimits(max_margin_use=0.5), open_strategies=0
    )
    assert b.limit == "max_margin_use" and b.measured == float("inf")
