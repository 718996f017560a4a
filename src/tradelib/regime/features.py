"""Daily market features the regime detector decides on, computed from OHLC bars.

Pure functions over polars frames with at least ``ts`` (tz-aware) and
``close`` columns, one row per session (``SimulatedMarket.bars(..., 86400)`` or
IB daily history). Series are aligned on the UTC calendar date of ``ts``.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from tradelib.config import RegimeDetectorConfig
from tradelib.errors import RegimeInputError

TRADING_DAYS_PER_YEAR = 252
REGULAR_SESSION_S = 23_400.0

# Columns of ``daily_features``; null where the window is not full yet.
FEATURE_COLUMNS: tuple[str, ...] = (
    "date",
    "spy_close",
    "vix",
    "vix_term",  # VIX / VIX3M, null without a 3-month series
    "rv",  # annualised realized vol over rv_window
    "rv_short",  # annualised realized vol over shock_window
    "rv_iv",  # rv / (VIX / 100)
    "efficiency",  # |net move| / path length over trend_window, in [0, 1]
    "trend_return",  # log return over trend_window
    "drawdown",  # 1 - close / highest close over drawdown_window
)


def _check_bars(frame: pl.DataFrame, name: str) -> None:
    """Refuse a frame without tz-aware ``ts`` and a ``close`` column."""
    for needed in ("ts", "close"):
        if needed not in frame.columns:
            raise RegimeInputError(series=name, problem=f"no '{needed}' column")
    dtype = frame.schema["ts"]
    if not isinstance(dtype, pl.Datetime) or dtype.time_zone is None:
        raise RegimeInputError(series=name, problem=f"'ts' must be tz-aware datetimes, got {dtype}")


def _closes(frame: pl.DataFrame, name: str, column: str) -> pl.DataFrame:
    """Return ``date`` and ``column`` (renamed) from a bar frame, sorted, one row per date."""
    _check_bars(frame, name)
    return (
        frame.lazy()
        .select(
            pl.col("ts").dt.convert_time_zone("UTC").dt.date().alias("date"),
            pl.col("close").cast(pl.Float64).alias(column),
        )
        .filter(pl.col(column).is_finite() & (pl.col(column) > 0))
        .unique("date", keep="last")
        .sort("date")
        .collect()
    )


def daily_features(
    spy_daily: pl.DataFrame,
    vix_daily: pl.DataFrame,
    cfg: RegimeDetectorConfig,
    vix3m_daily: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Return one row of features per session date present in both SPY and VIX.

    Invalid closes (NaN, <= 0) are dropped before windows are taken; the first
    rows of each window are null (warm-up).
    """
    spy = _closes(spy_daily, "spy_daily", "spy_close")
    vix = _closes(vix_daily, "vix_daily", "vix")
    joined = spy.join(vix, on="date", how="inner")
    if vix3m_daily is not None:
        vix3m = _closes(vix3m_daily, "vix3m_daily", "vix3m")
        joined = joined.join(vix3m, on="date", how="left")
        term = (pl.col("vix") / pl.col("vix3m")).alias("vix_term")
    else:
        term = pl.lit(None, dtype=pl.Float64).alias("vix_term")
    annual = math.sqrt(TRADING_DAYS_PER_YEAR)
    ret = pl.col("spy_close").log().diff()
    n_trend = cfg.trend_window
    # Root mean square, not the standard deviation: a steady trend is still movement,
    # and over a 3-day window the sample mean would eat most of a crash.
    rv = (ret.pow(2).rolling_mean(cfg.rv_window).sqrt() * annual).alias("rv")
    rv_short = (ret.pow(2).rolling_mean(cfg.shock_window).sqrt() * annual).alias("rv_short")
    path = pl.col("spy_close").diff().abs().rolling_sum(n_trend)
    net = (pl.col("spy_close") - pl.col("spy_close").shift(n_trend)).abs()
    return joined.select(
        "date",
        "spy_close",
        "vix",
        term,
        rv,
        rv_short,
        (rv / (pl.col("vix") / 100.0)).alias("rv_iv"),
        pl.when(path > 0).then(net / path).otherwise(0.0).alias("efficiency"),
        (pl.col("spy_close").log() - pl.col("spy_close").shift(n_trend).log()).alias(
            "trend_return"
        ),
        (
            1.0
            - pl.col("spy_close")
            / pl.col("spy_close").rolling_max(cfg.drawdown_window, min_samples=1)
        ).alias("drawdown"),
    )


