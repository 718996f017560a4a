"""Numba kernels for Black-Scholes-Merton prices and greeks (flat 1-D arrays in, out)."""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from tradelib.pricing._jit import njit_device, njit_kernel

INV_SQRT2 = 0.7071067811865476
INV_SQRT_2PI = 0.3989422804014327
DAYS_PER_YEAR = 365.0
# exp() overflows past ~709: a discount factor exp(-r t) beyond this is no market.
MAX_EXP_ARG = 700.0
# vol x sqrt(t) below this divides d1 by (nearly) zero: no meaningful price or greeks.
MIN_SD = 1e-12


@njit_device
def ncdf(x: float) -> float:
    # erfc keeps full relative precision in the lower tail, where 1 - N(-x) would not.
    return 0.5 * math.erfc(-x * INV_SQRT2)


@njit_device
def valid_market(spot: float, strike: float, t: float, rate: float, div_yield: float) -> bool:
    return (
        spot > 0.0
        and strike > 0.0
        and t >= 0.0
        and math.isfinite(spot)
        and math.isfinite(strike)
        and math.isfinite(t)
        and math.isfinite(rate)
        and math.isfinite(div_yield)
        and abs(rate * t) <= MAX_EXP_ARG
        and abs(div_yield * t) <= MAX_EXP_ARG
    )


@njit_device
def greeks_one(
    spot: float,
    strike: float,
    t: float,
    vol: float,
    rate: float,
    div_yield: float,
    is_call: bool,
) -> tuple[float, float, float, float, float, float]:
    """Price, delta, gamma, theta/day, vega/vol-point, rho/%; NaN for bad inputs."""
    nan = math.nan
    if not valid_market(spot, strike, t, rate, div_yield) or not (vol > 0.0) or math.isinf(vol):
        return nan, nan, nan, nan, nan, nan
    df_r = math.exp(-rate * t)
    df_q = math.exp(-div_yield * t)
    fwd_s = spot * df_q
    pv_k = strike * df_r
    if t == 0.0:
        # Expiry: intrinsic value, a step delta (half at the money) and no time greeks.
        if is_call:
            price = max(spot - strike, 0.0)
            delta = 1.0 if spot > strike else (0.5 if spot == strike else 0.0)
        else:
            price = max(strike - spot, 0.0)
            delta = -1.0 if spot < strike else (-0.5 if spot == strike else 0.0)
        return price, delta, 0.0, 0.0, 0.0, 0.0
    sqrt_t = math.sqrt(t)
    sd = vol * sqrt_t
    if not (sd >= MIN_SD):
        return nan, nan, nan, nan, nan, nan
    d1 = (math.log(spot / strike) + (rate - div_yield) * t) / sd + 0.5 * sd
    d2 = d1 - sd
    pdf_d1 = INV_SQRT_2PI * math.exp(-0.5 * d1 * d1)
    gamma = df_q * pdf_d1 / (spot * sd)
    vega = fwd_s * pdf_d1 * sqrt_t
    decay = -fwd_s * pdf_d1 * vol / (2.0 * sqrt_t)
    if is_call:
        n1 = ncdf(d1)
        n2 = ncdf(d2)
        price = fwd_s * n1 - pv_k * n2
        delta = df_q * n1
        theta = decay - rate * pv_k * n2 + div_yield * fwd_s * n1
        rho = t * pv_k * n2
    else:
        n1 = ncdf(-d1)
        n2 = ncdf(-d2)
        price = pv_k * n2 - fwd_s * n1
        delta = -df_q * n1
        theta = decay + rate * pv_k * n2 - div_yield * fwd_s * n1
        rho = -t * pv_k * n2
    # Roundoff can push a deep out-of-the-money price a hair below zero.
    price = max(price, 0.0)
    out = (price, delta, gamma, theta / DAYS_PER_YEAR, vega * 0.01, rho * 0.01)
    for value in out:
        if not math.isfinite(value):  # extreme spot/strike: overflow, not a price
            return nan, nan, nan, nan, nan, nan
    return out


def _price_body(
    spot: np.ndarray,
    strike: np.ndarray,
    t: np.ndarray,
    vol: np.ndarray,
    rate: np.ndarray,
    div_yield: np.ndarray,
    is_call: np.ndarray,
    out: np.ndarray,
) -> None:
    for i in prange(out.shape[0]):
        s, k, tt, v, r, q, c = spot[i], strike[i], t[i], vol[i], rate[i], div_yield[i], is_call[i]
        if not valid_market(s, k, tt, r, q) or not (v > 0.0) or math.isinf(v):
            out[i] = math.nan
            continue
        fwd_s = s * math.exp(-q * tt)
        pv_k = k * math.exp(-r * tt)
        if tt == 0.0:
            out[i] = max(s - k, 0.0) if c else max(k - s, 0.0)
            continue
        sd = v * math.sqrt(tt)
        if not (sd >= MIN_SD):
            out[i] = math.nan
            continue
        d1 = (math.log(s / k) + (r - q) * tt) / sd + 0.5 * sd
        d2 = d1 - sd
        p = fwd_s * ncdf(d1) - pv_k * ncdf(d2) if c else pv_k * ncdf(-d2) - fwd_s * ncdf(-d1)
        out[i] = max(p, 0.0) if math.isfinite(p) else math.nan


def _greeks_body(
    spot: np.ndarray,
    strike: np.ndarray,
    t: np.ndarray,
    vol: np.ndarray,
    rate: np.ndarray,
    div_yield: np.ndarray,
    is_call: np.ndarray,
    out: np.ndarray,
) -> None:
    # out has shape (6, n): price, delta, gamma, theta, vega, rho.
    for i in prange(out.shape[1]):
        g = greeks_one(spot[i], strike[i], t[i], vol[i], rate[i], div_yield[i], is_call[i])
        out[0, i] = g[0]
        out[1, i] = g[1]
        out[2, i] = g[2]
        out[3, i] = g[3]
        out[4, i] = g[4]
        out[5, i] = g[5]


price_serial = njit_kernel(parallel=False)(_price_body)
price_parallel = njit_kernel(parallel=True)(_price_body)
greeks_serial = njit_kernel(parallel=False)(_greeks_body)
greeks_parallel = njit_kernel(parallel=True)(_greeks_body)
