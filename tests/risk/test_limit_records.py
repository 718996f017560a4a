"""Each limit's rejection as a value: which check, the number it saw, the limit, the
underlying; and the corners of the budget arithmetic (no budget, an entry that frees margin,
groups that do not concern the candidate)."""

from __future__ import annotations

import pytest

from tradelib.domain import Leg
from tradelib.risk import (
    MaxContractsPerOrder,
    MaxCorrelatedExposure,
    MaxMarginUse,
    MaxNewEntriesPerDay,
    MaxPositions,
    MaxUnderlyingConcentration,
    PortfolioLimitsChecker,
    PortfolioRisk,
    PortfolioRiskCalculator,
    RiskControl,
    RiskRejection,
    RiskVerdict,
)

from .conftest import account, put_spread, spread_greeks, spread_marks


def _check(
    control: RiskControl,
    after: PortfolioRisk,
    *,
    net_liquidation: float = 100_000.0,
    init_margin: float = 0.0,
    open_strategies: int = 0,
    entries_today: int = 0,
) -> RiskVerdict:
    checker = PortfolioLimitsChecker((control,), max_margin_use=0.5)
    return checker.check(
        after,
        account(net_liquidation, init_margin),
        open_strategies=open_strategies,
        entries_today=entries_today,
    )


def _spreads(
    calc: PortfolioRiskCalculator, base: PortfolioRisk, symbol: str, strike: float, units: int
) -> PortfolioRisk:
    """``base`` plus ``units`` put credit spreads (width 5, credit 1: $400 risk each)."""
    legs = put_spread(symbol, strike)
    return calc.with_candidate(
        base, legs, spread_greeks(legs), quantity=units, marks=spread_marks(legs)
    )


def _only(verdict: RiskVerdict) -> RiskRejection:
    (rejection,) = verdict.rejections
    return rejection


def test_count_limits_reject_with_the_count_and_the_limit(calc: PortfolioRiskCalculator) -> None:
    after = _spreads(calc, calc.calculate([], {}), "SPY", 580, 11)
    assert _only(_check(MaxPositions(20), after, open_strategies=20)) == RiskRejection(
        "max_positions", "positions exceeded: 21 > 20 open strategies after entry", 21, 20
    )
    assert _only(_check(MaxNewEntriesPerDay(5), after, entries_today=5)) == RiskRejection(
        "max_new_entries_per_day", "new entries exceeded: 6 > 5 today after entry", 6, 5
    )
    assert _only(_check(MaxContractsPerOrder(10), after)) == RiskRejection(
        "max_contracts_per_order", "contracts per order exceeded: 11 > 10", 11, 10
    )


def test_a_concentration_rejection_names_the_underlying_and_its_share(
    calc: PortfolioRiskCalculator,
) -> None:
    after = _spreads(calc, calc.calculate([], {}), "SPY", 580, 51)  # $20,400 of $50,000
    r = _only(_check(MaxUnderlyingConcentration(0.4), after))
    assert (r.check, r.underlying, r.limit) == ("max_underlying_concentration", "SPY", 0.4)
    assert r.value == pytest.approx(0.408)


def test_without_net_liquidation_every_share_of_the_budget_is_infinite(
    calc: PortfolioRiskCalculator,
) -> None:
    after = _spreads(calc, calc.calculate([], {}), "SPY", 580, 1)
    r = _only(_check(MaxUnderlyingConcentration(0.4), after, net_liquidation=0.0))
    assert r.value == float("inf") and "inf > 40%" in r.reason
    margin = _only(_check(MaxMarginUse(0.5), after, net_liquidation=0.0))
    assert margin.value == float("inf")


def test_a_budget_under_one_dollar_is_still_a_budget(calc: PortfolioRiskCalculator) -> None:
    # $1 of net liquidation: a $0.50 budget, so $400 of risk is 800 times it, not infinite.
    after = _spreads(calc, calc.calculate([], {}), "SPY", 580, 1)
    r = _only(_check(MaxUnderlyingConcentration(0.4), after, net_liquidation=1.0))
    assert r.value == pytest.approx(800.0)
    m = _only(_check(MaxMarginUse(0.5), after, net_liquidation=1.0))
    assert m.value == pytest.approx(400.0)


def test_margin_counts_only_what_the_entry_adds(calc: PortfolioRiskCalculator) -> None:
    held = _spreads(calc, calc.calculate([], {}), "SPY", 580, 40)  # $16,000 already in use
    base = calc.calculate(held.positions, held.greeks)
    after = _spreads(calc, base, "SPY", 580, 1)  # adds $400
    # The account's margin already holds the $16,000: $49,600 + $400 is exactly 50%.
    assert _check(MaxMarginUse(0.5), after, init_margin=49_600).approved
    r = _only(_check(MaxMarginUse(0.5), after, init_margin=49_700))
    assert r == RiskRejection(
        "max_margin_use",
        "margin use exceeded: 50% > 50% of net liquidation after entry ($50,100 of $100,000)",
        pytest.approx(0.501),
        0.5,
    )


def test_an_entry_that_frees_margin_adds_nothing_to_it(calc: PortfolioRiskCalculator) -> None:
    held = _spreads(calc, calc.calculate([], {}), "SPY", 580, 40)
    base = calc.calculate(held.positions, held.greeks)
    short, long = put_spread("SPY", 580)
    closing = (Leg(short.contract, 1), Leg(long.contract, -1))
    after = calc.with_candidate(
        base, closing, spread_greeks((short, long)), quantity=10, marks=spread_marks((short, long))
    )
    assert after.risk_capital < base.risk_capital
    # Already exactly at the limit: buying back ten spreads is allowed (it adds $0).
    assert _check(MaxMarginUse(0.5), after, init_margin=50_000).approved


def test_correlated_groups_of_one_or_untouched_are_not_this_controls_business(
    calc: PortfolioRiskCalculator,
) -> None:
    empty = calc.calculate([], {})
    iwm = _spreads(calc, empty, "IWM", 210, 80)  # $32,000 = 64% of the budget in IWM alone
    base = calc.calculate(iwm.positions, iwm.greeks)
    spy = _spreads(calc, base, "SPY", 580, 1)
    groups = (frozenset({"IWM"}), frozenset({"IWM", "QQQ"}), frozenset({"SPY", "QQQ"}))
    # IWM alone is over 60%, but a group of one is the concentration control's job, and the
    # {IWM, QQQ} group is not touched by a SPY spread: approved.
    assert _check(MaxCorrelatedExposure(0.6, groups), spy).approved
    # The same IWM book, now touched: {IWM, QQQ} is over, found after skipping the others.
    more_iwm = _spreads(calc, base, "IWM", 205, 1)
    r = _only(_check(MaxCorrelatedExposure(0.6, groups), more_iwm))
    assert (r.check, r.underlying, r.limit) == ("max_correlated_exposure", "IWM,QQQ", 0.6)
    assert r.value == pytest.approx(0.65) and r.reason.endswith("($32,500 of $50,000)")
