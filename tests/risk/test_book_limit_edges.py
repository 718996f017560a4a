"""The book checks on their edges: each limit exactly at its threshold (within) and just past
it, the contributors a breach names, tiny budgets, the reductions' unit arithmetic and the
rolls that feed a breach (issue 20: the book-level survivors of the risk mutation run)."""

from __future__ import annotations

import math
from datetime import date

import pytest

from tradelib.config import TradingConfig
from tradelib.domain import AccountSnapshot, Contract, Leg, Right, Strategy, StrategyType
from tradelib.risk import (
    BookLimits,
    LimitBreach,
    LimitUse,
    PortfolioRisk,
    StrategyRisk,
    adds_to_breach,
    check_book,
    measure_book,
    propose_reductions,
)
from tradelib.risk.portfolio import UnderlyingRisk

from .conftest import T0, account, put_spread

GROUP = frozenset({"SPY", "QQQ"})


def _underlying(symbol: str, *, capital: float = 0.0, delta: float = 0.0) -> UnderlyingRisk:
    return UnderlyingRisk(symbol, 100.0, 1.0, delta, delta, 0.0, 0.0, 0.0, 0.0, capital, 1)


def _book(*underlyings: UnderlyingRisk) -> PortfolioRisk:
    """A book measured per underlying (risk capital and beta-weighted delta as given)."""
    return PortfolioRisk("SPY", 600.0, {u.underlying: u for u in underlyings}, (), {})


def _risk(
    sid: str,
    *,
    underlying: str = "SPY",
    units: int = 1,
    delta: float = 0.0,
    capital: float = 0.0,
    pnl: float = 0.0,
    dte: int | None = 30,
    legs: tuple[Leg, ...] = (),
) -> StrategyRisk:
    return StrategyRisk(sid, underlying, units, delta, capital, pnl, dte, legs)


# --- positions ------------------------------------------------------------------------------------
def test_a_book_exactly_at_max_positions_is_no_breach_and_one_more_is() -> None:
    limits = BookLimits(max_margin_use=0.5, max_positions=3)
    risks = (_risk("a"), _risk("b", underlying="QQQ"), _risk("c", underlying="IWM"))
    assert check_book(_book(), account(), limits, open_strategies=3, strategies=risks) == ()
    more = (*risks, _risk("d", underlying="QQQ"))
    (b,) = check_book(_book(), account(), limits, open_strategies=4, strategies=more)
    assert (b.limit, b.measured, b.threshold, b.excess) == ("max_positions", 4, 3, 1)
    assert b.underlyings == ("IWM", "QQQ", "SPY")  # sorted, each once
    assert b.strategies == ("a", "b", "c", "d")
    assert b.reason == "positions over the limit: 4 > 3 open strategies"
    assert b.per_dollar == 0.0


# --- concentration --------------------------------------------------------------------------------
LIMITS = BookLimits(
    max_margin_use=0.5,
    max_underlying_concentration=0.4,
    max_correlated_exposure=0.6,
    groups=(GROUP, frozenset({"IWM"})),
)  # a $50,000 risk budget on $100,000 of net liquidation


def test_concentration_exactly_at_the_limit_is_no_breach_and_a_dollar_over_is() -> None:
    at = _book(_underlying("SPY", capital=20_000))  # 40% of $50,000
    assert check_book(at, account(), LIMITS, open_strategies=1) == ()
    over = _book(_underlying("SPY", capital=20_001), _underlying("IWM", capital=100))
    risks = (_risk("s1", capital=15_000), _risk("i1", underlying="IWM"), _risk("s2"))
    (b,) = check_book(over, account(), LIMITS, open_strategies=3, strategies=risks)
    assert (b.limit, b.measured, b.threshold) == (
        "max_underlying_concentration",
        pytest.approx(0.40002),
        0.4,
    )
    assert (b.underlyings, b.strategies) == (("SPY",), ("s1", "s2"))
    assert b.per_dollar == pytest.approx(1 / 50_000)


def test_an_underlying_without_risk_capital_is_no_concentration() -> None:
    # Long stock or long options: nothing at risk against the budget, however small it is.
    flat = _book(_underlying("SPY", capital=0.0, delta=100.0), _underlying("QQQ", capital=-50.0))
    assert check_book(flat, account(1.0), LIMITS, open_strategies=2) == ()


