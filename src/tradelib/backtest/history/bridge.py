"""Intraday paths bridged through a day's open, high, low and close (seeded, pure).

A day's path runs open -> first extreme -> second extreme -> close on a
one-minute grid, each leg a Brownian bridge in log price, kept inside
[low, high]; both extremes are touched exactly once-or-more, so the path's
own OHLC equals the file's. On an up day (close >= open) the low comes first
(a dip, then the rally), on a down day the high; the times of the extremes are
drawn from the seed. Per-step noise is half the day's Parkinson vol (range ~
1.66 sigma sqrt(T)): the legs themselves already span the range; excursions
beyond it are reflected back inside.
"""

from __future__ import annotations

import numpy as np

from tradelib.sim.types import FloatArray

_PARKINSON = 1.66


def bridge_path(
    o: float, h: float, lo: float, c: float, n_steps: int, rng: np.random.Generator
) -> FloatArray:
    """Return ``n_steps + 1`` prices from ``o`` (step 0) to ``c`` (last) touching ``h`` and ``lo``."""
    if n_steps < 3:
        return np.linspace(o, c, n_steps + 1)
    if h <= lo:
        return np.full(n_steps + 1, c, dtype=np.float64)
    low_first = c >= o
    first, second = (lo, h) if low_first else (h, lo)
    t1, t2 = np.sort(rng.choice(np.arange(1, n_steps), size=2, replace=False))
    sd = 0.5 * np.log(h / lo) / _PARKINSON / np.sqrt(n_steps)
    log_path = np.empty(n_steps + 1, dtype=np.float64)
    for a, b, x, y in ((0, t1, o, first), (t1, t2, first, second), (t2, n_steps, second, c)):
        m = b - a
        walk = np.concatenate([[0.0], np.cumsum(rng.normal(0.0, sd, m))])
        frac = np.arange(m + 1) / m
        bridge = walk - frac * walk[-1]
        log_path[a : b + 1] = np.log(x) + frac * (np.log(y) - np.log(x)) + bridge
    # Reflect excursions back inside the range (clipping would pin the price at an extreme).
    a, b = np.log(lo), np.log(h)
    log_path = np.where(log_path < a, 2 * a - log_path, log_path)
    log_path = np.where(log_path > b, 2 * b - log_path, log_path)
    path = np.clip(np.exp(log_path), lo, h)
    path[0], path[t1], path[t2], path[-1] = o, first, second, c
    return path