def warmup_rows(cfg: RegimeDetectorConfig) -> int:
    """Return how many daily rows the longest window needs before features are complete."""
    return max(cfg.rv_window, cfg.shock_window, cfg.trend_window) + 1


def intraday_realized_vol(spy_intraday: pl.DataFrame) -> float | None:
    """Annualised realized vol of the latest session in ``spy_intraday`` bars, or None.

    The bar length is inferred from the median spacing; overnight gaps are left
    out (only returns inside the latest UTC date count), so the estimate says how
    the market is moving *today*, sooner than the daily windows can.
    """
    _check_bars(spy_intraday, "spy_intraday")
    frame = (
        spy_intraday.lazy()
        .select(pl.col("ts").dt.convert_time_zone("UTC"), pl.col("close").cast(pl.Float64))
        .filter(pl.col("close").is_finite() & (pl.col("close") > 0))
        .sort("ts")
        .collect()
    )
    if frame.height < 3:
        return None
    last_day = frame["ts"][-1].date()
    session = frame.filter(pl.col("ts").dt.date() == last_day)
    if session.height < 3:
        return None
    seconds = session["ts"].dt.epoch("s").to_numpy().astype(np.float64)
    spacing = float(np.median(np.diff(seconds)))
    if spacing <= 0:
        return None
    log_ret = np.diff(np.log(session["close"].to_numpy()))
    bars_per_year = TRADING_DAYS_PER_YEAR * REGULAR_SESSION_S / spacing
    return float(np.sqrt(np.mean(log_ret**2) * bars_per_year))


def _live(value: float | None) -> float | None:
    """A live quote worth using: finite and positive, else None (a bad quote is ignored)."""
    if value is None or not math.isfinite(value) or value <= 0:
        return None
    return float(value)


def with_live_quotes(
    table: pl.DataFrame,
    cfg: RegimeDetectorConfig,
    *,
    vix_now: float | None = None,
    spy_now: float | None = None,
) -> dict[str, object]:
    """Return the latest row of ``table`` with live VIX / SPY quotes folded in.

    Live quotes only ever *raise* the danger measures (a calm quote never undoes
    what the closes say, whether the table's last row is today's partial bar or
    yesterday's close): VIX becomes ``max(close, vix_now)`` (and VIX/VIX3M
    rises with it); ``spy_now`` is taken as a provisional close after the last
    one, so the drawdown from the recent high and the short realized vol
    (the last ``shock_window - 1`` daily returns plus the move to ``spy_now``)
    can only go up. A quote that is not finite or not positive is ignored.
    The row gains ``vix_close``, ``vix_now`` and ``spy_now`` for the evidence.
    """
    row: dict[str, object] = table.row(table.height - 1, named=True)
    vix, spot = _live(vix_now), _live(spy_now)
    row.update(vix_close=row["vix"], vix_now=vix, spy_now=spot)
    close_vix = row["vix"]
    if vix is not None and isinstance(close_vix, float) and vix > close_vix:
        row["vix"] = vix
        term = row["vix_term"]
        if isinstance(term, float):
            row["vix_term"] = term * vix / close_vix
        rv = row["rv"]
        if isinstance(rv, float):
            row["rv_iv"] = rv / (vix / 100.0)
    if spot is None:
        return row
    closes = table["spy_close"].to_numpy()
    high = max(float(closes[-cfg.drawdown_window :].max()), spot)
    drawdown = row["drawdown"]
    if isinstance(drawdown, float):
        row["drawdown"] = max(drawdown, 1.0 - spot / high)
    rv_short = row["rv_short"]
    if isinstance(rv_short, float):
        recent = np.diff(np.log(closes[-cfg.shock_window :]))  # shock_window - 1 returns
        moves = np.append(recent, math.log(spot / float(closes[-1])))
        live_rv = float(np.sqrt(np.mean(moves**2) * TRADING_DAYS_PER_YEAR))
        row["rv_short"] = max(rv_short, live_rv)
    return row
