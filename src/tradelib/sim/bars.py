"""The simulated market's bars: intraday and daily OHLCV series over history and generated days.

``MarketBars`` is a mixin of ``SimulatedMarket`` (the facade): it turns the
1-second blocks and the daily history into bars and caches finished sessions.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import date, datetime
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from tradelib.markethours import NEW_YORK, MarketHours, require_utc
from tradelib.sim.config import (
    FUTURES,
    INDEX_SYMBOLS,
    UNDERLYINGS,
    SimMarketConfig,
)
from tradelib.sim.paths import (
    SESSION_S,
    Block,
    History,
    ModelParams,
)
from tradelib.sim.seconds import DAY_S, YEAR_S, _epoch, _ny_date
from tradelib.sim.types import (
    FloatArray,
    IntArray,
    SimFuture,
)

MAX_CACHED_SERIES = 16  # one symbol's 1-second series of one block: ~0.5-2 MB each
_SEED_ETF_VOLUME, _SEED_FUT_VOLUME = 3, 4
_BAR_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Datetime("us", "UTC"),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Int64(),
}


class MarketBars:
    """OHLCV bars of ``SimulatedMarket`` (mixin; state lives there)."""

    config: SimMarketConfig
    hours: MarketHours
    _now: datetime
    _params: ModelParams
    _history: History
    _hist_open: IntArray
    _hist_close: IntArray
    _block_start: list[int]
    _block_open: list[int]
    _block_close: list[int]
    _session_bars: dict[tuple[str, int], tuple[int, float, float, float, float, int]]
    _series_of: OrderedDict[tuple[str, int], tuple[IntArray, FloatArray, IntArray]]

    if TYPE_CHECKING:

        def _kind(self, symbol: str) -> str: ...
        def _block(self, k: int) -> Block: ...
        def _block_index(self, t: int) -> int: ...
        def _front(self, root: str, t: int) -> SimFuture: ...
        def _carry(self, symbol: str, expiry: date, t: int) -> float: ...

    # --- bars -------------------------------------------------------------------------------------
    def bars(self, symbol: str, start: datetime, end: datetime, bar_seconds: int) -> pl.DataFrame:
        """Return OHLCV bars in ``[start, end)`` (capped at now), ``ts`` = bar start (UTC).

        ``bar_seconds`` < 86400 gives intraday bars aligned to multiples of
        ``bar_seconds`` since the epoch, from the 1-second data of generated
        days only (ETFs/VIX in regular hours, futures in CME hours).
        ``bar_seconds`` == 86400 gives one bar per session, stamped at its open,
        for history and generated days alike (a future's daily bar spans the
        previous close to this close). Volume in shares or contracts; VIX has 0.
        """
        kind = self._kind(symbol)
        s, e = _epoch(require_utc(start, "start")), _epoch(require_utc(end, "end"))
        if not isinstance(bar_seconds, int) or not 1 <= bar_seconds <= DAY_S:
            raise ValueError(f"bar_seconds must be an int in 1..86400, got {bar_seconds!r}")
        e = min(e, _epoch(self._now) + 1)
        if e <= s:
            return pl.DataFrame(schema=_BAR_SCHEMA)
        if bar_seconds == DAY_S:
            return self._daily_bars(symbol, kind, s, e)
        return self._intraday_bars(symbol, kind, s, e, bar_seconds)

    def _series(self, symbol: str, kind: str, k: int) -> tuple[IntArray, FloatArray, IntArray]:
        """Return (epoch seconds, rounded prices, volumes) of one block for one symbol."""
        key = (symbol, k)
        cached = self._series_of.get(key)
        if cached is not None:
            self._series_of.move_to_end(key)
            return cached
        series = self._compute_series(symbol, kind, k)
        for array in series:
            array.setflags(write=False)
        self._series_of[key] = series
        while len(self._series_of) > MAX_CACHED_SERIES:
            self._series_of.popitem(last=False)
        return series

    def _compute_series(
        self, symbol: str, kind: str, k: int
    ) -> tuple[IntArray, FloatArray, IntArray]:
        b = self._block(k)
        rng_key = [self.config.seed, 0, b.day.toordinal(), 0]
        if kind == "fut":
            offs = np.flatnonzero(b.fut_open)
            times = b.start + offs
            spec = FUTURES[symbol]
            idx = INDEX_SYMBOLS.index(spec.index)
            level = np.exp(b.latent[offs, idx]) * self.config.ratio_of(symbol)
            carry = np.empty(offs.size)
            # The front contract (and so the carry) changes only at New York midnight.
            days = np.array([_ny_date(int(x)).toordinal() for x in times[::3600]] + [0])
            for ordinal in np.unique(days[days > 0]):
                d = date.fromordinal(int(ordinal))
                lo = _epoch(datetime.combine(d, datetime.min.time(), tzinfo=NEW_YORK))
                sel = (times >= lo) & (times < lo + DAY_S + 3600)
                fut = self._front(symbol, lo + 43_200)
                exp_close = _epoch(self.hours.session_bounds(fut.expiry)[1])
                years = np.maximum(exp_close - times[sel], 0) / YEAR_S
                rate = self.config.rate - self.config.dividend_yield(spec.index)
                carry[sel] = np.exp(rate * years)
            prices = np.round(np.round(level * carry / spec.tick) * spec.tick, 2)
            rng_key[1], rng_key[3] = _SEED_FUT_VOLUME, list(FUTURES).index(symbol)
            rate_s = spec.daily_volume / 86_400.0 * np.where(offs >= b.open_off, 2.5, 0.35)
        else:
            times = b.open + np.arange(b.n - b.open_off)
            if kind == "vix":
                return times, np.round(b.vix, 2), np.zeros(times.size, dtype=np.int64)
            idx = INDEX_SYMBOLS.index(symbol)
            prices = np.round(b.spot[:, idx], 2)
            x = np.linspace(0.0, 1.0, times.size)
            u_shape = 0.6 + 1.6 * (np.exp(-x / 0.06) + np.exp(-(1.0 - x) / 0.08))
            rng_key[1], rng_key[3] = _SEED_ETF_VOLUME, idx
            rate_s = UNDERLYINGS[symbol].daily_volume / SESSION_S * u_shape / u_shape.mean()
        mult = self._params.volume_mult[b.regime[(times - b.start) // 3600]]
        volume = np.random.default_rng(rng_key).poisson(rate_s * mult).astype(np.int64)
        return times, prices, volume

    def _blocks_between(self, s: int, e: int) -> range:
        if e <= self._block_start[0]:
            return range(0)
        first = max(self._block_index(max(s, self._block_start[0])), 0)
        last = self._block_index(e - 1)
        return range(first, last + 1)

    def _intraday_bars(self, symbol: str, kind: str, s: int, e: int, bar: int) -> pl.DataFrame:
        parts: list[tuple[IntArray, FloatArray, IntArray]] = []
        for k in self._blocks_between(s, e):
            times, prices, volume = self._series(symbol, kind, k)
            sel = slice(int(np.searchsorted(times, s)), int(np.searchsorted(times, e)))
            if times[sel].size:
                parts.append((times[sel], prices[sel], volume[sel]))
        if not parts:
            return pl.DataFrame(schema=_BAR_SCHEMA)
        times = np.concatenate([p[0] for p in parts])
        prices = np.concatenate([p[1] for p in parts])
        volume = np.concatenate([p[2] for p in parts])
        bucket = times - times % bar
        starts = np.concatenate([[0], np.flatnonzero(np.diff(bucket)) + 1])
        ends = np.concatenate([starts[1:] - 1, [times.size - 1]])
        return _frame(
            bucket[starts],
            prices[starts],
            np.maximum.reduceat(prices, starts),
            np.minimum.reduceat(prices, starts),
            prices[ends],
            np.add.reduceat(volume, starts),
        )

    def _daily_bars(self, symbol: str, kind: str, s: int, e: int) -> pl.DataFrame:
        rows: list[tuple[int, float, float, float, float, int]] = []
        lo = int(np.searchsorted(self._hist_open, s))
        hi = int(np.searchsorted(self._hist_open, e))
        for j in range(lo, hi):
            rows.append(self._history_row(symbol, kind, j))
        if e > self._block_open[0]:
            for k in self._blocks_between(max(s, self._block_start[0]), e):
                if not s <= self._block_open[k] < e:
                    continue
                done = self._block_close[k] <= e  # a whole session: its bar never changes
                cached = self._session_bars.get((symbol, k)) if done else None
                if cached is not None:
                    rows.append(cached)
                    continue
                times, prices, volume = self._series(symbol, kind, k)
                n = int(np.searchsorted(times, e))
                if n == 0:
                    continue
                p = prices[:n]
                row = (
                    self._block_open[k],
                    p[0],
                    float(p.max()),
                    float(p.min()),
                    p[-1],
                    int(volume[:n].sum()),
                )
                if done:
                    # Regime and risk read months of daily bars every cycle: regenerating
                    # each past session's seconds was most of a backtest's time.
                    self._session_bars[(symbol, k)] = row
                rows.append(row)
        if not rows:
            return pl.DataFrame(schema=_BAR_SCHEMA)
        cols = list(zip(*rows, strict=True))
        return _frame(*(np.asarray(c) for c in cols))

    def _history_row(
        self, symbol: str, kind: str, j: int
    ) -> tuple[int, float, float, float, float, int]:
        key = (symbol, -1 - j)  # history day j; generated sessions use block numbers >= 0
        row = self._session_bars.get(key)
        if row is None:
            row = self._session_bars[key] = self._compute_history_row(symbol, kind, j)
        return row

    def _compute_history_row(
        self, symbol: str, kind: str, j: int
    ) -> tuple[int, float, float, float, float, int]:
        h = self._history
        ts = int(self._hist_open[j])
        if kind == "vix":
            vals = (h.vix_open[j], h.vix_high[j], h.vix_low[j], h.vix_close[j])
            return ts, *(round(float(v), 2) for v in vals), 0  # type: ignore[return-value]
        if kind == "etf":
            i = INDEX_SYMBOLS.index(symbol)
            vals = (h.open[j, i], h.high[j, i], h.low[j, i], h.close[j, i])
            return ts, *(round(float(v), 2) for v in vals), int(h.volume[j, i])  # type: ignore[return-value]
        spec = FUTURES[symbol]
        i = INDEX_SYMBOLS.index(spec.index)
        close_t = int(self._hist_close[j])
        fut = self._front(symbol, close_t - 1)
        factor = self.config.ratio_of(symbol) * self._carry(spec.index, fut.expiry, close_t)
        vals = (h.open[j, i], h.high[j, i], h.low[j, i], h.close[j, i])
        prices = [round(round(float(v) * factor / spec.tick) * spec.tick, 2) for v in vals]
        volume = int(spec.daily_volume * self._params.volume_mult[h.regime[j]])
        return ts, prices[0], prices[1], prices[2], prices[3], volume


def _frame(
    ts: np.ndarray, o: np.ndarray, hi: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts": pl.Series(np.asarray(ts, dtype=np.int64) * 1_000_000).cast(
                pl.Datetime("us", "UTC")
            ),
            "open": np.asarray(o, dtype=np.float64),
            "high": np.asarray(hi, dtype=np.float64),
            "low": np.asarray(lo, dtype=np.float64),
            "close": np.asarray(c, dtype=np.float64),
            "volume": np.asarray(v, dtype=np.int64),
        }
    )
