"""Tick sizes and rounding: the three US option classes, explicit ticks, float edges, credits."""

from __future__ import annotations

import numpy as np
import pytest

from tradelib.errors import PricingInputError
from tradelib.pricing import (
    TickRule,
    aggressive_direction,
    passive_direction,
    round_to_tick,
    tick_rule_for,
    tick_size,
)

PILOT = TickRule.penny_pilot()
NON_PILOT = TickRule.non_pilot()
PENNY = TickRule.all_penny()


def test_symbols_map_to_their_class() -> None:
    assert tick_rule_for("SPY") == PENNY
    assert tick_rule_for("qqq") == PENNY
    assert tick_rule_for("IWM") == PENNY
    assert tick_rule_for("AAPL") == PILOT
    assert tick_rule_for("ZZZZ") == NON_PILOT  # unknown: the coarse grid is valid everywhere
    assert tick_rule_for("ES", min_tick=0.25) == TickRule.fixed(0.25)
    assert tick_rule_for("XYZ", penny_pilot=frozenset({"XYZ"})) == PILOT


@pytest.mark.parametrize(
    ("rule", "prices", "ticks"),
    [
        (PILOT, [0.05, 2.99, 3.00, 3.01, 250.0], [0.01, 0.01, 0.05, 0.05, 0.05]),
        (NON_PILOT, [0.05, 2.99, 3.00, 12.0], [0.05, 0.05, 0.10, 0.10]),
        (PENNY, [0.01, 2.99, 3.00, 40.0], [0.01, 0.01, 0.01, 0.01]),
        (TickRule.fixed(0.25), [0.5, 3.0, 20.0], [0.25, 0.25, 0.25]),
        # 3.00 computed with representation error is still "at $3".
        (PILOT, [0.1 * 30, 3.0 - 1e-12], [0.05, 0.05]),
        # Net credits are sized by magnitude.
        (PILOT, [-2.5, -3.2], [0.01, 0.05]),
    ],
)
def test_tick_size_by_class_and_price(
    rule: TickRule, prices: list[float], ticks: list[float]
) -> None:
    np.testing.assert_array_equal(tick_size(prices, rule), ticks)


@pytest.mark.parametrize(
    ("rule", "price", "nearest", "up", "down"),
    [
        (PILOT, 1.234, 1.23, 1.24, 1.23),
        (PILOT, 3.12, 3.10, 3.15, 3.10),
        (PILOT, 2.994, 2.99, 3.00, 2.99),
        (PILOT, 3.03, 3.05, 3.05, 3.00),
        (NON_PILOT, 1.27, 1.25, 1.30, 1.25),
        (NON_PILOT, 4.04, 4.00, 4.10, 4.00),
        (NON_PILOT, 2.98, 3.00, 3.00, 2.95),
        (PENNY, 7.005, 7.01, 7.01, 7.00),  # a tie goes away from zero
        (TickRule.fixed(0.25), 12.3, 12.25, 12.5, 12.25),
        # Credits: "up" is toward +inf (smaller credit), "down" toward -inf (bigger credit).
        (PILOT, -1.234, -1.23, -1.23, -1.24),
        (PILOT, -3.12, -3.10, -3.10, -3.15),
        (NON_PILOT, -0.07, -0.05, -0.05, -0.10),
    ],
)
def test_rounding_table(
    rule: TickRule, price: float, nearest: float, up: float, down: float
) -> None:
    assert round_to_tick(price, rule, "nearest") == nearest
    assert round_to_tick(price, rule, "up") == up
    assert round_to_tick(price, rule, "down") == down


@pytest.mark.parametrize("direction", ["nearest", "up", "down"])
def test_prices_on_the_grid_survive_float_representation_error(direction: str) -> None:
    # 2.05 is 2.04999999999999982 in binary; 0.1 + 0.2 is 0.30000000000000004.
    on_grid = [2.05, 41 * 0.05, 0.1 + 0.2, 1.15, 4.35, 3.0, 0.0, -2.05, -(0.1 + 0.2)]
    expected = [2.05, 2.05, 0.3, 1.15, 4.35, 3.0, 0.0, -2.05, -0.3]
    got = round_to_tick(on_grid, PILOT, direction)  # type: ignore[arg-type]
    np.testing.assert_array_equal(got, expected)
    assert not np.signbit(got[6])  # no "-0.0" in an order


def test_results_are_clean_decimals() -> None:
    got = round_to_tick(np.arange(0, 200) * 0.05 + 3.0001, NON_PILOT, "down")
    assert all(repr(float(p)) == repr(round(float(p), 2)) for p in got)


def test_arrays_keep_shape_and_nan_stays_nan() -> None:
    got = round_to_tick([[1.234, np.nan], [3.12, -0.5]], PILOT, "up")
    assert got.shape == (2, 2)
    assert np.isnan(got[0, 1])
    np.testing.assert_array_equal(got[1], [3.15, -0.5])


def test_buyers_round_down_to_stay_passive_and_sellers_up() -> None:
    assert passive_direction("BUY") == "down"
    assert aggressive_direction("BUY") == "up"
    assert passive_direction("SELL") == "up"
    assert aggressive_direction("SELL") == "down"
    # A BUY combo at a 1.234 credit (-1.234) stays passive by asking for more credit.
    assert round_to_tick(-1.234, PILOT, passive_direction("BUY")) == -1.24


def test_bad_arguments_are_named() -> None:
    with pytest.raises(PricingInputError, match="direction"):
        round_to_tick(1.0, PILOT, "sideways")  # type: ignore[arg-type]
    with pytest.raises(PricingInputError, match="side"):
        passive_direction("HOLD")  # type: ignore[arg-type]
    with pytest.raises(PricingInputError, match="small"):
        TickRule("bad", 0.0, 0.05)
    with pytest.raises(PricingInputError, match="price"):
        round_to_tick("abc", PILOT)
    with pytest.raises(PricingInputError, match="symbol"):
        tick_rule_for("  ")