def test_a_budget_under_a_dollar_still_measures_concentration_as_a_share() -> None:
    # $1 of net liquidation at 50%: a $0.50 budget; $0.10 at risk is 20% of it.
    small = _book(_underlying("SPY", capital=0.1))
    assert check_book(small, account(1.0), LIMITS, open_strategies=1) == ()
    # ... and 50 cents at risk on a $1 budget is over the 40% concentration limit.
    (b,) = check_book(
        _book(_underlying("SPY", capital=0.5)), account(2.0), LIMITS, open_strategies=1
    )
    assert (b.limit, b.measured) == ("max_underlying_concentration", pytest.approx(0.5))


def test_without_a_risk_budget_any_capital_at_risk_breaches_concentration() -> None:
    no_budget = BookLimits(max_margin_use=0.0, max_underlying_concentration=0.4)
    (b,) = check_book(
        _book(_underlying("SPY", capital=0.3)), account(), no_budget, open_strategies=1
    )
    assert b.measured == math.inf and b.per_dollar == math.inf


# --- correlated exposure --------------------------------------------------------------------------
def test_correlated_exposure_exactly_at_the_limit_is_no_breach_and_a_dollar_over_is() -> None:
    at = _book(_underlying("SPY", capital=15_000), _underlying("QQQ", capital=15_000))  # 60%
    assert check_book(at, account(), LIMITS, open_strategies=2) == ()
    over = _book(_underlying("SPY", capital=15_000), _underlying("QQQ", capital=15_001))
    risks = (_risk("q1", underlying="QQQ"), _risk("s1"), _risk("i1", underlying="IWM"))
    (b,) = check_book(over, account(), LIMITS, open_strategies=3, strategies=risks)
    assert (b.limit, b.measured, b.threshold) == (
        "max_correlated_exposure",
        pytest.approx(0.60002),
        0.6,
    )
    assert (b.underlyings, b.strategies) == (("QQQ", "SPY"), ("q1", "s1"))
    assert b.per_dollar == pytest.approx(1 / 50_000)
    assert b.reason == (
        "correlated exposure over the limit: {QQQ, SPY} 60% > 60% of the risk budget "
        "($30,001 of $50,000)"
    )


# --- margin ---------------------------------------------------------------------------------------
def test_a_margin_breach_names_every_underlying_and_each_strategy_with_capital_at_risk() -> None:
    book = _book(_underlying("SPY", capital=400), _underlying("IWM"), _underlying("QQQ"))
    risks = (
        _risk("s1", capital=400),
        _risk("long", underlying="IWM", capital=0.0),
        _risk("cents", underlying="QQQ", capital=0.5),
    )
    (b,) = check_book(
        book, account(init_margin=60_000), BookLimits(0.5), open_strategies=3, strategies=risks
    )
    assert (b.limit, b.measured, b.threshold) == ("max_margin_use", pytest.approx(0.6), 0.5)
    assert b.underlyings == ("IWM", "QQQ", "SPY")
    assert b.strategies == ("s1", "cents")
    assert b.reason == (
        "margin use over the limit: 60% > 50% of net liquidation ($60,000 of $100,000)"
    )


def test_margin_use_on_under_a_dollar_of_net_liquidation_is_still_a_ratio() -> None:
    limits = BookLimits(0.5)
    assert check_book(_book(), account(0.5, init_margin=0.2), limits, open_strategies=0) == ()
    (b,) = check_book(_book(), account(0.5, init_margin=0.4), limits, open_strategies=0)
    assert b.measured == pytest.approx(0.8) and b.per_dollar == pytest.approx(2.0)


# --- delta contributors ---------------------------------------------------------------------------
def test_a_delta_breach_names_only_what_leans_its_way_however_little() -> None:
    book = _book(
        _underlying("SPY", delta=600.0),
        _underlying("IWM", delta=0.0),
        _underlying("QQQ", delta=0.001),
        _underlying("DIA", delta=-20.0),
    )
    risks = (
        _risk("big", delta=600.0),
        _risk("flat", delta=0.0),
        _risk("tiny", underlying="QQQ", delta=0.001),  # x 580 book delta: under one
        _risk("hedge", underlying="DIA", delta=-20.0),
    )
    limits = BookLimits(0.5, max_portfolio_delta=500.0)
    (b,) = check_book(book, account(), limits, open_strategies=4, strategies=risks)
    assert b.underlyings == ("SPY", "QQQ")
    assert b.strategies == ("big", "tiny")


