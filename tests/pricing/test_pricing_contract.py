"""What the pricing front doors promise beyond the numbers (issue 20: survivors of the first
pricing mutation run): every bad-input code on its own, the reason-code boundaries exactly at
their thresholds, int8 codes, no floating-point warnings, errors that name the argument and
say what is wrong, and the solver's iteration counts."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from tradelib.errors import PricingInputError
from tradelib.pricing import (
    IVCode,
    PriceCode,
    TickRule,
    bs_greeks,
    bs_price,
    implied_vol,
    iv_and_greeks,
    passive_direction,
    price_codes,
    round_to_tick,
    tick_rule_for,
)
from tradelib.pricing.implied_vol import solver_iterations
from tradelib.pricing.ticks import tick_size

# spot, strike, t, vol, rate, div_yield: a three-month at-the-money option
ATM = [100.0, 100.0, 0.25, 0.2, 0.03, 0.01]
MARKET = ["spot", "strike", "t", "vol", "rate", "div_yield"]


def _with(name: str, value: float) -> list[float]:
    args = list(ATM)
    args[MARKET.index(name)] = value
    return args


# --- price codes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", MARKET)
def test_an_infinite_input_alone_is_bad_input(name: str) -> None:
    assert int(price_codes(*_with(name, np.inf), True)) == PriceCode.BAD_INPUT


@pytest.mark.parametrize(
    ("name", "value"), [("spot", 0.0), ("strike", 0.0), ("t", -1e-9), ("vol", 0.0)]
)
def test_each_out_of_domain_input_alone_is_bad_input(name: str, value: float) -> None:
    assert int(price_codes(*_with(name, value), True)) == PriceCode.BAD_INPUT


@pytest.mark.parametrize("name", ["rate", "div_yield"])
def test_a_rate_times_time_of_exactly_700_still_prices(name: str) -> None:
    args = _with(name, 700.0)
    args[2] = 1.0
    assert int(price_codes(*args, False)) == PriceCode.OK
    assert np.isfinite(bs_price(*args, False))


def test_vol_times_root_time_exactly_at_the_floor_still_prices() -> None:
    args = (100.0, 100.0, 1.0, 1e-12, 0.0, 0.0, True)  # vol x sqrt(t) == 1e-12 exactly
    assert int(price_codes(*args)) == PriceCode.OK
    assert np.isfinite(bs_price(*args))


def test_a_degenerate_vol_is_judged_by_vol_times_root_time() -> None:
    # 1e-10 x sqrt(1e-6) = 1e-13 is under the floor although 1e-10 / sqrt(1e-6) is not.
    assert int(price_codes(100.0, 100.0, 1e-6, 1e-10, 0.0, 0.0, True)) == PriceCode.DEGENERATE_VOL


def test_codes_are_int8_of_the_broadcast_shape() -> None:
    codes = price_codes([[100.0, 0.0]], 100.0, 0.25, 0.2, 0.0, 0.0, True)
    assert codes.dtype == np.int8 and codes.shape == (1, 2)
    assert codes.tolist() == [[PriceCode.OK, PriceCode.BAD_INPUT]]


def test_infinite_inputs_raise_no_floating_point_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # 0 x inf and inf - inf inside: NaN out, quietly
        assert int(price_codes(np.inf, 100.0, np.inf, 0.2, 0.0, 0.0, True)) == PriceCode.BAD_INPUT
        assert np.isnan(round_to_tick(np.inf, TickRule.penny_pilot()))


# --- errors name the argument -------------------------------------------------------------------
@pytest.mark.parametrize("name", MARKET)
def test_a_non_numeric_market_input_is_named(name: str) -> None:
    args: list[object] = list(ATM)
    args[MARKET.index(name)] = "x"
    message = f"bad pricing input '{name}': not numeric"
    for price in (bs_price, bs_greeks, price_codes):
        with pytest.raises(PricingInputError, match=f"^{re.escape(message)}"):
            price(*args, True)  # type: ignore[operator]


@pytest.mark.parametrize("name", ["price", *[n for n in MARKET if n != "vol"]])
def test_a_non_numeric_solver_input_is_named(name: str) -> None:
    values = {"price": 2.5, **dict(zip(MARKET, ATM, strict=True))}
    values[name] = "x"  # type: ignore[assignment]
    args = [values[n] for n in ("price", "spot", "strike", "t", "rate", "div_yield")]
    message = f"bad pricing input '{name}': not numeric"
    for solve in (implied_vol, iv_and_greeks, solver_iterations):
        with pytest.raises(PricingInputError, match=f"^{re.escape(message)}"):
            solve(*args, True)  # type: ignore[arg-type]


def test_a_non_boolean_flag_of_the_solver_is_named() -> None:
    for solve in (implied_vol, iv_and_greeks, solver_iterations):
        with pytest.raises(PricingInputError, match=r"^bad pricing input 'is_call': expected bool"):
            solve(2.5, 100.0, 100.0, 0.25, 0.03, 0.0, "C")  # type: ignore[arg-type]


def _says(message: str) -> str:
    return f"^{re.escape(message)}$"


def test_tick_errors_say_what_is_wrong() -> None:
    with pytest.raises(
        PricingInputError,
        match=_says("bad pricing input 'side': expected 'BUY' or 'SELL', got 'HOLD'"),
    ):
        passive_direction("HOLD")  # type: ignore[arg-type]
    with pytest.raises(
        PricingInputError,
        match=_says(
            "bad pricing input 'direction': expected 'nearest', 'up' or 'down', got 'sideways'"
        ),
    ):
        round_to_tick(1.0, TickRule.penny_pilot(), "sideways")  # type: ignore[arg-type]
    with pytest.raises(PricingInputError, match=_says("bad pricing input 'symbol': empty symbol")):
        tick_rule_for("  ")
    with pytest.raises(
        PricingInputError,
        match=_says(
            "bad pricing input 'price': not numeric (could not convert string to float: 'abc')"
        ),
    ):
        round_to_tick("abc", TickRule.penny_pilot())


@pytest.mark.parametrize(
    ("small", "large", "threshold", "message"),
    [
        (0.0, 0.05, 3.0, "bad pricing input 'TickRule.small': must be > 0, got 0.0"),
        (0.01, -0.05, 3.0, "bad pricing input 'TickRule.large': must be > 0, got -0.05"),
        (0.01, 0.05, -1.0, "bad pricing input 'TickRule.threshold': must be >= 0, got -1.0"),
    ],
)
def test_a_bad_tick_rule_says_which_field(
    small: float, large: float, threshold: float, message: str
) -> None:
    with pytest.raises(PricingInputError, match=_says(message)):
        TickRule("bad", small, large, threshold)


def test_a_contract_s_own_tick_names_the_rule() -> None:
    assert tick_rule_for("ES", 0.05) == TickRule("fixed_0.05", 0.05, 0.05, 0.0)
    assert tick_size([0.5, 5.0], tick_rule_for("ES", 0.25)).tolist() == [0.25, 0.25]


def test_a_credit_rounded_to_zero_is_plain_zero() -> None:
    out = round_to_tick(-0.001, TickRule.penny_pilot())
    assert out == 0.0 and not np.signbit(out)


# --- the solver's iterations -------------------------------------------------------------------
def test_solver_iterations_count_per_element_and_none_for_bad_input() -> None:
    price = float(bs_price(*ATM, True))
    iters = solver_iterations([[price, -1.0]], 100.0, 100.0, 0.25, 0.03, 0.01, True)
    assert iters.dtype == np.int32 and iters.shape == (1, 2)
    assert 1 <= iters[0, 0] <= 4 and iters[0, 1] == 0
    code = implied_vol([price, -1.0], 100.0, 100.0, 0.25, 0.03, 0.01, True).code
    assert code.tolist() == [IVCode.OK, IVCode.BAD_INPUT]
