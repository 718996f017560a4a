"""The existing book against every portfolio limit, the reductions that fix it and the rolls it
must not make (issue 13, item 6): a book over a limit no longer stays there unseen."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from tradelib.config import TradingConfig
from tradelib.domain import Leg, OptionGreeks, Position, Strategy, StrategyType
from tradelib.risk import (
    BookLimits,
    LimitBreach,
    PortfolioLimitsChecker,
    PortfolioRisk,
    PortfolioRiskCalculator,
    StrategyRisk,
    adds_to_breach,
    check_book,
    measure_book,
    propose_reductions,
    strategy_risks,
)

from .conftest import EXPIRY, T0, account, put_spread, spread_greeks, spread_marks

CFG = TradingConfig()
LIMITS = BookLimits.from_config(CFG, groups=(frozenset({"SPY", "QQQ"}), frozenset({"IWM"})))
TODAY = date(2026, 11, 24)
PCS = StrategyType.PUT_CREDIT_SPREAD


def _spread(sid: str, symbol: str, strike: float, units: int, credit: float = 1.0) -> Strategy:
    legs = put_spread(symbol, strike)
    return Strategy(sid, PCS, symbol, legs, units, credit, T0)


def _book(
    calc: PortfolioRiskCalculator, strategies: Sequence[Strategy]
) -> tuple[PortfolioRisk, tuple[StrategyRisk, ...]]:
    """The portfolio of ``strategies`` (each spread marked at a $1 credit) and each one's risk."""
    marks: dict[str, float] = {}
    greeks: dict[str, OptionGreeks] = {}
    positions: list[Position] = []
    for s in strategies:
        legs = (s.legs[0], s.legs[1])
        marks.update(spread_marks(legs))
        greeks.update(spread_greeks(legs))
        for leg in s.legs:
            m = marks[leg.contract.key]
            q = leg.ratio * s.quantity
            positions.append(Position(leg.contract, q, m * 100, m, q * m * 100))
    portfolio = calc.calculate(positions, greeks)
    return portfolio, strategy_risks(calc, strategies, greeks, marks=marks, today=TODAY)


def _risk(
    sid: str,
    *,
    underlying: str = "SPY",
    units: int = 1,
    delta: float = 0.0,
    capital: float = 400.0,
    pnl: float = 0.0,
    dte: int = 30,
) -> StrategyRisk:
    return StrategyRisk(sid, underlying, units, delta, capital, pnl, dte, ())


# --- check_book ------------------------------------------------------------------------------------
def test_a_book_within_every_limit_has_no_breach(calc: PortfolioRiskCalculator) -> None:
    portfolio, risks = _book(calc, [_spread("S1", "SPY", 580, 10), _spread("I1", "IWM", 210, 10)])
    assert check_book(portfolio, account(), LIMITS, open_strategies=2, strategies=risks) == ()


def test_a_book_over_its_concentration_is_named_though_every_entry_check_passes(
    calc: PortfolioRiskCalculator,
) -> None:
    book = [_spread("S1", "SPY", 580, 40), _spread("S2", "SPY", 570, 20)]  # $24,000 of $50,000
    portfolio, risks = _book(calc, book)
    # An entry on IWM is approved: entry checks only look at what the candidate touches.
    legs = put_spread("IWM", 210)
    after = calc.with_candidate(portfolio, legs, spread_greeks(legs), marks=spread_marks(legs))
    checker = PortfolioLimitsChecker.from_config(CFG)
    assert checker.check(after, account(), open_strategies=2, entries_today=0).approved

    breaches = checker.check_book(portfolio, account(), open_strategies=2, strategies=risks)
    (b,) = breaches
    assert b.limit == "max_underlying_concentration"
    assert (b.measured, b.threshold) == (pytest.approx(0.48), 0.4)
    assert (b.underlyings, b.strategies) == (("SPY",), ("S1", "S2"))
    assert b.reason == (
        "SPY concentration over the limit: 48% > 40% of the risk budget ($24,000 of $50,000)"
    )


def test_every_portfolio_limit_is_checked_on_the_book(calc: PortfolioRiskCalculator) -> None:
    book = [
        _spread("S1", "SPY", 580, 40),
        _spread("Q1", "QQQ", 480, 40),
        _spread("I1", "IWM", 210, 5),
    ]
    portfolio, risks = _book(calc, book)
    breaches = check_book(
        portfolio,
        account(init_margin=60_000),
        BookLimits(
            0.5,
            max_portfolio_delta=200,
            max_underlying_concentration=0.4,
            max_correlated_exposure=0.6,
            groups=LIMITS.groups,
            max_positions=2,
        ),
        open_strategies=3,
        strategies=risks,
    )
    by = {b.limit: b for b in breaches}
    assert set(by) == {
        "max_portfolio_delta",
        "max_correlated_exposure",
        "max_margin_use",
        "max_positions",
    }
    assert by["max_portfolio_delta"].measured == pytest.approx(portfolio.beta_weighted_delta)
    assert by["max_correlated_exposure"].underlyings == ("QQQ", "SPY")
    assert by["max_correlated_exposure"].strategies == ("S1", "Q1")
    assert by["max_correlated_exposure"].measured == pytest.approx(32_000 / 50_000)
    assert by["max_margin_use"].measured == pytest.approx(0.6)
    assert by["max_positions"].reason == "positions over the limit: 3 > 2 open strategies"


