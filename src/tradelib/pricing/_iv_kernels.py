"""Numba kernels for implied volatility (and greeks at the solved vol).

The solver works in normalised Black coordinates (Jäckel's): with forward F,
discounted strike and ``x = ln(F/K)``, the price divided by ``D * sqrt(F K)`` is
``b(x, s) = e^{x/2} N(x/s + s/2) - e^{-x/2} N(x/s - s/2)`` with ``s = vol sqrt(t)``.
Put-call parity turns every option into its out-of-the-money call (``x <= 0``)
whose price is the time value, so no digits are lost to intrinsic value.
It then runs Householder (4th order) steps on ``ln b(s) - ln beta``, which is
concave and close to linear in the region that matters, safeguarded by a bracket.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from tradelib.pricing._bs_kernels import INV_SQRT_2PI, greeks_one, ncdf
from tradelib.pricing._jit import njit_device, njit_kernel

# IVCode values (mirrored by tradelib.pricing.implied_vol.IVCode).
OK = 0
BELOW_INTRINSIC = 1
ABOVE_BOUND = 2
NO_TIME_VALUE = 3
TINY_T = 4
BAD_INPUT = 5
NOT_CONVERGED = 6

T_FLOOR = 1.0 / (365.0 * 24.0 * 60.0)  # one minute, in ACT/365 years
# Time value below this fraction of max(S e^{-qT}, K e^{-rT}) is treated as none.
TV_FLOOR = 1e-12
# Vol is unidentifiable when a price error of a few ulps of the underlying would
# move it by more than ~1e-6 relative: vega * vol must exceed this fraction of scale.
VEGA_VOL_FLOOR = 1e-9
MAX_ITER = 24
CONVERGED_STEP = 1e-4
_EPS = 2.220446049250313e-16
SQRT_2PI = 2.5066282746310002
PI = math.pi


@njit_device
def normalised_call(x: float, s: float, ex: float) -> float:
    """b(x, s) for x <= 0 given ``ex = exp(x/2)``; erfc keeps deep OTM values accurate."""
    d1 = x / s + 0.5 * s
    b: float = ex * ncdf(d1) - ncdf(d1 - s) / ex
    return b


@njit_device
def initial_guess(x: float, beta: float, ex: float) -> float:
    """Rough s for b(x, s) = beta, x <= 0 (Corrado-Miller, or the lower tail asymptote)."""
    a = ex - 1.0 / ex  # normalised S - K' (<= 0)
    m = beta - 0.5 * a
    disc = m * m - a * a / PI
    if disc >= 0.0:
        s = SQRT_2PI / (ex + 1.0 / ex) * (m + math.sqrt(disc))
        if s > 0.0:
            return s
    # Deep out of the money: b ~ phi0 * s / (|d1| |d2|), phi0 = exp(-x^2/2s^2 - s^2/8)/sqrt(2pi).
    ax = -x
    lnb = math.log(beta)
    s = ax / math.sqrt(-2.0 * lnb)
    for _ in range(3):
        d1 = ax / s - 0.5 * s
        d2 = ax / s + 0.5 * s
        if d1 <= 0.0:
            break
        rhs = math.log(s / (d1 * d2)) - 0.5 * math.log(2.0 * PI) - 0.125 * s * s - lnb
        if rhs <= 0.0:
            break
        s = ax / math.sqrt(2.0 * rhs)
    return s


@njit_device
def solve_normalised(x: float, beta: float) -> tuple[float, int]:
    """Return (s, iterations) with b(x, s) = beta; s < 0 if it did not converge."""
    ex = math.exp(0.5 * x)
    s = initial_guess(x, beta, ex)
    lo = 0.0
    hi = math.inf
    lnbeta = math.log(beta)
    x2 = x * x
    for it in range(MAX_ITER):
        b = normalised_call(x, s, ex)
        if not (b > 0.0):
            # Underflow: s is far too small.
            lo = s
            s = 2.0 * s if hi == math.inf else 0.5 * (lo + hi)
            continue
        f = math.log(b) - lnbeta
        if f == 0.0:
            return s, it + 1
        if f > 0.0:
            hi = s
        else:
            lo = s
        phi0 = INV_SQRT_2PI * math.exp(-0.5 * (x2 / (s * s) + 0.25 * s * s))
        fp = phi0 / b
        step = math.nan
        if fp > 0.0:
            g2 = x2 / (s * s * s) - 0.25 * s
            g3 = g2 * g2 - 3.0 * x2 / (s * s * s * s) - 0.25
            h2 = g2 - fp
            h3 = g3 - 3.0 * fp * g2 + 2.0 * fp * fp
            nu = -f / fp
            step = nu * (1.0 + 0.5 * nu * h2) / (1.0 + nu * (h2 + nu * h3 / 6.0))
        s_new = s + step
        # Quartic convergence: after a step this small the error is far below 1 ulp.
        if abs(step) <= CONVERGED_STEP * s:
            return s_new, it + 1
        if lo < s_new < hi:
            s = s_new
        else:
            # The step left the bracket (or was not finite): bisect, or grow if unbounded.
            s = 2.0 * s if hi == math.inf else 0.5 * (lo + hi)
            if hi - lo <= 4.0 * _EPS * hi:
                return s, it + 1
    return -1.0, MAX_ITER


@njit_device
def implied_vol_one(
    price: float,
    spot: float,
    strike: float,
    t: float,
    rate: float,
    div_yield: float,
    is_call: bool,
) -> tuple[float, int, int]:
    """Return (vol, IVCode, iterations) for one option; vol is NaN unless code is OK."""
    nan = math.nan
    if not (
        math.isfinite(price)
        and math.isfinite(spot)
        and math.isfinite(strike)
        and math.isfinite(t)
        and math.isfinite(rate)
        and math.isfinite(div_yield)
        and price > 0.0
        and spot > 0.0
        and strike > 0.0
        and t >= 0.0
    ):
        return nan, BAD_INPUT, 0
    if t < T_FLOOR:
        return nan, TINY_T, 0
    fwd_s = spot * math.exp(-div_yield * t)
    pv_k = strike * math.exp(-rate * t)
    if is_call:
        intrinsic = max(fwd_s - pv_k, 0.0)
        upper = fwd_s
    else:
        intrinsic = max(pv_k - fwd_s, 0.0)
        upper = pv_k
    scale = max(fwd_s, pv_k)
    if price >= upper:
        return nan, ABOVE_BOUND, 0
    time_value = price - intrinsic
    if time_value < -4.0 * _EPS * scale:
        return nan, BELOW_INTRINSIC, 0
    if time_value <= TV_FLOOR * scale:
        return nan, NO_TIME_VALUE, 0
    root_fk = math.sqrt(fwd_s) * math.sqrt(pv_k)
    x = -abs(math.log(fwd_s / pv_k))
    beta = time_value / root_fk
    if beta >= math.exp(0.5 * x):
        return nan, ABOVE_BOUND, 0
    s, iters = solve_normalised(x, beta)
    if s <= 0.0:
        return nan, NOT_CONVERGED, iters
    vega_vol = root_fk * s * INV_SQRT_2PI * math.exp(-0.5 * (x * x / (s * s) + 0.25 * s * s))
    if vega_vol < VEGA_VOL_FLOOR * scale:
        return nan, NO_TIME_VALUE, iters
    return s / math.sqrt(t), OK, iters


def _iv_body(
    price: np.ndarray,
    spot: np.ndarray,
    strike: np.ndarray,
    t: np.ndarray,
    rate: np.ndarray,
    div_yield: np.ndarray,
    is_call: np.ndarray,
    want_greeks: bool,
    iv_out: np.ndarray,
    code_out: np.ndarray,
    iters_out: np.ndarray,
    greeks_out: np.ndarray,
) -> None:
    # greeks_out is (6, n) when want_greeks, else ignored.
    nan = math.nan
    for i in prange(iv_out.shape[0]):
        vol, code, iters = implied_vol_one(
            price[i], spot[i], strike[i], t[i], rate[i], div_yield[i], is_call[i]
        )
        iv_out[i] = vol
        code_out[i] = code
        iters_out[i] = iters
        if want_greeks:
            if code == OK:
                g = greeks_one(spot[i], strike[i], t[i], vol, rate[i], div_yield[i], is_call[i])
                for j in range(6):
                    greeks_out[j, i] = g[j]
            else:
                for j in range(6):
                    greeks_out[j, i] = nan


iv_serial = njit_kernel(parallel=False)(_iv_body)
iv_parallel = njit_kernel(parallel=True)(_iv_body)
