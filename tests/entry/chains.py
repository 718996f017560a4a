"""Synthetic option chains with known IVs, for scenario tests (Black-Scholes priced)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

from tradelib.domain import utc
from tradelib.entry import OptionChain, years_to_expiry
from tradelib.pricing import bs_greeks

TS = utc(2026, 11, 24, 15)  # a Tuesday, 10:00 New York
TODAY = date(2026, 11, 24)
RATE = 0.04
FloatArray = npt.NDArray[np.float64]
VolFn = Callable[[FloatArray], FloatArray]


def flat(vol: float) -> VolFn:
    return lambda k: np.full(k.shape, vol)


def smile(atm: float, slope: float, spot: float = 100.0) -> VolFn:
    """IV falling with strike (put skew) around ``atm``: ``atm - slope * ln(K/S)``."""
    return lambda k: np.maximum(atm - slope * np.log(k / spot), 0.05)


def columns(
    expiry: date,
    *,
    spot: float = 100.0,
    strikes: FloatArray | None = None,
    put_vol: VolFn | None = None,
    call_vol: VolFn | None = None,
    width: float = 0.04,
    greeks: bool = True,
) -> dict[str, FloatArray]:
    """Columns of one expiry: puts priced at ``put_vol`` (default a flat 20%), calls at
    ``call_vol`` (default the same).

    bid/ask are the theoretical price -/+ ``width`` / 2 (bid floored at 0);
    ``greeks=False`` leaves iv and greeks out (NaN), as a broker without them would.
    """
    k = np.arange(50.0, 151.0, 1.0) if strikes is None else np.asarray(strikes, dtype=np.float64)
    t = years_to_expiry(expiry, TS)
    k2 = np.concatenate([k, k])
    is_call = np.concatenate([np.zeros(k.size, bool), np.ones(k.size, bool)])
    put_vol = put_vol or flat(0.20)
    iv = np.concatenate([put_vol(k), (call_vol or put_vol)(k)])
    g = bs_greeks(spot, k2, t, iv, RATE, 0.0, is_call)
    nan = np.full(k2.size, np.nan)
    return {
        "strike": k2,
        "is_call": is_call,
        "bid": np.maximum(g.price - width / 2, 0.0),
        "ask": g.price + width / 2,
        "iv": iv if greeks else nan,
        "delta": g.delta if greeks else nan,
        "gamma": g.gamma if greeks else nan,
        "theta": g.theta if greeks else nan,
        "vega": g.vega if greeks else nan,
        "open_interest": np.full(k2.size, 1000.0),
    }


def make_chain(
    dtes: tuple[int, ...] = (35,), underlying: str = "SPY", spot: float = 100.0, **kw: object
) -> OptionChain:
    """A chain of ``underlying`` with one expiry per DTE, each built by ``columns``."""
    cols = {
        TODAY + timedelta(days=d): columns(TODAY + timedelta(days=d), spot=spot, **kw)  # type: ignore[arg-type]
        for d in dtes
    }
    return OptionChain.from_arrays(underlying, spot, TS, RATE, cols)
