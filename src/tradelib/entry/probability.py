"""Probability of profit and expected value of option strategies held to expiry.

The model, and why: the underlying at expiry is lognormal under the
risk-neutral measure, ``S_T = F exp(s Z - s^2 / 2)`` with ``Z ~ N(0, 1)``,
``F`` the expiry's forward (put-call parity) and ``s = sigma sqrt(T)``, where
``sigma`` is the expiry's ATM implied vol (the IV at the forward). One flat
vol per expiry gives every strategy of that expiry the same distribution, so
their numbers compare; and since the legs are priced off the skewed surface,
the expected value is the premium a strategy collects over what a flat-vol
market would pay, i.e. the skew premium the skew-aware selector leans into.
Values are per share per strategy unit and undiscounted (a month of interest
on a few dollars of credit changes no ranking).

Expiry P&L is piecewise linear in ``S_T``, so its integral against the
lognormal density is exact in closed form (E[(S-K)+] = F N(d1) - K N(d2),
E[(K-S)+] = K N(-d2) - F N(-d1)); probability of profit sums the lognormal
mass of the intervals between breakevens where the P&L is positive. Every
function works on many strategies at once: legs are ``(n, m)`` arrays padded
with ``ratio == 0``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr  # type: ignore[import-untyped]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _col(x: npt.ArrayLike) -> FloatArray:
    """``(n,)`` -> ``(n, 1)`` so per-strategy values broadcast over legs."""
    return np.asarray(x, dtype=np.float64).reshape(-1, 1)


def prob_above(
    level: npt.ArrayLike, forward: npt.ArrayLike, vol: npt.ArrayLike, years: npt.ArrayLike
) -> FloatArray:
    """P(S_T > level) under the lognormal model (1 at level 0, 0 at infinity)."""
    level = np.asarray(level, dtype=np.float64)
    sd = np.asarray(vol, dtype=np.float64) * np.sqrt(np.asarray(years, dtype=np.float64))
    with np.errstate(divide="ignore"):
        d2 = (np.log(np.asarray(forward, dtype=np.float64) / level) - 0.5 * sd**2) / sd
    return np.asarray(ndtr(d2), dtype=np.float64)


def expected_payoff(
    strike: npt.ArrayLike,
    is_call: npt.ArrayLike,
    forward: npt.ArrayLike,
    vol: npt.ArrayLike,
    years: npt.ArrayLike,
) -> FloatArray:
    """E[payoff at expiry] of a long call/put per share (undiscounted Black-76 value)."""
    k = np.asarray(strike, dtype=np.float64)
    f = np.asarray(forward, dtype=np.float64)
    sd = np.asarray(vol, dtype=np.float64) * np.sqrt(np.asarray(years, dtype=np.float64))
    d1 = (np.log(f / k) + 0.5 * sd**2) / sd
    d2 = d1 - sd
    call = f * ndtr(d1) - k * ndtr(d2)
    put = k * ndtr(-d2) - f * ndtr(-d1)
    return np.asarray(np.where(np.asarray(is_call, dtype=np.bool_), call, put), dtype=np.float64)


def expiry_pnl(
    strikes: FloatArray,
    is_call: BoolArray,
    ratios: FloatArray,
    credit: npt.ArrayLike,
    spots: npt.ArrayLike,
) -> FloatArray:
    """P&L at expiry per share of each strategy (rows) at each of ``spots`` (``(k,)`` or ``(n, k)``).

    ``ratios`` are signed legs per unit (negative = short), ``credit`` the net
    premium received per unit.
    """
    s = np.asarray(spots, dtype=np.float64)
    s = np.broadcast_to(s, (strikes.shape[0], s.shape[-1]))[:, None, :]  # (n, 1, k)
    k = strikes[:, :, None]
    intrinsic = np.where(is_call[:, :, None], np.maximum(s - k, 0.0), np.maximum(k - s, 0.0))
    pnl: FloatArray = _col(credit) + (ratios[:, :, None] * intrinsic).sum(axis=1)
    return pnl


def expected_value(
    strikes: FloatArray,
    is_call: BoolArray,
    ratios: FloatArray,
    credit: npt.ArrayLike,
    forward: npt.ArrayLike,
    vol: npt.ArrayLike,
    years: npt.ArrayLike,
) -> FloatArray:
    """Expected expiry P&L per share of each strategy: credit + sum(ratio x E[payoff])."""
    legs = expected_payoff(strikes, is_call, _col(forward), _col(vol), _col(years))
    used = np.where(ratios != 0.0, ratios * legs, 0.0)  # padding legs may hold any strike
    ev: FloatArray = np.asarray(credit, dtype=np.float64) + used.sum(axis=1)
    return ev


def probability_of_profit(
    strikes: FloatArray,
    is_call: BoolArray,
    ratios: FloatArray,
    credit: npt.ArrayLike,
    breakevens: FloatArray,
    forward: npt.ArrayLike,
    vol: npt.ArrayLike,
    years: npt.ArrayLike,
) -> FloatArray:
    """P(expiry P&L > 0) of each strategy; ``breakevens`` is ``(n, b)`` padded with NaN.

    Between consecutive breakevens the P&L keeps one sign, so each interval
    is profitable or not as a whole: test its sign at one interior point and
    add its lognormal mass.
    """
    n = strikes.shape[0]
    b = np.sort(np.where(np.isnan(breakevens), np.inf, breakevens), axis=1)
    edges = np.hstack([np.zeros((n, 1)), b, np.full((n, 1), np.inf)])
    lower, upper = edges[:, :-1], edges[:, 1:]
    probe = np.where(
        np.isfinite(upper),
        (lower + upper) / 2.0,
        np.where(np.isfinite(lower), 2.0 * lower + 1.0, 1.0),  # empty (inf, inf) pads: any point
    )
    profitable = expiry_pnl(strikes, is_call, ratios, credit, probe) > 0.0
    f, v, t = _col(forward), _col(vol), _col(years)
    mass = prob_above(lower, f, v, t) - prob_above(upper, f, v, t)
    pop: FloatArray = np.clip((mass * profitable).sum(axis=1), 0.0, 1.0)
    return pop