# --- book limits from the config ------------------------------------------------------------------
def test_book_limits_take_every_configured_limit_and_the_groups_given() -> None:
    cfg = TradingConfig()
    limits = BookLimits.from_config(cfg, groups=(GROUP,))
    assert limits.max_portfolio_delta == cfg.risk.max_portfolio_delta
    assert limits.max_positions == cfg.trading_limits.max_positions
    assert limits.max_underlying_concentration == cfg.risk.max_underlying_concentration
    assert limits.max_correlated_exposure == cfg.risk.max_correlated_exposure
    assert GROUP in limits.groups
    assert limits.max_margin_use == cfg.risk.max_margin_use


# --- propose_reductions ---------------------------------------------------------------------------
def _breach(limit: str, measured: float, threshold: float, *names: str) -> LimitBreach:
    return LimitBreach(limit, measured, threshold, "", names, (), 1e-4)  # $10,000 budget


def test_a_breach_one_unit_over_is_answered_with_one_unit() -> None:
    risks = [_risk("a", units=4, capital=4_000)]  # 10% of the budget a unit
    (r,) = propose_reductions([_breach("max_underlying_concentration", 0.48, 0.4, "SPY")], risks)
    assert (r.strategy_id, r.units, r.quantity) == ("a", 1, 4)
    assert r.measured_after == pytest.approx(0.38)


def test_units_closed_for_earlier_breaches_count_unit_by_unit_for_the_later_ones() -> None:
    # Worked furthest over first: concentration (20% over), correlated (18.75%), margin (17.7%).
    risks = [_risk("a", units=4, capital=4_000)]
    breaches = [
        _breach("max_margin_use", 0.73, 0.62, "SPY"),
        _breach("max_correlated_exposure", 0.95, 0.8, "QQQ", "SPY"),
        _breach("max_underlying_concentration", 0.48, 0.4, "SPY"),
    ]
    proposals = propose_reductions(breaches, risks)
    # One unit for concentration leaves the group at 85%: one more unit for it; the two
    # units then take margin use from 73% to 53%, so margin needs nothing more.
    assert [(r.limit, r.units) for r in proposals] == [
        ("max_underlying_concentration", 1),
        ("max_correlated_exposure", 1),
    ]
    assert proposals[1].measured_after == pytest.approx(0.75)


def test_a_strategy_closed_whole_for_one_breach_is_skipped_not_the_end_of_the_search() -> None:
    risks = [
        _risk("whole", units=1, capital=10_000),  # 100% of the budget
        _risk("rest", units=10, capital=5_000),  # 5% a unit
    ]
    proposals = propose_reductions(
        [_breach("max_underlying_concentration", 1.5, 0.4, "SPY")], risks
    )
    assert [(r.strategy_id, r.units) for r in proposals] == [("whole", 1), ("rest", 2)]
    assert proposals[-1].measured_after == pytest.approx(0.4)


def test_a_breach_with_a_zero_limit_is_worked_first() -> None:
    risks = [_risk("long", delta=50.0, units=2), _risk("spy", units=10, capital=5_000)]
    breaches = [
        _breach("max_underlying_concentration", 0.9, 0.4, "SPY"),  # 125% over
        LimitBreach("max_portfolio_delta", 50.0, 0.0, "", ("SPY",), ()),  # infinitely over
    ]
    proposals = propose_reductions(breaches, risks)
    assert [(r.limit, r.strategy_id) for r in proposals] == [
        ("max_portfolio_delta", "long"),
        ("max_underlying_concentration", "spy"),
    ]


def test_the_positions_limit_closes_one_whole_strategy_per_position_over() -> None:
    risks = [_risk("a", pnl=-10, units=2), _risk("b", pnl=-500, units=4), _risk("c", pnl=50)]
    proposals = propose_reductions([LimitBreach("max_positions", 4, 2, "", (), ())], risks)
    assert [(r.strategy_id, r.units, r.measured_after) for r in proposals] == [
        ("b", 4, 3.0),
        ("a", 2, 2.0),
    ]


