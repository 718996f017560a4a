"""Issue 17/18: edge inputs give NaN with a reason code, never inf or an exception, and
the serial and parallel kernels are separate numba cache entries."""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradelib.errors import PricingInputError
from tradelib.pricing import (
    IVCode,
    PriceCode,
    TickRule,
    bs_greeks,
    bs_price,
    iv_and_greeks,
    price_codes,
    round_to_tick,
)
from tradelib.pricing import _bs_kernels as bs_kernels
from tradelib.pricing import _iv_kernels as iv_kernels

PAIRS = [
    (bs_kernels.price_serial, bs_kernels.price_parallel),
    (bs_kernels.greeks_serial, bs_kernels.greeks_parallel),
    (iv_kernels.iv_serial, iv_kernels.iv_parallel),
]


@pytest.mark.parametrize(("serial", "parallel"), PAIRS, ids=["price", "greeks", "iv"])
def test_serial_and_parallel_kernels_have_their_own_cache_entries(
    serial: object, parallel: object
) -> None:
    def index_path(kernel: object) -> str:
        return str(kernel._cache._cache_file._index_path)  # type: ignore[attr-defined]

    assert index_path(serial) != index_path(parallel)
    assert serial.targetoptions["parallel"] is False  # type: ignore[attr-defined]
    assert parallel.targetoptions["parallel"] is True  # type: ignore[attr-defined]


SERIAL_THEN_PARALLEL = """
import numpy as np
from tradelib.pricing import bs_price, implied_vol
from tradelib.pricing import _iv_kernels as iv

def solve(n):
    strike = np.linspace(80, 120, n)
    price = bs_price(100.0, strike, 0.25, 0.2, 0.03, 0.0, True)
    assert np.allclose(implied_vol(price, 100.0, strike, 0.25, 0.03, 0.0, True).iv, 0.2)

solve(50)  # the serial kernel compiles first and fills the cache
solve(5000)  # the parallel one must compile its own code, not load the serial entry
(signature,) = iv.iv_parallel.signatures
metadata = iv.iv_parallel.get_metadata(signature)  # None when loaded from a cache
print("parfors" if metadata and metadata["parfor_diagnostics"].has_setup else "serial")
"""


@pytest.mark.slow  # numba compiles the parallel kernel
def test_the_parallel_iv_kernel_compiles_a_parallel_loop_after_the_serial_one(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    done = subprocess.run(
        [sys.executable, "-c", SERIAL_THEN_PARALLEL],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    assert done.stdout.strip() == "parfors", done.stderr


def test_an_underflowing_vol_is_nan_with_its_reason_not_an_error() -> None:
    args = (100.0, 100.0, 0.25, 5e-324, 0.0, 0.0, True)
    assert math.isnan(float(bs_price(*args)))
    greeks = bs_greeks(*args)
    assert all(math.isnan(float(getattr(greeks, f))) for f in ("price", "delta", "gamma"))
    assert int(price_codes(*args)) == PriceCode.DEGENERATE_VOL


@pytest.mark.parametrize("rate", [-5000.0, 5000.0, 1e308])
def test_extreme_rates_are_nan_with_their_reason_never_inf(rate: float) -> None:
    args = (100.0, 100.0, 1.0, 0.2, rate, 0.0, False)
    assert math.isnan(float(bs_price(*args)))
    assert int(price_codes(*args)) == PriceCode.RATE_OVERFLOW


@pytest.mark.parametrize("price", [math.inf, -math.inf, 1e308, -1e308])
def test_round_to_tick_of_an_infinite_or_huge_price_is_nan(price: float) -> None:
    assert math.isnan(float(round_to_tick(price, TickRule.penny_pilot(), "up")))


finite_or_not = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 5e-324, 1e-300, 1e300, 1.79e308, -1.0, 100.0]),
)


@settings(max_examples=200, deadline=None)
@given(
    spot=finite_or_not,
    strike=finite_or_not,
    t=finite_or_not,
    vol=finite_or_not,
    rate=finite_or_not,
    div_yield=finite_or_not,
    is_call=st.booleans(),
)
def test_pricing_never_raises_and_never_returns_inf(
    spot: float, strike: float, t: float, vol: float, rate: float, div_yield: float, is_call: bool
) -> None:
    args = (spot, strike, t, vol, rate, div_yield, is_call)
    price = float(bs_price(*args))
    greeks = bs_greeks(*args)
    code = int(price_codes(*args))
    for field in ("price", "delta", "gamma", "theta", "vega", "rho"):
        assert not math.isinf(float(getattr(greeks, field))), (field, args)
    assert not math.isinf(price)
    assert (code == PriceCode.OK) == math.isfinite(float(greeks.price)), (code, args)
    if math.isfinite(price):
        # finite on the grid, or NaN when too large to round (never inf)
        rounded = float(round_to_tick(price, TickRule.penny_pilot()))
        assert math.isfinite(rounded) or (math.isnan(rounded) and abs(price) > 1e12)
    iv, at_iv = iv_and_greeks(
        price if math.isfinite(price) else spot, spot, strike, t, rate, div_yield, is_call
    )
    assert not np.isinf(iv.iv).any()
    assert (iv.code == int(IVCode.OK)) == np.isfinite(iv.iv)
    for field in ("price", "delta", "gamma", "theta", "vega", "rho"):
        assert not np.isinf(getattr(at_iv, field)).any(), (field, args)
    assert not math.isinf(float(round_to_tick(spot, TickRule.penny_pilot(), "down")))


@settings(max_examples=50, deadline=None)
@given(value=st.one_of(st.text(max_size=5), st.none(), st.lists(st.text(max_size=3), max_size=2)))
def test_non_numeric_input_is_the_documented_error(value: object) -> None:
    with contextlib.suppress(PricingInputError):  # the documented bad-input error
        bs_price(value, 100.0, 0.25, 0.2, 0.0, 0.0, True)  # type: ignore[arg-type]
