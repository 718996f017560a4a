"""Intraday bars for past sessions the simulated market only knows as daily bars.

The simulated market generates 1-second prices from its start day on; the
sessions before it exist as daily OHLCV only. A real TWS answers "2 D" of
5-minute bars with both sessions, so the gateway fills a past session in:
a Brownian bridge from the day's open to its close, stretched so its extremes
are exactly the day's high and low, with the day's volume spread over a
U-shaped profile. Everything is drawn from (seed, symbol, day), so the same
request always gets the same bars, and they agree with the daily bar.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

_SEED_TAG = 7919  # keeps these draws apart from the market's own streams
_INTRADAY_VOL = 0.6  # bridge noise relative to the day's range, before stretching


@dataclass(frozen=True, slots=True)
class DailyBar:
    """One session's OHLCV and its regular-hours bounds (epoch seconds, close exclusive)."""

    day: date
    open_s: int
    close_s: int
    open: float
    high: float
    low: float
    close: float
    volume: int


def _stretch(path: np.ndarray, lo: float, hi: float, low: float, high: float) -> np.ndarray:
    """Map ``path`` monotonically so values in [lo, hi] stay and its extremes become low/high."""
    out = path.copy()
    top, bottom = float(path.max()), float(path.min())
    inner = path[1:-1]
    if high > hi:
        if top > hi:
            above = path > hi
            out[above] = hi + (path[above] - hi) * (high - hi) / (top - hi)
        elif inner.size:
            out[1 + int(np.argmax(inner))] = high
    if low < lo:
        if bottom < lo:
            below = path < lo
            out[below] = lo - (lo - path[below]) * (lo - low) / (lo - bottom)
        elif inner.size:
            out[1 + int(np.argmin(inner))] = low
    return out


def session_bars(bar: DailyBar, bar_seconds: int, seed: int, symbol: str) -> pl.DataFrame:
    """Bars of ``bar_seconds`` over ``bar``'s session (ts = bar start, aligned to the epoch).

    The first bar opens at the day's open, the last closes at its close, the
    highest high and lowest low are the day's, and volumes sum to its volume.
    """
    step = min(bar_seconds, 60)
    n = max((bar.close_s - bar.open_s) // step, 3)
    rng = np.random.default_rng([seed, _SEED_TAG, bar.day.toordinal(), zlib.crc32(symbol.encode())])
    log_o, log_c = math.log(bar.open), math.log(bar.close)
    span = max(math.log(bar.high) - math.log(bar.low), 1e-6)
    walk = np.concatenate([[0.0], np.cumsum(rng.standard_normal(n - 1))])
    t = np.linspace(0.0, 1.0, n)
    bridge = walk - t * walk[-1]
    scale = _INTRADAY_VOL * span / max(float(np.abs(bridge).max()), 1e-12)
    path = log_o + t * (log_c - log_o) + bridge * scale
    lo, hi = min(log_o, log_c), max(log_o, log_c)
    prices = np.exp(_stretch(path, lo, hi, math.log(bar.low), math.log(bar.high)))
    prices[0], prices[-1] = bar.open, bar.close
    prices = np.clip(prices, bar.low, bar.high)
    times = bar.open_s + step * np.arange(n, dtype=np.int64)

    bucket = times - times % bar_seconds
    starts = np.concatenate([[0], np.flatnonzero(np.diff(bucket)) + 1])
    ends = np.concatenate([starts[1:] - 1, [times.size - 1]])
    x = np.linspace(0.0, 1.0, starts.size)
    shape = 0.6 + 1.6 * (np.exp(-x / 0.06) + np.exp(-(1.0 - x) / 0.08))
    weights = shape * np.exp(0.2 * rng.standard_normal(starts.size))
    volume = rng.multinomial(max(int(bar.volume), 0), weights / weights.sum())
    return pl.DataFrame(
        {
            "ts": pl.Series(bucket[starts] * 1_000_000).cast(pl.Datetime("us", "UTC")),
            "open": np.round(prices[starts], 2),
            "high": np.round(np.maximum.reduceat(prices, starts), 2),
            "low": np.round(np.minimum.reduceat(prices, starts), 2),
            "close": np.round(prices[ends], 2),
            "volume": volume.astype(np.int64),
        }
    )