def test_a_close_on_another_underlying_does_not_count_toward_a_concentration() -> None:
    risks = [
        _risk("iwm", underlying="IWM", pnl=-900, units=2, capital=3_000),
        _risk("spy", units=10, capital=5_000),
    ]
    breaches = [
        LimitBreach("max_positions", 3, 2, "", (), ()),  # 50% over: worked first, closes "iwm"
        _breach("max_underlying_concentration", 0.44, 0.4, "SPY"),
    ]
    proposals = propose_reductions(breaches, risks)
    assert [(r.strategy_id, r.units) for r in proposals] == [("iwm", 2), ("spy", 1)]
    assert proposals[1].measured_after == pytest.approx(0.39)


def test_a_strategy_partly_closed_for_one_breach_offers_only_what_is_left_to_the_next() -> None:
    risks = [_risk("a", units=4, capital=4_000)]  # 10% of the budget a unit
    breaches = [
        LimitBreach("max_positions", 3, 2, "", (), ()),  # 50% over
        _breach("max_underlying_concentration", 0.48, 0.3, "SPY"),  # 60% over: first
    ]
    proposals = propose_reductions(breaches, risks)
    # Two units for concentration leave half a position: the positions limit closes the
    # two units left, not four.
    assert [(r.limit, r.units, r.quantity) for r in proposals] == [
        ("max_underlying_concentration", 2, 4),
        ("max_positions", 2, 4),
    ]
    assert proposals[1].measured_after == pytest.approx(2.0) and proposals[1].closes_all is False


def test_a_proposal_says_what_it_closes_and_what_it_leaves() -> None:
    risks = [_risk("a", units=4, capital=4_000, pnl=-120.0), _risk("b", capital=500, dte=None)]
    (first, second) = propose_reductions(
        [_breach("max_underlying_concentration", 0.48, 0.05, "SPY")], risks
    )
    assert first.reason == (
        "max_underlying_concentration: close 4 of 4 unit(s) of a (SPY, P&L $-120, DTE 30): "
        "0.48 -> 0.08 (limit 0.05)"
    )
    assert second.reason.startswith(
        "max_underlying_concentration: close 1 of 1 unit(s) of b (SPY, P&L $+0, DTE -)"
    )


def test_a_strategy_without_capital_at_risk_is_never_proposed_for_a_concentration() -> None:
    risks = [_risk("long_put", capital=0.0), _risk("iwm", underlying="IWM", capital=5_000)]
    assert (
        propose_reductions([_breach("max_underlying_concentration", 0.5, 0.4, "SPY")], risks) == ()
    )


# --- adds_to_breach -------------------------------------------------------------------------------
DELTA_SHORT = (LimitBreach("max_portfolio_delta", -700.0, 500.0, "", (), ()),)
MARGIN = (LimitBreach("max_margin_use", 0.6, 0.5, "", ("SPY",), ()),)


def test_a_delta_passed_in_overrides_the_strategy_risk_s_own() -> None:
    r = _risk("r", delta=+40.0)
    assert not adds_to_breach(r, DELTA_SHORT)
    assert adds_to_breach(r, DELTA_SHORT, beta_weighted_delta=-50.0)


def test_any_delta_on_the_breach_s_side_feeds_it_and_none_does_not() -> None:
    assert adds_to_breach(_risk("tiny", delta=-0.001), DELTA_SHORT)
    assert not adds_to_breach(_risk("flat", delta=0.0), DELTA_SHORT)


def test_capital_at_risk_counts_as_tying_up_margin_without_short_legs_in_view() -> None:
    assert adds_to_breach(_risk("cents", capital=0.5), MARGIN)
    assert not adds_to_breach(_risk("none", capital=0.0), MARGIN)
    short, _ = put_spread("IWM", 210)
    assert adds_to_breach(_risk("short", underlying="IWM", legs=(short,)), MARGIN)


def test_a_strategy_feeds_a_breach_on_its_underlying_whatever_its_legs_trade_under() -> None:
    # Index options: the strategy is on SPX, its legs trade under the SPXW symbol.
    legs = (Leg(Contract.option("SPXW", date(2026, 12, 24), 5800.0, Right.PUT), -1),)
    spx = Strategy("x1", StrategyType.PUT_CREDIT_SPREAD, "SPX", legs, 1, 1.0, T0)
    conc = (LimitBreach("max_underlying_concentration", 0.5, 0.4, "", ("SPX",), ()),)
    assert adds_to_breach(spx, conc)
    assert not adds_to_breach(spx.legs, conc)


