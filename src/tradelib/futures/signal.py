"""The overnight / leading-indicator signal: how far the future moved since the spot close.

ETFs stop at the regular close; index futures keep trading. Their move since
the close says where the ETF will likely open (``implied_spot``) and, during
the session, whether futures are running ahead of spot. The move is judged
against history: the same-length futures moves after each earlier close in
the data give the z-score.

``futures_signal`` is pure (frames and times in, a ``FuturesSignal`` out);
``current_signal`` is the edge the entry pipeline calls: it reads the lake
and the calendar. Like every analysis result, the signal refuses to conclude
(``concluded`` False, ``zscore`` None) with fewer than ``min_days`` days.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from tradelib.futures.analysis import CLOSE, TS, AnalysisParams, AnalysisResult, align, coverage
from tradelib.markethours import require_utc

if TYPE_CHECKING:
    pass


@dataclass(frozen=True, slots=True)
class FuturesSignal(AnalysisResult):
    """The future's move since the last spot close, and how unusual it is.

    ``move_pct`` is in percent; ``zscore`` compares it with the moves over the
    same time after the ``history`` earlier closes (None unless concluded);
    ``implied_spot`` is the spot close moved by the same percentage.
    """

    future: str
    spot: str
    as_of: datetime
    spot_close_ts: datetime | None = None
    spot_close: float | None = None
    future_at_close: float | None = None
    future_last: float | None = None
    future_last_ts: datetime | None = None
    move_pct: float | None = None
    zscore: float | None = None
    implied_spot: float | None = None
    history: int = 0

    def direction(self, z_threshold: float = 1.0) -> int:
        """+1 (futures up unusually), -1 (down unusually) or 0 (ordinary, or no conclusion)."""
        if not self.concluded or self.zscore is None or abs(self.zscore) < z_threshold:
            return 0
        return 1 if self.zscore > 0 else -1

    def headline(self) -> str:
        """One line for a dashboard or a log."""
        if self.move_pct is None:
            return f"{self.future}: no signal ({self.reason})"
        z = f", z {self.zscore:+.2f}" if self.zscore is not None else ", no z-score yet"
        implied = f", implies {self.spot} {self.implied_spot:.2f}" if self.implied_spot else ""
        return f"{self.future} {self.move_pct:+.2f}% since the {self.spot} close{z}{implied}"


def _price_at(bars: pl.DataFrame, when: Sequence[datetime], bar: timedelta) -> list[float | None]:
    """Close of the last bar that had ended by each time in ``when`` (None if none)."""
    if not when:
        return []
    targets = pl.DataFrame({"_at": [w - bar for w in when]}).with_row_index("_i").sort("_at")
    found = targets.join_asof(
        bars.select(pl.col(TS).alias("_at"), CLOSE).sort("_at"), on="_at", strategy="backward"
    ).sort("_i")
    return [None if v is None else float(v) for v in found.get_column(CLOSE).to_list()]


def futures_signal(
    futures: pl.DataFrame,
    spot: pl.DataFrame,
    now: datetime,
    closes: Sequence[datetime],
    params: AnalysisParams,
    *,
    future: str = "",
    spot_symbol: str = "",
) -> FuturesSignal:
    """Measure the future's move from the last spot close before ``now`` to ``now``.

    ``closes`` are the regular-session close times (any order; those after
    ``now`` are ignored); frames are bars (ts, close) of one symbol each.
    """
    now = require_utc(now, "now")
    bar = timedelta(seconds=params.bar_seconds)
    futures = futures.filter(pl.col(TS) + bar <= now)
    spot = spot.filter(pl.col(TS) + bar <= now)
    days = coverage(align(futures, spot, params), params).days_available
    past = sorted(c for c in (require_utc(c, "close") for c in closes) if c <= now)

    def refuse(reason: str, **known: Any) -> FuturesSignal:
        return FuturesSignal(
            False, days, params.min_days, reason, future, spot_symbol, now, **known
        )

    if not past:
        return refuse("no spot close before now")
    if futures.height == 0:
        return refuse("no futures bars")
    close_ts = past[-1]
    last = futures.sort(TS).tail(1)
    last_ts = last.item(0, TS) + bar
    last_px = float(last.item(0, CLOSE))
    spot_close, fut_close = (
        _price_at(spot, [close_ts], bar)[0],
        _price_at(futures, [close_ts], bar)[0],
    )
    if spot_close is None or fut_close is None:
        return refuse(
            f"no {'spot' if spot_close is None else 'futures'} bar at the close {close_ts:%Y-%m-%d %H:%M} UTC",
            spot_close_ts=close_ts,
            future_last=last_px,
            future_last_ts=last_ts,
        )
    move = last_px / fut_close - 1.0
    moves = _earlier_moves(futures, past, now - close_ts, bar)
    zscore = None
    if len(moves) >= 2:
        sd = statistics.stdev(moves)
        zscore = (move - statistics.fmean(moves)) / sd if sd > 0 else None
    known: dict[str, Any] = {
        "spot_close_ts": close_ts,
        "spot_close": spot_close,
        "future_at_close": fut_close,
        "future_last": last_px,
        "future_last_ts": last_ts,
        "move_pct": 100.0 * move,
        "implied_spot": round(spot_close * (1.0 + move), 4),
        "history": len(moves),
    }
    if days < params.min_days:
        reason = f"not enough data: {days} of {params.min_days} trading days needed"
        return refuse(reason, **known)
    if zscore is None or not math.isfinite(zscore):
        return refuse(f"too little history for a z-score ({len(moves)} earlier closes)", **known)
    reason = f"{len(moves)} earlier closes over {days} trading days"
    return FuturesSignal(
        True,
        days,
        params.min_days,
        reason,
        future,
        spot_symbol,
        now,
        zscore=zscore,
        **known,
    )


def _earlier_moves(
    futures: pl.DataFrame, past: list[datetime], horizon: timedelta, bar: timedelta
) -> list[float]:
    """The future's move over ``horizon`` after each earlier close that ends before the next."""
    earlier = [c for c, nxt in itertools.pairwise(past) if c + horizon < nxt]
    starts = _price_at(futures, earlier, bar)
    ends = _price_at(futures, [c + horizon for c in earlier], bar)
    return [e / s - 1.0 for s, e in zip(starts, ends, strict=True) if s and e]


def lookback(params: AnalysisParams) -> timedelta:
    """Calendar days of bars to read so ``min_days`` trading days fit, with holidays."""
    return timedelta(days=2 * params.min_days + 3)