def test_correlated_groups_for_the_book_come_from_measured_returns(
    calc: PortfolioRiskCalculator,
) -> None:
    rng = np.random.default_rng(3)
    market = rng.normal(0, 0.01, 61)
    returns = pl.DataFrame(
        {
            "date": [TODAY - timedelta(days=61 - i) for i in range(61)],
            "SPY": market,
            "QQQ": market + rng.normal(0, 0.002, 61),
            "IWM": rng.normal(0, 0.01, 61),
        }
    )
    measured = BookLimits.from_config(CFG, returns=returns)
    assert frozenset({"SPY", "QQQ"}) in measured.groups
    assert frozenset({"IWM"}) in measured.groups
    book = [_spread("S1", "SPY", 580, 40), _spread("Q1", "QQQ", 480, 40)]
    portfolio, risks = _book(calc, book)

    def limits(found: BookLimits) -> set[str]:
        breaches = check_book(portfolio, account(), found, open_strategies=2, strategies=risks)
        return {b.limit for b in breaches}

    assert "max_correlated_exposure" in limits(measured)  # 64% of the budget in {SPY, QQQ}
    # Uncorrelated returns: no group, so the same book is no correlated breach.
    apart = BookLimits.from_config(
        CFG, returns=returns.with_columns(pl.Series("QQQ", rng.normal(0, 0.01, 61)))
    )
    assert "max_correlated_exposure" not in limits(apart)
    # The threshold is risk.correlation_threshold, not a constant.
    strict = TradingConfig(risk={"correlation_threshold": 0.9999})  # type: ignore[arg-type]
    assert frozenset({"SPY", "QQQ"}) not in BookLimits.from_config(strict, returns=returns).groups


# --- strategy risks --------------------------------------------------------------------------------
def test_each_strategy_is_measured_on_its_own(calc: PortfolioRiskCalculator) -> None:
    winner = _spread("W", "QQQ", 480, 3, credit=1.5)  # marked at 1.0: $50 a unit in profit
    (w,) = strategy_risks(
        calc,
        [winner],
        spread_greeks((winner.legs[0], winner.legs[1])),
        marks=spread_marks((winner.legs[0], winner.legs[1])),
        today=TODAY,
    )
    assert (w.strategy_id, w.underlying, w.quantity) == ("W", "QQQ", 3)
    assert w.risk_capital == pytest.approx(3 * 400)
    assert w.unrealized_pnl == pytest.approx(3 * 50)
    assert w.dte == (EXPIRY - TODAY).days
    # 8 shares of QQQ delta per unit, beta 1.2, QQQ 500 vs SPY 600
    assert w.beta_weighted_delta == pytest.approx(3 * 8 * 1.2 * 500 / 600)


# --- proposals -------------------------------------------------------------------------------------
def _concentration(measured: float, *names: str, per_dollar: float = 1 / 50_000) -> LimitBreach:
    return LimitBreach("max_underlying_concentration", measured, 0.4, "", names, (), per_dollar)


def test_the_strategy_that_cuts_the_breach_most_goes_first_with_only_the_units_needed() -> None:
    risks = [
        _risk("small", capital=2_000, units=5),
        _risk("big", capital=16_000, units=40),
        _risk("other", underlying="IWM", capital=30_000, units=10),
    ]
    breach = _concentration(0.48, "SPY")  # $24,000: $4,000 too much
    (r,) = propose_reductions([breach], risks)
    assert (r.strategy_id, r.units, r.quantity, r.limit) == ("big", 10, 40, breach.limit)
    assert r.measured_after == pytest.approx(0.40) and r.cut == pytest.approx(0.08)
    assert not r.closes_all and "close 10 of 40 unit(s) of big" in r.reason


def test_ties_go_to_the_bigger_loss_then_the_nearer_expiry() -> None:
    risks = [
        _risk("far", capital=4_000, units=10, pnl=-300, dte=40),
        _risk("near", capital=4_000, units=10, pnl=-300, dte=31),
        _risk("winning", capital=4_000, units=10, pnl=+200, dte=20),
        _risk("losing", capital=4_000, units=10, pnl=-900, dte=44),
    ]
    breach = _concentration(0.52, "SPY")  # $6,000 over: one whole strategy and half of another
    order = [(r.strategy_id, r.units) for r in propose_reductions([breach], risks)]
    assert order == [("losing", 10), ("near", 5)]


