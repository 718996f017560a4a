"""Each portfolio limit refuses with its reason, and approves just under."""

from __future__ import annotations

import pytest

from tradelib.config import TradingConfig
from tradelib.domain import Contract, Leg
from tradelib.lake import Lake
from tradelib.risk import (
    MaxContractsPerOrder,
    MaxCorrelatedExposure,
    MaxMarginUse,
    MaxNewEntriesPerDay,
    MaxPortfolioDelta,
    MaxPositions,
    MaxUnderlyingConcentration,
    PortfolioLimitsChecker,
    PortfolioRisk,
    PortfolioRiskCalculator,
    RiskControl,
    RiskVerdict,
)
from tradelib.stores.risk import read_rejections, record_rejections

from .conftest import T0, account, held, put_spread, spread_greeks, spread_marks

SPY_STOCK = Contract.stock("SPY")


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


def _with_spreads(
    calc: PortfolioRiskCalculator, base: PortfolioRisk, symbol: str, strike: float, units: int
) -> PortfolioRisk:
    """``base`` plus ``units`` put credit spreads (width 5, credit 1: $400 risk each)."""
    legs = put_spread(symbol, strike)
    return calc.with_candidate(
        base, legs, spread_greeks(legs), quantity=units, marks=spread_marks(legs)
    )


def _with_spy_shares(calc: PortfolioRiskCalculator, shares: int) -> PortfolioRisk:
    empty = calc.calculate([], {})
    return calc.with_candidate(empty, [Leg(SPY_STOCK, shares)], {}, marks={SPY_STOCK.key: 600.0})


# --- portfolio delta ------------------------------------------------------------------------


def test_delta_over_the_limit_is_refused_with_the_numbers(calc: PortfolioRiskCalculator) -> None:
    verdict = _check(MaxPortfolioDelta(500), _with_spy_shares(calc, 612))
    assert not verdict.approved
    (rejection,) = verdict.rejections
    assert rejection.check == "max_portfolio_delta"
    assert rejection.reason.startswith("delta exceeded: +612 > 500 after entry")
    assert (rejection.value, rejection.limit) == (pytest.approx(612), 500)


def test_delta_just_under_the_limit_is_approved(calc: PortfolioRiskCalculator) -> None:
    assert _check(MaxPortfolioDelta(500), _with_spy_shares(calc, 499)).approved


def test_short_delta_counts_too_but_an_entry_that_reduces_a_breach_is_allowed(
    calc: PortfolioRiskCalculator,
) -> None:
    short = _with_spy_shares(calc, -700)
    assert "delta exceeded: -700 > 500" in _check(MaxPortfolioDelta(500), short).reason
    base = calc.calculate(short.positions, {})
    reduced = calc.with_candidate(base, [Leg(SPY_STOCK, 100)], {}, marks={SPY_STOCK.key: 600.0})
    assert _check(MaxPortfolioDelta(500), reduced).approved  # -600: still over, but better


# --- concentration and correlated exposure -------------------------------------------------------


def test_one_underlying_over_its_share_of_the_risk_budget_is_refused(
    calc: PortfolioRiskCalculator,
) -> None:
    empty = calc.calculate([], {})
    # budget = 50% x $100k = $50k; 40% of it = $20k = 50 spreads at $400
    assert _check(MaxUnderlyingConcentration(0.4), _with_spreads(calc, empty, "SPY", 580, 50))
    verdict = _check(MaxUnderlyingConcentration(0.4), _with_spreads(calc, empty, "SPY", 580, 51))
    (rejection,) = verdict.rejections
    assert rejection.underlying == "SPY"
    assert rejection.reason == (
        "SPY concentration exceeded: 41% > 40% of the risk budget after entry ($20,400 of $50,000)"
    )


def test_a_correlated_group_over_its_share_is_refused_even_when_each_member_is_within(
    calc: PortfolioRiskCalculator,
) -> None:
    spy = calc.calculate([], {})
    spy = _with_spreads(calc, spy, "SPY", 580, 40)  # $16,000
    base = calc.calculate(spy.positions, spy.greeks)
    control = MaxCorrelatedExposure(0.6, (frozenset({"SPY", "QQQ"}), frozenset({"IWM"})))
    assert _check(control, _with_spreads(calc, base, "QQQ", 480, 35)).approved  # $30,000 = 60%
    verdict = _check(control, _with_spreads(calc, base, "QQQ", 480, 36))  # $30,400
    (rejection,) = verdict.rejections
    assert rejection.check == "max_correlated_exposure"
    assert rejection.reason.startswith(
        "correlated exposure exceeded: {QQQ, SPY} 61% > 60% of the risk budget after entry"
    )
    # an uncorrelated underlying is not held against the group
    assert _check(control, _with_spreads(calc, base, "IWM", 210, 36)).approved


# --- counts and margin ----------------------------------------------------------------------------


def test_margin_use_after_entry_over_the_limit_is_refused(calc: PortfolioRiskCalculator) -> None:
    empty = calc.calculate([], {})
    # $20k in use already; the limit (50% of $100k) leaves room for $30k = 75 spreads
    ok = _with_spreads(calc, empty, "SPY", 580, 75)
    assert _check(MaxMarginUse(0.5), ok, init_margin=20_000).approved
    over = _with_spreads(calc, empty, "SPY", 580, 76)
    verdict = _check(MaxMarginUse(0.5), over, init_margin=20_000)
    assert verdict.reason == (
        "margin use exceeded: 50% > 50% of net liquidation after entry ($50,400 of $100,000)"
    )
    assert verdict.rejections[0].value == pytest.approx(0.504)


