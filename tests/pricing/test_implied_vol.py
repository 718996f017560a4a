"""Implied vol: recovers QuantLib's vols, says why when it cannot, never returns a wrong vol."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

from tradelib.errors import PricingInputError
from tradelib.pricing import (
    T_FLOOR_YEARS,
    IVCode,
    bs_greeks,
    bs_price,
    implied_vol,
    iv_and_greeks,
)

if TYPE_CHECKING:
    from conftest import Sweep


def _scale(sw: Sweep) -> np.ndarray:
    return np.maximum(sw.spot * np.exp(-sw.div_yield * sw.t), sw.strike * np.exp(-sw.rate * sw.t))


def _has_time_value(sw: Sweep) -> np.ndarray:
    # An option "has time value" when vega * vol >= 1e-6 of the price scale
    # max(S e^{-qT}, K e^{-rT}). QuantLib's price is exact to ~1e-15 of that
    # scale, so such a price pins the vol to ~1e-9 relative: 1e-6 is a fair bar.
    # (Below it a quote's own rounding, never mind a tick, would swamp the vol.)
    return sw.vega_per_unit * sw.vol >= 1e-6 * _scale(sw)


def test_recovers_quantlib_vols_wherever_the_option_has_time_value(sweep: Sweep) -> None:
    res = implied_vol(sweep.price, sweep.spot, sweep.strike, sweep.t, sweep.rate,
                      sweep.div_yield, sweep.is_call)  # fmt: skip
    mask = _has_time_value(sweep)
    assert mask.mean() > 0.6  # the sweep must exercise the solver, not the edge codes
    assert np.all(res.code[mask] == IVCode.OK)
    np.testing.assert_allclose(res.iv[mask], sweep.vol[mask], rtol=1e-6)


def test_without_time_value_it_returns_nan_or_a_vol_that_reprices(sweep: Sweep) -> None:
    res = implied_vol(sweep.price, sweep.spot, sweep.strike, sweep.t, sweep.rate,
                      sweep.div_yield, sweep.is_call)  # fmt: skip
    rest = ~_has_time_value(sweep)
    assert rest.any()
    codes = res.code[rest]
    assert set(np.unique(codes)) <= {IVCode.OK, IVCode.NO_TIME_VALUE, IVCode.BAD_INPUT}
    solved = rest & (res.code == IVCode.OK)
    repriced = bs_price(sweep.spot[solved], sweep.strike[solved], sweep.t[solved],
                        res.iv[solved], sweep.rate[solved], sweep.div_yield[solved],
                        sweep.is_call[solved])  # fmt: skip
    np.testing.assert_allclose(repriced, sweep.price[solved], rtol=1e-9, atol=1e-13)
    # BAD_INPUT only where QuantLib's price underflowed to zero (or roundoff below).
    assert np.all(sweep.price[rest & (res.code == IVCode.BAD_INPUT)] <= 0.0)
    assert np.all(np.isnan(res.iv[res.code != IVCode.OK]))


def test_solves_a_realistic_skewed_chain() -> None:
    strikes = np.arange(300.0, 701.0, 5.0)
    expiries = np.array([[7.0], [30.0], [90.0], [365.0]]) / 365.0
    moneyness = np.log(strikes / 500.0)
    vols = 0.18 - 0.25 * moneyness + 0.6 * moneyness**2
    for is_call in (True, False):
        prices = bs_price(500.0, strikes, expiries, vols, 0.045, 0.013, is_call)
        res, greeks = iv_and_greeks(prices, 500.0, strikes, expiries, 0.045, 0.013, is_call)
        ok = res.code == IVCode.OK
        assert ok.mean() > 0.75  # 7-day wings are worth nothing
        # Deep ITM short-dated wings carry ~1e-8 conditioning from price roundoff.
        np.testing.assert_allclose(res.iv[ok], np.broadcast_to(vols, ok.shape)[ok], rtol=1e-7)
        expected = bs_greeks(500.0, strikes, expiries, vols, 0.045, 0.013, is_call)
        np.testing.assert_allclose(greeks.delta[ok], expected.delta[ok], atol=1e-9)
        np.testing.assert_allclose(greeks.vega[ok], expected.vega[ok], rtol=1e-7, atol=1e-12)


def test_greeks_are_nan_exactly_where_iv_is_nan() -> None:
    prices = np.array([5.0, np.nan, 0.001, 150.0, 4.0])
    res, g = iv_and_greeks(prices, 100.0, [100.0, 100.0, 60.0, 100.0, 100.0], 0.25, 0.03, 0.0, True)
    assert list(res.code) == [IVCode.OK, IVCode.BAD_INPUT, IVCode.BELOW_INTRINSIC,
                              IVCode.ABOVE_BOUND, IVCode.OK]  # fmt: skip
    for name in ("price", "delta", "gamma", "theta", "vega", "rho"):
        values = getattr(g, name)
        np.testing.assert_array_equal(np.isnan(values), np.isnan(res.iv), err_msg=name)
    assert g.price[0] == pytest.approx(5.0, abs=1e-12)


@pytest.mark.parametrize(
    ("price", "spot", "strike", "t", "is_call", "code"),
    [
        # Call in the money by S e^{-qT} - K e^{-rT} ~ 20.7: 20 is below intrinsic.
        (20.0, 120.0, 100.0, 0.25, True, IVCode.BELOW_INTRINSIC),
        (19.0, 100.0, 120.0, 0.25, False, IVCode.BELOW_INTRINSIC),
        # A call never exceeds S e^{-qT}, a put never K e^{-rT}.
        (100.0, 100.0, 100.0, 0.25, True, IVCode.ABOVE_BOUND),
        (99.5, 100.0, 100.0, 0.25, False, IVCode.ABOVE_BOUND),
        # Exactly intrinsic (deep ITM put): no time value to read a vol from.
        (100.0 * np.exp(-0.03 * 0.25) - 50.0, 50.0, 100.0, 0.25, False, IVCode.NO_TIME_VALUE),
        # 1e-14 of spot on a far OTM call: below any quote, carries no vol information.
        (1e-12, 100.0, 300.0, 0.25, True, IVCode.NO_TIME_VALUE),
        (1.0, 100.0, 100.0, 0.5 * T_FLOOR_YEARS, True, IVCode.TINY_T),
        (1.0, 100.0, 100.0, 0.0, True, IVCode.TINY_T),
        (np.nan, 100.0, 100.0, 0.25, True, IVCode.BAD_INPUT),
        (1.0, np.nan, 100.0, 0.25, True, IVCode.BAD_INPUT),
        (1.0, 100.0, np.inf, 0.25, True, IVCode.BAD_INPUT),
        (0.0, 100.0, 100.0, 0.25, True, IVCode.BAD_INPUT),
        (-1.0, 100.0, 100.0, 0.25, True, IVCode.BAD_INPUT),
        (1.0, 0.0, 100.0, 0.25, True, IVCode.BAD_INPUT),
        (1.0, 100.0, -100.0, 0.25, True, IVCode.BAD_INPUT),
        (1.0, 100.0, 100.0, -0.25, True, IVCode.BAD_INPUT),
    ],
)
def test_each_edge_returns_nan_with_its_reason(
    price: float, spot: float, strike: float, t: float, is_call: bool, code: IVCode
) -> None:
    res = implied_vol(price, spot, strike, t, 0.03, 0.0, is_call)
    assert res.code == code
    assert np.isnan(res.iv)


def test_nan_rate_is_bad_input() -> None:
    assert implied_vol(5.0, 100.0, 100.0, 0.25, np.nan, 0.0, True).code == IVCode.BAD_INPUT


def test_just_above_the_time_floor_still_solves() -> None:
    t = 2.0 * T_FLOOR_YEARS
    price = bs_price(100.0, 100.0, t, 0.3, 0.03, 0.0, True)
    res = implied_vol(price, 100.0, 100.0, t, 0.03, 0.0, True)
    assert res.code == IVCode.OK
    assert res.iv == pytest.approx(0.3, rel=1e-9)


def test_extreme_but_valid_vols_are_recovered() -> None:
    vols = np.array([0.005, 0.02, 3.0, 5.0])
    prices = bs_price(
        100.0, [100.0, 97.0, 130.0, 80.0], 1.0, vols, 0.02, 0.0, [True, False, True, False]
    )
    res = implied_vol(
        prices, 100.0, [100.0, 97.0, 130.0, 80.0], 1.0, 0.02, 0.0, [True, False, True, False]
    )
    assert np.all(res.code == IVCode.OK)
    np.testing.assert_allclose(res.iv, vols, rtol=1e-9)


def test_results_keep_the_broadcast_shape_and_codes_are_int8() -> None:
    strikes = np.array([[90.0, 100.0, 110.0]])
    prices = bs_price(100.0, strikes, [[0.1], [0.5]], 0.2, 0.01, 0.0, False)
    res = implied_vol(prices, 100.0, strikes, [[0.1], [0.5]], 0.01, 0.0, False)
    assert res.iv.shape == res.code.shape == (2, 3)
    assert res.code.dtype == np.int8
    assert res.ok.all()
    np.testing.assert_allclose(res.iv, 0.2, rtol=1e-10)


@pytest.mark.slow  # numba parallel compile
def test_large_chains_take_the_parallel_path_with_the_same_results() -> None:
    rng = np.random.default_rng(11)
    n = 20_000
    k, t = rng.uniform(70, 130, n), rng.uniform(0.02, 1.5, n)
    vol = rng.uniform(0.1, 0.6, n)
    prices = bs_price(100.0, k, t, vol, 0.03, 0.01, k > 100)
    big, g_big = iv_and_greeks(prices, 100.0, k, t, 0.03, 0.01, k > 100)
    small, g_small = iv_and_greeks(prices[:64], 100.0, k[:64], t[:64], 0.03, 0.01, k[:64] > 100)
    np.testing.assert_array_equal(big.iv[:64], small.iv)
    np.testing.assert_array_equal(g_big.theta[:64], g_small.theta)
    np.testing.assert_allclose(big.iv[big.ok], vol[big.ok], rtol=1e-9)


def test_shape_mismatch_names_the_argument() -> None:
    with pytest.raises(PricingInputError, match=r"'strike'.*\(3,\).*\(2,\)"):
        implied_vol([1.0, 2.0], 100.0, [90.0, 100.0, 110.0], 0.2, 0.03, 0.0, True)
