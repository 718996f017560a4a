"""Near-duplicate shapes and entry costs at their corners: short legs only, the earliest
expiry, expiries one day apart, no shorts, no listed strikes, the default expiry window."""

from __future__ import annotations

from datetime import date

import numpy as np

from tradelib.config import TradingConfig
from tradelib.domain import Contract, Leg, Right, StrategyType
from tradelib.entry.edge import EntryCosts, StrategyShape, strikes_apart

E1, E2 = date(2026, 12, 31), date(2027, 1, 1)
GRID = {Right.PUT: np.array([90.0, 95.0, 100.0, 105.0]), Right.CALL: np.array([105.0, 110.0])}


def _put(strike: float, expiry: date = E1) -> Contract:
    return Contract.option("SPY", expiry, strike, Right.PUT)


def _spread(short: float, long: float, expiry: date = E1, label: str = "c") -> StrategyShape:
    legs = (Leg(_put(short, expiry), -1), Leg(_put(long, expiry), 1))
    return StrategyShape.of("SPY", StrategyType.PUT_CREDIT_SPREAD, legs, label)


def test_a_shape_keeps_only_the_short_legs_and_the_earliest_expiry() -> None:
    legs = (
        Leg(_put(100.0, E2), -1),
        Leg(_put(95.0, E1), 1),  # long: not a short
        Leg(Contract.stock("SPY"), -100),  # short but no strike or right: not an option short
    )
    shape = StrategyShape.of("SPY", StrategyType.CUSTOM, legs, "x")
    assert shape.shorts == ((Right.PUT, 100.0),)
    assert (shape.underlying, shape.expiry, shape.label) == ("SPY", E1, "x")
    assert shape.describe_shorts() == "100P"
    assert StrategyShape.of("SPY", StrategyType.CUSTOM, (), "y").expiry is None


def test_describe_shorts_joins_with_a_slash_or_says_there_is_none() -> None:
    legs = (Leg(_put(95.0), -1), Leg(Contract.option("SPY", E1, 110.0, Right.CALL), -1))
    assert StrategyShape.of("SPY", StrategyType.SHORT_STRANGLE, legs, "s").describe_shorts() == (
        "110C/95P"  # sorted by right ("C" before "P"), then strike
    )
    long_only = StrategyShape.of("SPY", StrategyType.CUSTOM, (Leg(_put(95.0), 1),), "l")
    assert long_only.describe_shorts() == "no short leg"


def test_strikes_apart_counts_listed_strikes_and_respects_the_expiry_window() -> None:
    a, b = _spread(100.0, 95.0), _spread(90.0, 85.0)
    assert strikes_apart(a, b, GRID) == 2
    next_day = _spread(100.0, 95.0, expiry=E2)
    assert strikes_apart(a, next_day, GRID) is None  # default window: the same expiry only
    assert strikes_apart(a, next_day, GRID, expiry_days=1) == 0
    assert strikes_apart(a, next_day, GRID, expiry_days=0) is None


def test_strikes_apart_is_none_without_shorts_grid_or_expiry() -> None:
    a = _spread(100.0, 95.0)
    no_shorts = StrategyShape.of("SPY", StrategyType.PUT_CREDIT_SPREAD, (Leg(_put(95.0), 1),), "n")
    assert strikes_apart(no_shorts, no_shorts, GRID) is None
    assert strikes_apart(a, a, {Right.PUT: np.array([])}) is None
    assert strikes_apart(a, a, {Right.CALL: GRID[Right.CALL]}) is None
    undated = StrategyShape("SPY", StrategyType.PUT_CREDIT_SPREAD, None, a.shorts, "u")
    assert strikes_apart(a, undated, GRID, expiry_days=400) is None
    assert strikes_apart(undated, undated, GRID) == 0  # the same (unknown) expiry


def test_slippage_is_zero_unless_mid_is_better_than_natural() -> None:
    costs = EntryCosts(slippage_fraction=0.5)
    assert costs.slippage(1.25, 1.00) == 0.125
    assert costs.slippage(1.00, 1.00) == 0.0
    assert costs.slippage(1.00, 1.20) == 0.0
    assert costs.slippage(float("inf"), 1.0) == 0.0


def test_costs_come_from_the_strategies_section() -> None:
    cfg = TradingConfig().with_overrides({"strategies.entry_quantity": 3}).strategies
    costs = EntryCosts.from_config(cfg)
    assert costs.quantity == 3
    assert costs.slippage_fraction == cfg.slippage_fraction