def test_position_count_entries_per_day_and_order_size_are_capped(
    calc: PortfolioRiskCalculator,
) -> None:
    after = _with_spreads(calc, calc.calculate([], {}), "SPY", 580, 11)
    assert _check(MaxPositions(20), after, open_strategies=19).approved
    assert (
        _check(MaxPositions(20), after, open_strategies=20).reason
        == "positions exceeded: 21 > 20 open strategies after entry"
    )
    assert _check(MaxNewEntriesPerDay(5), after, entries_today=4).approved
    assert (
        _check(MaxNewEntriesPerDay(5), after, entries_today=5).reason
        == "new entries exceeded: 6 > 5 today after entry"
    )
    assert _check(MaxContractsPerOrder(11), after).approved
    assert _check(MaxContractsPerOrder(10), after).reason == "contracts per order exceeded: 11 > 10"


# --- the checker as configured -----------------------------------------------------------------------


def test_the_configured_checker_runs_every_control_and_approves_a_modest_entry(
    calc: PortfolioRiskCalculator,
) -> None:
    checker = PortfolioLimitsChecker.from_config(
        TradingConfig(), groups=[frozenset({"SPY", "QQQ", "IWM"})]
    )
    after = _with_spreads(calc, calc.calculate([], {}), "SPY", 580, 2)
    verdict = checker.check(after, account(), open_strategies=3, entries_today=1)
    assert verdict.approved and verdict.reason == "approved"
    assert set(verdict.checks) == {
        "max_portfolio_delta",
        "max_underlying_concentration",
        "max_correlated_exposure",
        "max_margin_use",
        "max_positions",
        "max_new_entries_per_day",
        "max_contracts_per_order",
    }


def test_rejections_are_stored_once_per_candidate_and_check(
    calc: PortfolioRiskCalculator, lake: Lake
) -> None:
    checker = PortfolioLimitsChecker.from_config(TradingConfig())
    holdings = [held(SPY_STOCK, 420, 600.0)]
    base = calc.calculate(holdings, {})
    after = _with_spreads(calc, base, "SPY", 580, 12)  # 12 > 10 contracts, delta +516
    verdict = checker.check(after, account(1_000_000), open_strategies=20, entries_today=0)
    assert {r.check for r in verdict.rejections} == {
        "max_portfolio_delta",
        "max_positions",
        "max_contracts_per_order",
    }
    for _ in range(2):  # a re-run refusing the same candidate adds nothing
        n = record_rejections(
            lake, verdict, candidate_id="SPY-pcs-1", strategy_type="put_credit_spread", ts=T0,
            underlying="SPY",
        )  # fmt: skip
        assert n == 3
    stored = read_rejections(lake)
    assert stored.height == 3
    assert set(stored["check"]) == {r.check for r in verdict.rejections}
    assert stored.filter(stored["check"] == "max_positions")["reason"].item() == (
        "positions exceeded: 21 > 20 open strategies after entry"
    )
    assert (
        record_rejections(lake, RiskVerdict(), candidate_id="x", strategy_type="short_put", ts=T0)
        == 0
    )


# --- exactly on the limits ---------------------------------------------------------------------


def test_delta_exactly_at_the_limit_is_approved_either_way(calc: PortfolioRiskCalculator) -> None:
    assert _check(MaxPortfolioDelta(500), _with_spy_shares(calc, 500)).approved
    assert _check(MaxPortfolioDelta(500), _with_spy_shares(calc, -500)).approved


def test_one_share_over_the_delta_limit_is_refused_either_way(
    calc: PortfolioRiskCalculator,
) -> None:
    assert (
        "delta exceeded: +501 > 500"
        in _check(MaxPortfolioDelta(500), _with_spy_shares(calc, 501)).reason
    )
    assert (
        "delta exceeded: -501 > 500"
        in _check(MaxPortfolioDelta(500), _with_spy_shares(calc, -501)).reason
    )


def test_an_entry_that_leaves_a_breach_as_large_as_before_is_refused(
    calc: PortfolioRiskCalculator,
) -> None:
    # -600 before, +600 after: the breach is no smaller, so it is not a reduction.
    short = _with_spy_shares(calc, -600)
    base = calc.calculate(short.positions, {})
    flipped = calc.with_candidate(base, [Leg(SPY_STOCK, 1200)], {}, marks={SPY_STOCK.key: 600.0})
    assert flipped.beta_weighted_delta == pytest.approx(600)
    assert not _check(MaxPortfolioDelta(500), flipped).approved


def test_the_last_allowed_position_and_entry_of_the_day_are_approved(
    calc: PortfolioRiskCalculator,
) -> None:
    after = _with_spreads(calc, calc.calculate([], {}), "SPY", 580, 10)
    assert _check(MaxPositions(20), after, open_strategies=19).approved  # 20th of 20
    assert not _check(MaxPositions(20), after, open_strategies=20).approved
    assert _check(MaxNewEntriesPerDay(5), after, entries_today=4).approved  # 5th of 5
    assert _check(MaxContractsPerOrder(10), after).approved  # exactly 10 units
