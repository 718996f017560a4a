"""Black-Scholes-Merton European prices and greeks with a continuous dividend yield.

Units: ``t`` in years (ACT/365), ``vol``, ``rate`` and ``div_yield`` as decimals
(0.2 = 20%), continuously compounded. Greeks are per trader convention: theta
per calendar day, vega per vol point (0.01), rho per 1% of rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from tradelib.pricing import _bs_kernels as k
from tradelib.pricing._inputs import PARALLEL_MIN_SIZE, broadcast_inputs

FloatArray = npt.NDArray[np.float64]


class PriceCode(IntEnum):
    """Why ``bs_price`` / ``bs_greeks`` gave NaN for an element (see ``price_codes``)."""

    OK = 0
    BAD_INPUT = 1  # NaN/inf, spot/strike/vol <= 0, t < 0
    RATE_OVERFLOW = 2  # |rate x t| or |div_yield x t| > 700: exp() overflows
    DEGENERATE_VOL = 3  # vol x sqrt(t) < 1e-12 (e.g. an underflowing vol): d1 divides by ~0
    OVERFLOW = 4  # finite inputs, but a price or greek overflows (extreme spot/strike)


@dataclass(frozen=True, slots=True)
class Greeks:
    """Price and greeks, one float64 array each, all of the broadcast input shape.

    ``theta`` is per calendar day, ``vega`` per vol point (0.01), ``rho`` per 1%
    of rate (0.01); ``delta`` and ``gamma`` are per 1 unit of the underlying.
    """

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    theta: FloatArray
    vega: FloatArray
    rho: FloatArray

    @classmethod
    def from_rows(cls, rows: FloatArray, shape: tuple[int, ...]) -> Greeks:
        """Build from a (6, n) array in field order, reshaped to ``shape``."""
        return cls(*(rows[j].reshape(shape) for j in range(6)))


def _market_inputs(
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    vol: npt.ArrayLike,
    rate: npt.ArrayLike,
    div_yield: npt.ArrayLike,
    is_call: npt.ArrayLike,
) -> tuple[tuple[int, ...], list[FloatArray], npt.NDArray[np.bool_]]:
    """The six market inputs and the call flags, validated and broadcast to one shape."""
    return broadcast_inputs(
        [
            ("spot", spot),
            ("strike", strike),
            ("t", t),
            ("vol", vol),
            ("rate", rate),
            ("div_yield", div_yield),
        ],
        ("is_call", is_call),
    )


def bs_price(
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    vol: npt.ArrayLike,
    rate: npt.ArrayLike,
    div_yield: npt.ArrayLike,
    is_call: npt.ArrayLike,
) -> FloatArray:
    """Price European options; arguments broadcast, bad elements give NaN.

    NaN, ``spot <= 0``, ``strike <= 0``, ``vol <= 0`` or ``t < 0`` make that
    element NaN. At ``t == 0`` the price is the intrinsic value.
    """
    shape, (s, kk, tt, v, r, q), c = _market_inputs(spot, strike, t, vol, rate, div_yield, is_call)
    out = np.empty(s.shape[0], dtype=np.float64)
    kernel = k.price_parallel if out.shape[0] >= PARALLEL_MIN_SIZE else k.price_serial
    kernel(s, kk, tt, v, r, q, c, out)
    return out.reshape(shape)


def bs_greeks(
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    vol: npt.ArrayLike,
    rate: npt.ArrayLike,
    div_yield: npt.ArrayLike,
    is_call: npt.ArrayLike,
) -> Greeks:
    """Price and greeks of European options; arguments broadcast, bad elements give NaN.

    At ``t == 0``: intrinsic price, step delta (half at the strike), other greeks 0.
    """
    shape, (s, kk, tt, v, r, q), c = _market_inputs(spot, strike, t, vol, rate, div_yield, is_call)
    rows = np.empty((6, s.shape[0]), dtype=np.float64)
    kernel = k.greeks_parallel if s.shape[0] >= PARALLEL_MIN_SIZE else k.greeks_serial
    kernel(s, kk, tt, v, r, q, c, rows)
    return Greeks.from_rows(rows, shape)


def price_codes(
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    vol: npt.ArrayLike,
    rate: npt.ArrayLike,
    div_yield: npt.ArrayLike,
    is_call: npt.ArrayLike,
) -> npt.NDArray[np.int8]:
    """Return a ``PriceCode`` per element: why ``bs_greeks`` is NaN there (OK where not)."""
    shape, (s, kk, tt, v, r, q), c = _market_inputs(spot, strike, t, vol, rate, div_yield, is_call)
    code = np.full(s.shape[0], int(PriceCode.OK), dtype=np.int8)
    with np.errstate(all="ignore"):
        finite = np.isfinite(s) & np.isfinite(kk) & np.isfinite(tt) & np.isfinite(r)
        finite &= np.isfinite(q) & np.isfinite(v)
        bad = ~finite | ~(s > 0) | ~(kk > 0) | ~(tt >= 0) | ~(v > 0)
        exp_bad = (np.abs(r * tt) > k.MAX_EXP_ARG) | (np.abs(q * tt) > k.MAX_EXP_ARG)
        degenerate = (tt > 0) & ~(v * np.sqrt(tt) >= k.MIN_SD)
    code[degenerate] = PriceCode.DEGENERATE_VOL
    code[exp_bad] = PriceCode.RATE_OVERFLOW
    code[bad] = PriceCode.BAD_INPUT
    rest = code == PriceCode.OK
    if rest.any():
        rows = np.empty((6, s.shape[0]), dtype=np.float64)
        k.greeks_serial(s, kk, tt, v, r, q, c, rows)
        code[rest & ~np.isfinite(rows[0])] = PriceCode.OVERFLOW
    return code.reshape(shape)