def test_a_delta_breach_is_cut_by_the_strategies_on_its_side_only() -> None:
    risks = [
        _risk("long_delta", delta=+450.0, units=3),
        _risk("short_delta", delta=-200.0, units=2),
        _risk("small_long", delta=+150.0, units=1),
    ]
    breach = LimitBreach("max_portfolio_delta", 700.0, 500.0, "", ("SPY",), ())
    proposals = propose_reductions([breach], risks)
    assert [(r.strategy_id, r.units) for r in proposals] == [("long_delta", 2)]
    assert proposals[0].measured_after == pytest.approx(400.0)


def test_a_close_proposed_for_one_breach_counts_for_the_others() -> None:
    risks = [_risk("spy", capital=20_000, units=20), _risk("qqq", underlying="QQQ", capital=12_000)]
    conc = _concentration(0.45, "SPY")  # $22,500: 2.5k over
    group = LimitBreach("max_correlated_exposure", 0.64, 0.6, "", ("QQQ", "SPY"), (), 1 / 50_000)
    proposals = propose_reductions([group, conc], risks)
    # Concentration is furthest over (12.5% vs 6.7%): 3 units of "spy" ($3,000) also
    # take the group from 64% to 58%, so nothing more is proposed for it.
    assert [(r.strategy_id, r.units, r.limit) for r in proposals] == [
        ("spy", 3, "max_underlying_concentration")
    ]


def test_the_positions_limit_closes_whole_strategies_most_losing_first() -> None:
    risks = [_risk("a", pnl=-10, units=2), _risk("b", pnl=-500, units=4), _risk("c", pnl=50)]
    breach = LimitBreach("max_positions", 3, 2, "", (), ())
    (r,) = propose_reductions([breach], risks)
    assert (r.strategy_id, r.units, r.closes_all) == ("b", 4, True)


def test_nothing_to_propose_without_a_contributor() -> None:
    assert propose_reductions([_concentration(0.5, "SPY")], [_risk("i", underlying="IWM")]) == ()


# --- rolls -----------------------------------------------------------------------------------------
def test_a_roll_that_would_feed_a_breach_is_flagged() -> None:
    spy, iwm = _spread("S1", "SPY", 580, 1), _spread("I1", "IWM", 210, 1)
    conc = (_concentration(0.5, "SPY"),)
    assert adds_to_breach(spy, conc) and adds_to_breach(spy.legs, conc)
    assert not adds_to_breach(iwm, conc)
    delta = (LimitBreach("max_portfolio_delta", -700.0, 500.0, "", (), ()),)
    assert adds_to_breach(spy, delta)  # delta unknown: not shown to help
    assert adds_to_breach(spy, delta, beta_weighted_delta=-50.0)
    assert not adds_to_breach(spy, delta, beta_weighted_delta=+50.0)
    assert not adds_to_breach(_risk("r", delta=+40.0), delta)
    margin = (LimitBreach("max_margin_use", 0.6, 0.5, "", ("SPY",), ()),)
    assert adds_to_breach(iwm, margin)
    positions = (LimitBreach("max_positions", 21, 20, "", (), ()),)
    assert not adds_to_breach(spy, positions) and not adds_to_breach(spy, ())


def test_a_long_only_position_does_not_feed_a_margin_breach() -> None:
    long_put = (Leg(put_spread("SPY", 580)[1].contract, 1),)
    margin = (LimitBreach("max_margin_use", 0.6, 0.5, "", ("SPY",), ()),)
    assert not adds_to_breach(long_put, margin)


# --- measure_book (the dashboard's risk panel) -------------------------------------------------
def test_limit_use_measures_what_check_book_compares_for_every_limit(
    calc: PortfolioRiskCalculator,
) -> None:
    book = [_spread("S1", "SPY", 580, 40), _spread("Q1", "QQQ", 480, 40)]
    portfolio, risks = _book(calc, book)
    limits = BookLimits(
        0.5,
        max_portfolio_delta=200,
        max_underlying_concentration=0.4,
        max_correlated_exposure=0.6,
        groups=LIMITS.groups,
        max_positions=2,
    )
    acct = account(init_margin=60_000)
    uses = {u.limit: u for u in measure_book(portfolio, acct, limits, open_strategies=3)}
    breaches = {
        b.limit: b for b in check_book(portfolio, acct, limits, open_strategies=3, strategies=risks)
    }
    # every limit over its threshold in measure_book is a breach of check_book, same number
    for name, use in uses.items():
        assert (use.use > 1.0) == (name in breaches), name
        if name in breaches:
            assert use.measured == pytest.approx(breaches[name].measured)
    assert uses["max_underlying_concentration"].detail.startswith(("SPY", "QQQ"))
    assert uses["max_correlated_exposure"].detail.startswith("{QQQ, SPY}")
    assert uses["max_positions"].measured == 3.0


def test_an_empty_book_uses_nothing_but_is_still_measured(calc: PortfolioRiskCalculator) -> None:
    portfolio, _ = _book(calc, [])
    uses = {
        u.limit: u
        for u in measure_book(portfolio, account(init_margin=0), LIMITS, open_strategies=0)
    }
    assert uses["max_underlying_concentration"].measured == 0.0
    assert uses["max_underlying_concentration"].detail.startswith("none held")
    assert uses["max_margin_use"].use == 0.0
