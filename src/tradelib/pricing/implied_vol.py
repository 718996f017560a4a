"""Implied volatility of European options (Black-Scholes-Merton, continuous dividend yield).

Each element gets a vol or NaN with an :class:`IVCode` saying why; no element
ever gets a number that does not reprice the option.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from tradelib.pricing import _iv_kernels as k
from tradelib.pricing._inputs import PARALLEL_MIN_SIZE, broadcast_inputs
from tradelib.pricing.black_scholes import Greeks

T_FLOOR_YEARS = k.T_FLOOR
"""Shortest time to expiry solved for: one minute in ACT/365 years."""


class IVCode(IntEnum):
    """Why an implied vol is (or is not) available."""

    OK = k.OK
    BELOW_INTRINSIC = k.BELOW_INTRINSIC  # price < discounted intrinsic value
    ABOVE_BOUND = k.ABOVE_BOUND  # price >= S e^{-qT} (call) or K e^{-rT} (put)
    NO_TIME_VALUE = k.NO_TIME_VALUE  # time value too small to carry vol information
    TINY_T = k.TINY_T  # t below T_FLOOR_YEARS (one minute)
    BAD_INPUT = k.BAD_INPUT  # NaN/inf, price/spot/strike <= 0, t < 0
    NOT_CONVERGED = k.NOT_CONVERGED  # solver gave up (not seen in practice)


@dataclass(frozen=True, slots=True)
class IVResult:
    """Implied vols (NaN unless ``code == IVCode.OK``) and their int8 reason codes."""

    iv: npt.NDArray[np.float64]
    code: npt.NDArray[np.int8]

    @property
    def ok(self) -> npt.NDArray[np.bool_]:
        """Return the mask of elements with a vol."""
        mask: npt.NDArray[np.bool_] = self.code == int(IVCode.OK)
        return mask


def implied_vol(
    price: npt.ArrayLike,
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    rate: npt.ArrayLike,
    div_yield: npt.ArrayLike,
    is_call: npt.ArrayLike,
) -> IVResult:
    """Solve the Black-Scholes-Merton vol that reprices each option; arguments broadcast.

    Accurate to ~1e-12 relative where the time value is well above rounding
    noise. ``NO_TIME_VALUE`` marks a time value at most 1e-12 of
    max(S e^{-qT}, K e^{-rT}), or a solution whose vega * vol is below 1e-9 of
    it (a few ulps of price error would move such a vol by more than ~1e-6).
    """
    return _solve(price, spot, strike, t, rate, div_yield, is_call, want_greeks=False)[0]


def iv_and_greeks(
    price: npt.ArrayLike,
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    rate: npt.ArrayLike,
    div_yield: npt.ArrayLike,
    is_call: npt.ArrayLike,
) -> tuple[IVResult, Greeks]:
    """Solve implied vols and the greeks at them in one pass (for whole chains).

    Greeks follow :func:`tradelib.pricing.bs_greeks` units and are NaN where iv is NaN.
    """
    result, greeks = _solve(price, spot, strike, t, rate, div_yield, is_call, want_greeks=True)
    assert greeks is not None
    return result, greeks


def _solve(
    price: npt.ArrayLike,
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    rate: npt.ArrayLike,
    div_yield: npt.ArrayLike,
    is_call: npt.ArrayLike,
    *,
    want_greeks: bool,
) -> tuple[IVResult, Greeks | None]:
    shape, (p, s, kk, tt, r, q), c = broadcast_inputs(
        [
            ("price", price),
            ("spot", spot),
            ("strike", strike),
            ("t", t),
            ("rate", rate),
            ("div_yield", div_yield),
        ],
        ("is_call", is_call),
    )
    n = p.shape[0]
    iv = np.empty(n, dtype=np.float64)
    code = np.empty(n, dtype=np.int8)
    iters = np.empty(n, dtype=np.int32)
    rows = np.empty((6, n) if want_greeks else (6, 0), dtype=np.float64)
    kernel = k.iv_parallel if n >= PARALLEL_MIN_SIZE else k.iv_serial
    kernel(p, s, kk, tt, r, q, c, want_greeks, iv, code, iters, rows)
    result = IVResult(iv.reshape(shape), code.reshape(shape))
    return result, (Greeks.from_rows(rows, shape) if want_greeks else None)


def solver_iterations(
    price: npt.ArrayLike,
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    rate: npt.ArrayLike,
    div_yield: npt.ArrayLike,
    is_call: npt.ArrayLike,
) -> npt.NDArray[np.int32]:
    """Return the solver's iteration count per element (diagnostics, benchmarks)."""
    shape, (p, s, kk, tt, r, q), c = broadcast_inputs(
        [
            ("price", price),
            ("spot", spot),
            ("strike", strike),
            ("t", t),
            ("rate", rate),
            ("div_yield", div_yield),
        ],
        ("is_call", is_call),
    )
    n = p.shape[0]
    iters = np.empty(n, dtype=np.int32)
    rows = np.empty((6, 0), dtype=np.float64)
    k.iv_serial(p, s, kk, tt, r, q, c, False, np.empty(n), np.empty(n, np.int8), iters, rows)
    return iters.reshape(shape)
