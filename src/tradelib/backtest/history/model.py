"""How modelled option quotes follow a volatility index (pure functions).

Level: the simulated market's term structure (``tradelib.sim.surface.atm_vol``)
anchored at ``vol index x atm_iv_ratio`` for 30 days. Skew: the put slope of
``surface_iv`` steepens with the index through the simulated regimes' own
points (13.5 -> 0.25, 25 -> 0.35, 45 -> 0.45, flat beyond). Spreads: the
simulated market's ``option_book`` with a width multiplier rising with the
index the way the regimes' do (13.5 -> 1x, 25 -> 2x, 45 -> 4x).
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np

from tradelib.pricing import bs_greeks
from tradelib.sim.config import REGIME_SPECS, UNDERLYINGS
from tradelib.sim.surface import atm_vol, mix_hash, option_book, surface_iv
from tradelib.sim.types import FloatArray, IntArray, SimChain, SimRegime

_REGIME_POINTS = (SimRegime.CALM, SimRegime.HIGH_VOL, SimRegime.CRASH)
VIX_POINTS = tuple(REGIME_SPECS[r].vix_base for r in _REGIME_POINTS)
SKEW_POINTS = tuple(REGIME_SPECS[r].put_skew for r in _REGIME_POINTS)
SPREAD_POINTS = tuple(REGIME_SPECS[r].spread_mult for r in _REGIME_POINTS)
_ARRAYS = ("con_id", "strike", "is_call", "bid", "ask", "last", "mid", "iv", "delta", "gamma",
           "theta", "vega", "bid_size", "ask_size", "open_interest")  # fmt: skip


def put_skew(vol_index: float) -> float:
    """Return the put-side IV slope for a volatility index level."""
    return float(np.interp(vol_index, VIX_POINTS, SKEW_POINTS))


def spread_multiplier(vol_index: float) -> float:
    """Return the regime part of the bid/ask width for a volatility index level."""
    return float(np.interp(vol_index, VIX_POINTS, SPREAD_POINTS))


def known_atm_ratio(symbol: str) -> float | None:
    """Return the simulated market's 30-day ATM IV / VIX ratio of a known ETF."""
    spec = UNDERLYINGS.get(symbol)
    return None if spec is None else spec.atm_iv_ratio


def estimate_atm_ratio(close: FloatArray, vol_index_close: FloatArray) -> float:
    """Estimate 30-day ATM IV / vol index from realised vol (implied ~1.15x realised)."""
    r = np.diff(np.log(close))
    realised = float(np.sqrt(np.mean(r**2) * 252.0)) if r.size else 0.18
    level = float(np.mean(vol_index_close)) / 100.0
    return float(np.clip(1.15 * realised / max(level, 1e-6), 0.3, 4.0))


def modelled_chain(
    *,
    symbol: str,
    expiry: date,
    spot: float,
    vol_index: float,
    years: float,
    rate: float,
    div_yield: float,
    atm_ratio: float,
    spread_mult: float,
    strikes: FloatArray,
    is_call: np.ndarray,
    con_ids: IntArray,
    ts: datetime,
    seed: int,
    monthly: bool,
) -> SimChain:
    """Price one expiry's strikes off the vol-index surface: quotes, IV, greeks, sizes, OI."""
    forward = spot * float(np.exp((rate - div_yield) * years))
    atm = atm_vol(vol_index, atm_ratio, years)
    iv, m = surface_iv(forward, strikes, years, atm, put_skew(vol_index))
    g = bs_greeks(spot, strikes, years, iv, rate, div_yield, is_call)
    bid, ask, mid, last = option_book(g.price, m, spread_mult * spread_multiplier(vol_index))
    second = int(ts.timestamp())
    near = np.exp(-0.5 * (m / 2.0) ** 2)
    cap = (20 + 480 * near).astype(np.int64)
    sizes = mix_hash(seed, con_ids, second, np.arange(2)[:, None])
    peak = 60_000.0 * (3.0 if monthly else 1.0)
    noise = 0.5 + (mix_hash(seed, con_ids, ts.date().toordinal()) % 1000) / 1000.0
    oi = np.round(peak * (0.01 + 0.99 * np.exp(-0.5 * (m / 1.5) ** 2)) * noise).astype(np.int64)
    chain = SimChain(
        underlying=symbol,
        expiry=expiry,
        underlying_price=spot,
        ts=ts,
        con_id=con_ids,
        strike=strikes.astype(np.float64),
        is_call=np.asarray(is_call, dtype=bool),
        bid=bid,
        ask=ask,
        last=last,
        mid=mid,
        iv=iv,
        delta=g.delta,
        gamma=g.gamma,
        theta=g.theta,
        vega=g.vega,
        bid_size=np.where(bid > 0, 1 + sizes[0] % cap, 0).astype(np.int64),
        ask_size=(1 + sizes[1] % cap).astype(np.int64),
        open_interest=oi,
    )
    for name in _ARRAYS:
        getattr(chain, name).setflags(write=False)
    return chain
