"""Prices and greeks against QuantLib, parity, expiry, NaN handling and broadcasting."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

from tradelib.errors import PricingInputError
from tradelib.pricing import Greeks, bs_greeks, bs_price

if TYPE_CHECKING:
    from conftest import Sweep


def _ours(sw: Sweep) -> Greeks:
    return bs_greeks(sw.spot, sw.strike, sw.t, sw.vol, sw.rate, sw.div_yield, sw.is_call)


def _close(actual: np.ndarray, expected: np.ndarray, scale: np.ndarray | float) -> None:
    # 1e-8 relative to the size of the quantity, 1e-8 absolute in units of the spot scale.
    np.testing.assert_allclose(actual, expected, rtol=1e-8, atol=1e-10 * np.max(scale))


def test_price_and_greeks_match_quantlib_across_the_sweep(sweep: Sweep) -> None:
    g = _ours(sweep)
    _close(g.price, sweep.price, sweep.spot)
    _close(bs_price(sweep.spot, sweep.strike, sweep.t, sweep.vol, sweep.rate,
                    sweep.div_yield, sweep.is_call), sweep.price, sweep.spot)  # fmt: skip
    _close(g.delta, sweep.delta, 1.0)
    _close(g.gamma, sweep.gamma, 1.0)
    _close(g.vega, sweep.vega_per_unit / 100.0, sweep.spot)
    _close(g.rho, sweep.rho_per_unit / 100.0, sweep.spot)


def test_theta_is_quantlibs_per_year_theta_spread_over_365_calendar_days(sweep: Sweep) -> None:
    g = _ours(sweep)
    # QuantLib's analytic theta is -dV/dt with flat curves, which is our per-year theta.
    _close(g.theta * 365.0, sweep.theta_per_year, sweep.spot)


def test_theta_satisfies_the_black_scholes_pde(sweep: Sweep) -> None:
    g = _ours(sweep)
    s, r, q, v = sweep.spot, sweep.rate, sweep.div_yield, sweep.vol
    theta_year = r * g.price - (r - q) * s * g.delta - 0.5 * v * v * s * s * g.gamma
    _close(g.theta * 365.0, theta_year, s)


def test_put_call_parity_holds() -> None:
    rng = np.random.default_rng(7)
    s, k = 100.0, rng.uniform(50, 150, 200)
    t, v, r, q = rng.uniform(0.01, 2, 200), rng.uniform(0.05, 1.5, 200), 0.04, 0.015
    call = bs_greeks(s, k, t, v, r, q, True)
    put = bs_greeks(s, k, t, v, r, q, False)
    forward_value = s * np.exp(-q * t) - k * np.exp(-r * t)
    np.testing.assert_allclose(call.price - put.price, forward_value, atol=1e-11)
    np.testing.assert_allclose(call.delta - put.delta, np.exp(-q * t), atol=1e-14)
    np.testing.assert_allclose(call.gamma, put.gamma, rtol=1e-13)
    np.testing.assert_allclose(call.vega, put.vega, rtol=1e-13)


def test_textbook_value() -> None:
    # Hull's classic: S=K=100, T=1, r=5%, vol=20%, no dividend.
    assert float(bs_price(100, 100, 1.0, 0.2, 0.05, 0.0, True)) == pytest.approx(
        10.450583572185565, abs=1e-12
    )


def test_expiry_gives_intrinsic_value_and_step_delta() -> None:
    g = bs_greeks([90.0, 100.0, 110.0], 100.0, 0.0, 0.3, 0.05, 0.01, [[True], [False]])
    np.testing.assert_array_equal(g.price, [[0, 0, 10], [10, 0, 0]])
    np.testing.assert_array_equal(g.delta, [[0, 0.5, 1], [-1, -0.5, 0]])
    for greek in (g.gamma, g.theta, g.vega, g.rho):
        np.testing.assert_array_equal(greek, 0.0)


@pytest.mark.parametrize(
    ("spot", "strike", "t", "vol"),
    [
        (np.nan, 100, 0.5, 0.2),
        (100, np.nan, 0.5, 0.2),
        (100, 100, np.nan, 0.2),
        (100, 100, 0.5, np.nan),
        (0.0, 100, 0.5, 0.2),
        (-5.0, 100, 0.5, 0.2),
        (100, 0.0, 0.5, 0.2),
        (100, 100, -0.1, 0.2),
        (100, 100, 0.5, 0.0),
        (100, 100, 0.5, -0.2),
        (100, 100, 0.5, np.inf),
    ],
)
def test_bad_inputs_give_nan_only_in_their_element(
    spot: float, strike: float, t: float, vol: float
) -> None:
    g = bs_greeks([spot, 100.0], [strike, 100.0], [t, 0.5], [vol, 0.2], 0.03, 0.0, True)
    for name in Greeks.__slots__:
        values = getattr(g, name)
        assert np.isnan(values[0]), name
        assert np.isfinite(values[1]), name
    assert np.isnan(bs_price(spot, strike, t, vol, 0.03, 0.0, False))


def test_nan_rate_or_dividend_gives_nan() -> None:
    assert np.isnan(bs_price(100, 100, 0.5, 0.2, np.nan, 0.0, True))
    assert np.isnan(bs_greeks(100, 100, 0.5, 0.2, 0.0, np.nan, True).delta)


def test_arguments_broadcast_like_numpy() -> None:
    strikes = np.array([90.0, 100.0, 110.0])
    expiries = np.array([[0.1], [0.5]])
    g = bs_greeks(100.0, strikes, expiries, 0.2, 0.03, 0.0, True)
    assert g.price.shape == (2, 3)
    for i, t in enumerate(expiries[:, 0]):
        for j, k in enumerate(strikes):
            assert g.price[i, j] == bs_price(100.0, k, t, 0.2, 0.03, 0.0, True)
    assert bs_price(100, 100, 0.5, 0.2, 0.03, 0.0, True).shape == ()


@pytest.mark.slow  # numba parallel compile
def test_large_inputs_take_the_parallel_path_with_the_same_results() -> None:
    rng = np.random.default_rng(3)
    n = 10_000
    k, t = rng.uniform(60, 140, n), rng.uniform(0.01, 2, n)
    big = bs_greeks(100.0, k, t, 0.25, 0.03, 0.01, k > 100)
    small = bs_greeks(100.0, k[:50], t[:50], 0.25, 0.03, 0.01, k[:50] > 100)
    np.testing.assert_array_equal(big.gamma[:50], small.gamma)
    np.testing.assert_array_equal(big.price[:50], small.price)


def test_shape_mismatch_names_the_argument() -> None:
    with pytest.raises(PricingInputError, match=r"'t'.*shape \(2,\).*\(3,\)"):
        bs_price(100.0, [90.0, 100.0, 110.0], [0.1, 0.2], 0.2, 0.03, 0.0, True)
    with pytest.raises(PricingInputError, match=r"'is_call'"):
        bs_greeks(100.0, [90.0, 100.0, 110.0], 0.1, 0.2, 0.03, 0.0, [True, False])


def test_non_numeric_or_non_boolean_inputs_are_rejected() -> None:
    with pytest.raises(PricingInputError, match=r"'vol'.*not numeric"):
        bs_price(100.0, 100.0, 0.5, "high", 0.03, 0.0, True)
    with pytest.raises(PricingInputError, match=r"'is_call'.*bool"):
        bs_price(100.0, 100.0, 0.5, 0.2, 0.03, 0.0, "C")
    with pytest.raises(PricingInputError, match=r"'is_call'"):
        bs_price(100.0, 100.0, 0.5, 0.2, 0.03, 0.0, 2)


def test_integer_flags_are_accepted_as_calls_and_puts() -> None:
    assert bs_price(100, 90, 0.5, 0.2, 0.0, 0.0, 1) == bs_price(100, 90, 0.5, 0.2, 0.0, 0.0, True)
    assert bs_price(100, 90, 0.5, 0.2, 0.0, 0.0, 0) == bs_price(100, 90, 0.5, 0.2, 0.0, 0.0, False)
