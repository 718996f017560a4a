"""Building a strategy's state: P&L, greeks, DTE and quote validity from domain values."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from tradelib.domain import MarketRegime, Quote, new_york
from tradelib.errors import StrategyStateError
from tradelib.rules import MarketState, build_strategy_state

from .scenarios import (
    NOW,
    SPOT,
    iron_condor,
    leg_quotes,
    put_spread,
    short_strangle,
    state_of,
)


def test_pnl_of_a_credit_spread_is_credit_minus_debit_to_close() -> None:
    state = state_of(put_spread(credit=1.0, quantity=2), [0.75, 0.25])
    assert state.marks_valid and state.mark_problems == ()
    assert state.debit_to_close == 0.5
    assert state.pnl == pytest.approx(0.5 * 100 * 2)
    assert state.max_profit == 1.0
    assert state.profit_fraction == 0.5
    assert state.loss_multiple == -0.5  # a profit is a negative loss


def test_losing_condor_reports_loss_as_a_multiple_of_credit() -> None:
    state = state_of(iron_condor(credit=2.0), [4.5, 0.5, 2.25, 0.25])
    assert state.debit_to_close == 6.0
    assert state.loss_multiple == 2.0
    assert state.pnl == pytest.approx(-400.0)


def test_position_greeks_scale_by_ratio_multiplier_and_quantity() -> None:
    state = state_of(
        short_strangle(quantity=3),
        [1.5, 1.5],
        deltas=[-0.20, 0.25],
        gammas=[0.01, 0.02],
    )
    # short put: -1 x -0.20 x 100 x 3 = +60; short call: -1 x 0.25 x 100 x 3 = -75
    assert state.position_delta == pytest.approx(-15.0)
    assert state.position_gamma == pytest.approx(-(0.01 + 0.02) * 300)
    assert state.max_short_delta == 0.25


def test_current_iv_is_the_mean_of_short_legs_and_change_is_relative_to_entry() -> None:
    state = state_of(short_strangle(), [1.5, 1.5], ivs=[0.30, 0.20], entry_iv=0.20)
    assert state.current_iv == pytest.approx(0.25)
    assert state.iv_change == pytest.approx(0.25)


def test_missing_greeks_leave_greek_numbers_unknown_but_pnl_known() -> None:
    state = state_of(put_spread(), [0.75, 0.25], greeks=False)
    assert state.marks_valid and state.pnl is not None
    assert state.position_delta is None and state.position_gamma is None
    assert state.max_short_delta is None and state.current_iv is None and state.iv_change is None


def test_one_stale_leg_makes_marks_invalid_and_pnl_unknown() -> None:
    spread = put_spread()
    stale = leg_quotes(spread, [0.75, 0.25], ts=NOW - timedelta(seconds=60))
    key = spread.legs[1].contract.key
    state = state_of(spread, [0.75, 0.25], replace={1: stale[key]})
    assert not state.marks_valid
    assert state.pnl is None and state.profit_fraction is None and state.loss_multiple is None
    (problem,) = state.mark_problems
    assert problem.startswith(key) and "stale" in problem


@pytest.mark.parametrize(
    ("bid", "ask", "word"),
    [
        (math.nan, 1.0, "NaN"),
        (-1.0, -1.0, "-1"),
        (1.2, 1.0, "crossed"),
    ],
)
def test_bad_quotes_are_named_in_the_problems(bid: float, ask: float, word: str) -> None:
    spread = put_spread()
    bad = Quote(spread.legs[0].contract, NOW, bid=bid, ask=ask)
    state = state_of(spread, [0.75, 0.25], replace={0: bad})
    assert not state.marks_valid and word in state.mark_problems[0]


def test_a_missing_quote_is_a_problem_too() -> None:
    state = state_of(put_spread(), [0.75, 0.25], replace={0: None})
    assert not state.marks_valid and "no quote" in state.mark_problems[0]


def test_a_zero_bid_on_a_far_wing_is_a_valid_mark() -> None:
    spread = put_spread()
    wing = Quote(spread.legs[1].contract, NOW, bid=0.0, ask=0.05)
    state = state_of(spread, [0.75, 0.25], replace={1: wing})
    assert state.marks_valid and state.debit_to_close == pytest.approx(0.75 - 0.025)


def test_dte_counts_new_york_calendar_days() -> None:
    spread = put_spread(dte=30)
    # 23:30 in New York is already tomorrow in UTC; DTE must not drop a day early.
    late = new_york(2026, 11, 24, 23, 30)
    assert late.astimezone(UTC).day == 25
    state = state_of(spread, [0.75, 0.25], now=late, quote_ts=late)
    assert state.dte == 30 and state.today.day == 24


def test_a_missing_or_nonsense_spot_is_unknown() -> None:
    assert state_of(put_spread(), [0.75, 0.25], spot=math.nan).spot is None
    assert state_of(put_spread(), [0.75, 0.25], spot=0.0).spot is None


def test_quotes_may_be_given_as_a_list() -> None:
    spread = put_spread()
    quotes = list(leg_quotes(spread, [0.75, 0.25]).values())
    state = build_strategy_state(spread, quotes, SPOT, NOW)
    assert state.marks_valid and state.debit_to_close == 0.5


def test_a_naive_time_is_refused_with_the_strategy_named() -> None:
    spread = put_spread()
    with pytest.raises(StrategyStateError, match="s1"):
        build_strategy_state(spread, {}, SPOT, datetime(2026, 11, 24, 16))


def test_inputs_summary_is_flat_and_rounded() -> None:
    state = state_of(put_spread(), [0.75, 0.25])
    assert state.inputs["profit_fraction"] == 0.5
    assert state.inputs["strategy_type"] == "put_credit_spread"
    assert all(not isinstance(v, dict | list) for v in state.inputs.values())


def test_market_state_requires_an_aware_time() -> None:
    with pytest.raises(ValueError, match=r"MarketState\.ts"):
        MarketState(datetime(2026, 11, 24), regime=MarketRegime.NORMAL)