# --- measure_book (the dashboard's risk panel) --------------------------------------------------
ALL = BookLimits(
    max_margin_use=0.5,
    max_portfolio_delta=500.0,
    max_underlying_concentration=0.4,
    max_correlated_exposure=0.6,
    groups=(frozenset({"IWM", "DIA"}), GROUP, frozenset({"XLE"})),
    max_positions=20,
)


def _uses(
    book: PortfolioRisk, acct: AccountSnapshot, limits: BookLimits = ALL, n: int = 3
) -> dict[str, LimitUse]:
    return {u.limit: u for u in measure_book(book, acct, limits, open_strategies=n)}


def test_every_limit_s_use_is_measured_with_its_detail() -> None:
    book = _book(
        _underlying("SPY", capital=20_000, delta=300.0),
        _underlying("QQQ", capital=12_000, delta=-50.0),
        _underlying("IWM", capital=5_000),
    )
    uses = _uses(book, account(init_margin=30_000))
    assert list(uses) == [
        "max_portfolio_delta",
        "max_underlying_concentration",
        "max_correlated_exposure",
        "max_margin_use",
        "max_positions",
    ]
    delta = uses["max_portfolio_delta"]
    assert (delta.measured, delta.threshold) == (250.0, 500.0)
    assert delta.detail == "+250 SPY-equivalent shares (beta-weighted)"
    conc = uses["max_underlying_concentration"]
    assert (conc.measured, conc.threshold) == (pytest.approx(0.4), 0.4)
    assert conc.detail == "SPY: $20,000 of $50,000 risk budget"
    # The group holding the most, though another group is listed first.
    corr = uses["max_correlated_exposure"]
    assert corr.measured == pytest.approx(32_000 / 50_000)
    assert corr.detail == "{QQQ, SPY}: $32,000 of $50,000 risk budget"
    margin = uses["max_margin_use"]
    assert (margin.measured, margin.use) == (pytest.approx(0.3), pytest.approx(0.6))
    assert margin.detail == "$30,000 initial margin of $100,000 net liquidation"
    positions = uses["max_positions"]
    assert (positions.measured, positions.threshold, positions.detail) == (
        3.0,
        20.0,
        "3 open strategies",
    )


def test_limits_not_set_are_not_measured_but_margin_always_is() -> None:
    uses = _uses(_book(_underlying("SPY", capital=100)), account(), BookLimits(0.5))
    assert list(uses) == ["max_margin_use"]


def test_without_a_correlated_group_nothing_is_correlated() -> None:
    limits = BookLimits(0.5, max_correlated_exposure=0.6, groups=(frozenset({"SPY"}),))
    corr = _uses(_book(_underlying("SPY", capital=100)), account(), limits)[
        "max_correlated_exposure"
    ]
    assert corr.measured == 0.0
    assert corr.detail == "{no correlated group}: $0 of $50,000 risk budget"


def test_use_on_tiny_or_no_budgets() -> None:
    spy = _book(_underlying("SPY", capital=0.5))
    # $2 of net liquidation at 50%: a $1 budget; 50 cents at risk is half of it.
    uses = _uses(spy, account(2.0, init_margin=0.2))
    assert uses["max_underlying_concentration"].measured == pytest.approx(0.5)
    assert uses["max_margin_use"].measured == pytest.approx(0.1)
    # $0.50 of net liquidation: margin use is still a ratio.
    assert _uses(spy, account(0.5, init_margin=0.4))["max_margin_use"].measured == pytest.approx(
        0.8
    )
    # No net liquidation: any margin is infinite use; no budget: any risk is infinite use,
    # no risk is none.
    none = _uses(spy, account(0.0, init_margin=1.0))
    assert none["max_margin_use"].measured == math.inf
    assert none["max_underlying_concentration"].measured == math.inf
    no_budget = BookLimits(0.0, max_underlying_concentration=0.4)
    flat = _uses(_book(_underlying("SPY", capital=0.0)), account(), no_budget)
    assert flat["max_underlying_concentration"].measured == 0.0
