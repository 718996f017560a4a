"""Constructed daily SPY / VIX series with a known character."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import polars as pl

START = datetime(2025, 1, 6, 14, 30, tzinfo=UTC)
DAYS = 40


def bars(
    values: Sequence[float], start: datetime = START, step: timedelta | None = None
) -> pl.DataFrame:
    """OHLC bars (all four prices equal) stamped one day (or ``step``) apart."""
    step = step or timedelta(days=1)
    ts = [start + i * step for i in range(len(values))]
    return pl.DataFrame(
        {
            "ts": pl.Series(ts, dtype=pl.Datetime("us", "UTC")),
            "open": values,
            "high": values,
            "low": values,
            "close": values,
            "volume": [0] * len(values),
        }
    )


def prices(returns: Sequence[float], first: float = 600.0) -> list[float]:
    """Closes from log returns, the first close being ``first``."""
    out = [first]
    for r in returns:
        out.append(out[-1] * math.exp(r))
    return out


def alternating(size: float, n: int = DAYS - 1) -> list[float]:
    """+size, -size, ...: plenty of movement, no net direction."""
    return [size if i % 2 == 0 else -size for i in range(n)]


def market(
    returns: Sequence[float], vix: float | Sequence[float]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """SPY bars from ``returns`` and VIX bars (a constant or one value per day)."""
    closes = prices(returns)
    levels = [vix] * len(closes) if isinstance(vix, int | float) else list(vix)
    assert len(levels) == len(closes)
    return bars(closes), bars(levels)
