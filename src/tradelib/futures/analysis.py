"""Futures vs spot: as-of alignment, rolling correlation and lead/lag. Pure functions.

Inputs are polars frames of bars with at least ``ts`` (UTC bar start) and
``close``, one symbol each, as read by ``tradelib.stores.futures.read_bars``.
Nothing here reads the lake, the broker or the clock.

Every result is an ``AnalysisResult``: it says how many trading days of data
it saw and refuses to conclude (``concluded`` False, the conclusion fields
None, a ``reason``) below the configured minimum. The numbers behind a
refusal are still returned, marked provisional, so a dashboard can show them.

Conventions: returns are 1-s log returns between bars exactly one bar apart
(never across a gap or the overnight break); a positive lag means the future
moves first and spot follows that many seconds later.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import polars as pl

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)

# Columns of the aligned frame.
SPOT = "spot"
FUTURE = "future"
SPOT_RET = "spot_ret"
FUTURE_RET = "future_ret"
DAY = "day"
LAG = "lag_s"
CORR = "corr"


# Columns of the ``futures_bars`` table the analysis reads (a test holds them to the spec).
TS = "ts"
CLOSE = "close"


@dataclass(frozen=True, slots=True)
class AnalysisParams:
    """Knobs of the analysis; ``from_config`` takes them from ``cfg.futures``."""

    min_days: int = 7  # fewer trading days of aligned data: no conclusion
    asof_tolerance_s: int = 5  # a future bar older than this is no match for a spot bar
    correlation_window_s: int = 300
    max_lag_s: int = 30
    bar_seconds: int = 1
    min_day_coverage_s: int = 3600  # a day counts once it has this much aligned data

    def __post_init__(self) -> None:
        for name in ("min_days", "correlation_window_s", "bar_seconds", "min_day_coverage_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"AnalysisParams.{name} must be > 0, got {getattr(self, name)}")
        for name in ("asof_tolerance_s", "max_lag_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"AnalysisParams.{name} must be >= 0, got {getattr(self, name)}")

    @classmethod
    def from_config(cls, futures_cfg: Any, **overrides: Any) -> AnalysisParams:
        """Build from a ``FuturesConfig`` (``cfg.futures``); keyword arguments override."""
        values: dict[str, Any] = {
            "min_days": futures_cfg.min_days_for_analysis,
            "asof_tolerance_s": futures_cfg.asof_tolerance_s,
            "correlation_window_s": futures_cfg.correlation_window_s,
            "max_lag_s": futures_cfg.max_lag_s,
            "bar_seconds": futures_cfg.bar_seconds,
        }
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True, slots=True)
class AnalysisResult:
    """Whether a result may be acted on, and why (not)."""

    concluded: bool
    days_available: int
    days_required: int
    reason: str


@dataclass(frozen=True, slots=True)
class Coverage(AnalysisResult):
    """Aligned data per trading day (``per_day``: day, seconds, futures, spot)."""

    per_day: pl.DataFrame


@dataclass(frozen=True, slots=True)
class LeadLagResult(AnalysisResult):
    """Cross-correlation of futures and spot returns over lags (``curve``: lag_s, corr).

    ``best_lag_s``/``strength`` are set only when concluded; ``peak_lag_s`` and
    ``peak_corr`` are the curve's maximum either way (provisional when not).
    """

    curve: pl.DataFrame
    best_lag_s: int | None
    strength: float | None
    peak_lag_s: int | None
    peak_corr: float | None
    samples: int


@dataclass(frozen=True, slots=True)
class CorrelationResult(AnalysisResult):
    """Rolling correlation of futures returns ``lag_s`` earlier with spot returns.

    ``frame`` (ts, corr) is sampled every ``every_s`` seconds for display;
    ``mean_corr`` (over all windows) only when concluded.
    """

    frame: pl.DataFrame
    window_s: int
    lag_s: int
    mean_corr: float | None


@dataclass(frozen=True, slots=True)
class PairAnalysis:
    """Everything the dashboard shows for one future and its ETF."""

    future: str
    spot: str
    aligned: pl.DataFrame
    coverage: Coverage
    lead_lag: LeadLagResult
    correlation: CorrelationResult


def _verdict(days: int, params: AnalysisParams, extra: str | None = None) -> tuple[bool, str]:
    if days < params.min_days:
        return False, (
            f"not enough data: {days} of {params.min_days} trading days needed "
            f"(a day counts with >= {params.min_day_coverage_s} s of aligned futures and spot)"
        )
    if extra:
        return False, extra
    return True, f"{days} trading days of data"


def align(futures: pl.DataFrame, spot: pl.DataFrame, params: AnalysisParams) -> pl.DataFrame:
    """As-of join futures onto spot bars: for each spot bar, the latest future bar at or before it.

    Their timestamps rarely line up exactly (different venues, missing
    seconds), hence the backward as-of match within ``asof_tolerance_s``; spot
    bars with no future in tolerance are dropped. Adds 1-s log returns.
    Columns: ts, spot, future, day, spot_ret, future_ret.
    """
    return with_returns(
        asof_plan(futures.lazy(), spot.lazy(), params).collect(), params.bar_seconds
    )


def align_plan(futures: pl.LazyFrame, spot: pl.LazyFrame, params: AnalysisParams) -> pl.LazyFrame:
    """``align`` as a lazy plan."""
    return with_returns(asof_plan(futures, spot, params), params.bar_seconds)


def asof_plan(futures: pl.LazyFrame, spot: pl.LazyFrame, params: AnalysisParams) -> pl.LazyFrame:
    """The as-of join of ``align`` without the returns (ts, spot, future), as a lazy plan.

    A reader runs several pairs' joins at once with it, then adds the returns
    eagerly (``with_returns``): the same expressions took twice as long inside the plan.
    """
    # (symbol, ts) is the table's key, so no de-duplication here: sorting is all
    # join_asof needs, and a frame already flagged sorted costs nothing to sort
    left = spot.select(TS, pl.col(CLOSE).cast(pl.Float64).alias(SPOT)).sort(TS)
    right = futures.select(TS, pl.col(CLOSE).cast(pl.Float64).alias(FUTURE)).sort(TS)
    return left.join_asof(
        right, on=TS, strategy="backward", tolerance=f"{params.asof_tolerance_s}s"
    ).drop_nulls(FUTURE)


def with_returns(aligned: FrameT, bar_seconds: int = 1) -> FrameT:
    """Add ``day`` and 1-bar log returns (null where the previous row is not one bar earlier)."""
    # integer microseconds, not durations: the same whole-second test as
    # ``diff().dt.total_seconds() == bar_seconds`` (which truncates) at half the cost
    micros = pl.col(TS).dt.epoch("us")
    step = micros.diff()
    one_bar = (step >= bar_seconds * _US) & (step < (bar_seconds + 1) * _US)
    return aligned.with_columns(
        _utc_day(aligned),
        pl.when(one_bar).then(pl.col(SPOT).log().diff()).alias(SPOT_RET),
        pl.when(one_bar).then(pl.col(FUTURE).log().diff()).alias(FUTURE_RET),
    )


_US = 1_000_000
_US_PER_DAY = 86_400 * _US


def _utc_day(frame: pl.DataFrame | pl.LazyFrame) -> pl.Expr:
    """The UTC date of ``ts``: days since the epoch for UTC (or naive) stamps, no calendar lookups."""
    dtype = frame.collect_schema()[TS]
    if isinstance(dtype, pl.Datetime) and dtype.time_zone in (None, "UTC"):
        return (
            pl.col(TS).dt.epoch("us").floordiv(_US_PER_DAY).cast(pl.Int32).cast(pl.Date).alias(DAY)
        )
    return pl.col(TS).dt.date().alias(DAY)


def coverage(aligned: pl.DataFrame, params: AnalysisParams) -> Coverage:
    """Count the trading days with enough aligned data; conclude at ``min_days``."""
    per_day = _per_day_in_order(aligned, params.bar_seconds)
    if per_day is None:
        per_day = (
            aligned.group_by(DAY)
            .agg(
                (pl.len() * params.bar_seconds).alias("seconds"),
                pl.col(TS).min().alias("first"),
                pl.col(TS).max().alias("last"),
            )
            .sort(DAY)
        )
    per_day = per_day.with_columns((pl.col("seconds") >= params.min_day_coverage_s).alias("counts"))
    days = int(per_day.get_column("counts").sum()) if per_day.height else 0
    concluded, reason = _verdict(days, params)
    return Coverage(concluded, days, params.min_days, reason, per_day)


def _per_day_in_order(aligned: pl.DataFrame, bar_seconds: int) -> pl.DataFrame | None:
    """``coverage``'s per-day counts for a frame in time order (``align``'s): run boundaries,
    not a hash group-by (half the time). None when the frame is not in time order.
    """
    ts = aligned.get_column(TS)
    micros = ts.cast(pl.Int64).to_numpy()
    if ts.null_count() or micros.size == 0 or bool(np.any(micros[1:] < micros[:-1])):
        return None
    day = aligned.get_column(DAY)
    days = day.to_physical().to_numpy()
    starts = np.flatnonzero(np.diff(days, prepend=days[0] - 1))
    counts = np.diff(starts, append=days.size)
    return pl.DataFrame(
        {
            DAY: day.gather(starts),
            "seconds": pl.Series(counts * bar_seconds, dtype=pl.UInt32),
            "first": ts.gather(starts),
            "last": ts.gather(np.append(starts[1:], days.size) - 1),
        }
    )


@dataclass(frozen=True, slots=True)
class _Grid:
    """Returns laid on a dense grid, one slot per bar, gaps squeezed to ``gap`` slots.

    Within a run of bars slot distance equals time distance, so a shift by k
    slots is a shift by k bars; a longer gap keeps ``gap`` empty slots, more
    than any lag or window looks across, so nothing pairs data over it.
    """

    future: np.ndarray  # demeaned futures returns, 0 where missing
    spot: np.ndarray  # demeaned spot returns, 0 where missing
    valid: np.ndarray  # bool: both returns present
    slots: np.ndarray  # slot of each aligned row
    seconds: np.ndarray  # epoch seconds of each aligned row

    @classmethod
    def build(cls, aligned: pl.DataFrame, bar_seconds: int, gap: int) -> _Grid:
        # ts as integer microseconds is a zero-copy view; dt.epoch("s") allocated and divided
        seconds = aligned.get_column(TS).cast(pl.Int64).to_numpy() // 1_000_000
        bars = seconds // bar_seconds if bar_seconds != 1 else seconds
        slots = _squeezed(bars, gap)
        size = int(slots[-1]) + 1 if slots.size else 0
        # nulls as NaN in polars, then a zero-copy view (to_numpy on a nullable column copies)
        fut_ret = aligned.get_column(FUTURE_RET).fill_null(np.nan).to_numpy()
        spot_ret = aligned.get_column(SPOT_RET).fill_null(np.nan).to_numpy()
        # one scratch array, worked in place: a fresh 1.3 MB array costs ~330 page
        # faults, a third of the analysis's time went to the kernel before
        values = np.add(fut_ret, spot_ret)
        ok = np.isnan(values)
        np.logical_not(ok, out=ok)
        count = max(int(np.count_nonzero(ok)), 1)
        future, spot, valid = np.zeros(size), np.zeros(size), np.zeros(size, dtype=bool)
        # one scatter per array: masked fancy indexing cost more than the maths here
        for grid, returns in ((future, fut_ret), (spot, spot_ret)):
            values.fill(0.0)
            np.copyto(values, returns, where=ok)
            np.subtract(values, values.sum() / count, out=values, where=ok)
            grid[slots] = values
        valid[slots] = ok
        return cls(future, spot, valid, slots, seconds)


def _squeezed(bars: np.ndarray, gap: int) -> np.ndarray:
    """Slot of each bar: its distance from the first, less what steps over ``gap`` exceed it by.

    The same as a cumulative sum of ``min(step, gap)``, but the few long gaps
    are subtracted run by run (a cumulative sum is one slow sequential pass).
    """
    if bars.size == 0:
        return bars.copy()
    steps = np.diff(bars)
    long = np.flatnonzero(steps > gap)
    slots: np.ndarray = bars - bars[0]
    if long.size:
        excess = np.cumsum(steps[long] - gap)
        slots[long[0] + 1 :] -= np.repeat(excess, np.diff(long + 1, append=bars.size))
    return slots


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # einsum, not np.dot: OpenBLAS's threads fight polars' pool for the cores
    # (np.dot ran ~50x slower right after a polars query on 2 cores)
    return float(np.einsum("i,i->", a, b))


def _shifted(values: np.ndarray, lag: int) -> np.ndarray:
    """``values`` moved ``lag`` slots later (slot k holds values[k - lag]), zero-filled."""
    out = np.zeros_like(values)
    if lag >= 0:
        out[lag:] = values[: values.size - lag]
    else:
        out[:lag] = values[-lag:]
    return out


def _samples(aligned: pl.DataFrame) -> int:
    both = pl.col(SPOT_RET).is_not_null() & pl.col(FUTURE_RET).is_not_null()
    return int(aligned.select(both.sum()).item() or 0)


def _grid_gap(params: AnalysisParams, lag_s: int = 0) -> int:
    """Empty slots left for a long gap: more than any lag or window reaches across."""
    bars = params.bar_seconds
    return (
        max(params.max_lag_s // bars, params.correlation_window_s // bars, abs(lag_s) // bars) + 2
    )


def lead_lag(
    aligned: pl.DataFrame, params: AnalysisParams, *, cov: Coverage | None = None
) -> LeadLagResult:
    """Correlate futures returns at t with spot returns at t + lag, lag in ±``max_lag_s``.

    The best lag is the lag of the highest correlation (positive: futures
    lead), its correlation the strength: the normalised cross-correlation over
    every aligned second, on a dense grid with exact sums (a few milliseconds
    for a week of 1-s bars).
    """
    grid = _Grid.build(aligned, params.bar_seconds, _grid_gap(params))
    return _lead_lag(grid, _samples(aligned), params, cov or coverage(aligned, params))


def _lead_lag(grid: _Grid, samples: int, params: AnalysisParams, cov: Coverage) -> LeadLagResult:
    max_lag = params.max_lag_s // params.bar_seconds
    lags = np.arange(-max_lag, max_lag + 1)
    corr = np.full(lags.size, np.nan)
    x, y, size = grid.future, grid.spot, grid.future.size
    norm = math.sqrt(_dot(x, x) * _dot(y, y)) if samples > 2 * max_lag + 2 else 0.0
    if norm > 0:
        # 61 einsum dots are near the floor here: blocked np.dot saved a quarter only in
        # blocks near OpenBLAS's threading threshold (seconds-long stalls above it)
        for i, lag in enumerate(lags):
            if lag >= 0:
                corr[i] = _dot(x[: size - lag], y[lag:]) / norm
            else:
                corr[i] = _dot(x[-lag:], y[: size + lag]) / norm
    curve = pl.DataFrame({LAG: lags * params.bar_seconds, CORR: corr}).fill_nan(None)
    peak_lag: int | None = None
    peak_corr: float | None = None
    extra = None
    if np.isfinite(corr).any():
        i = int(np.nanargmax(corr))
        peak_lag, peak_corr = int(lags[i]) * params.bar_seconds, float(corr[i])
    else:
        extra = "no overlapping returns to correlate"
    concluded, reason = _verdict(cov.days_available, params, extra)
    if concluded:
        reason = f"futures lead spot by {peak_lag} s (corr {peak_corr:.2f}) over {reason}"
    return LeadLagResult(
        concluded,
        cov.days_available,
        params.min_days,
        reason,
        curve,
        peak_lag if concluded else None,
        peak_corr if concluded else None,
        peak_lag,
        peak_corr,
        samples,
    )


def rolling_correlation(
    aligned: pl.DataFrame,
    params: AnalysisParams,
    *,
    lag_s: int = 0,
    every_s: int = 60,
    cov: Coverage | None = None,
) -> CorrelationResult:
    """Rolling correlation of spot returns with futures returns ``lag_s`` earlier.

    The window is ``correlation_window_s`` of bars and never spans a gap; a
    window needs half its bars present. At lag 0 the 1-s returns of a leading
    future barely correlate with spot (spot moves ``lead`` seconds later):
    pass the lead/lag result's lag to follow the relationship itself. The
    frame holds the value at the last bar of every ``every_s`` seconds.
    """
    grid = _Grid.build(aligned, params.bar_seconds, _grid_gap(params, lag_s))
    cov = cov or coverage(aligned, params)
    return _rolling(grid, aligned.get_column(TS), params, lag_s, every_s, cov)


def _minute_ends(seconds: np.ndarray, every_s: int) -> np.ndarray:
    """``seconds % every_s == every_s - 1``, as s - (s // n) * n: numpy divides int64 by a
    constant fast but takes remainders slowly (5x), and in one buffer.
    """
    rest = seconds // every_s
    rest *= every_s
    np.subtract(seconds, rest, out=rest)
    out: np.ndarray = rest == every_s - 1
    return out


def _window_sums(lo: np.ndarray, hi: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Return ``v -> [v[lo[i]:hi[i]].sum() for i]`` for many overlapping windows, in one pass.

    The windows' bounds cut ``v`` into segments; ``np.add.reduceat`` sums the
    segments (vectorised, unlike ``np.cumsum``: a fifth of the cost), and a
    cumulative sum over the few segment sums gives every window as a difference.
    """
    bounds, where = np.unique(np.concatenate([lo, hi]), return_inverse=True)
    at_lo, at_hi = where[: lo.size], where[lo.size :]

    def sums(v: np.ndarray) -> np.ndarray:
        if bounds.size == 0:
            return np.zeros(0)
        prefix = np.zeros(bounds.size)
        np.cumsum(np.add.reduceat(v[: bounds[-1]], bounds[:-1]), out=prefix[1:])
        out: np.ndarray = prefix[at_hi] - prefix[at_lo]
        return out

    return sums


def _rolling(
    grid: _Grid,
    ts: pl.Series,
    params: AnalysisParams,
    lag_s: int,
    every_s: int,
    cov: Coverage,
) -> CorrelationResult:
    window = max(2, params.correlation_window_s // params.bar_seconds)
    shift = lag_s // params.bar_seconds
    frame = pl.DataFrame(
        {TS: [], CORR: []}, schema={TS: pl.Datetime("us", "UTC"), CORR: pl.Float64}
    )
    mean = None
    if grid.future.size > window:
        both = grid.valid & _shifted(grid.valid, shift)
        x = _shifted(grid.future, shift)
        np.copyto(x, 0.0, where=~both)
        y = np.where(both, grid.spot, 0.0)
        # only the sampled windows are evaluated (about one slot in 60)
        keep = (grid.slots >= window - 1) & _minute_ends(grid.seconds, every_s)
        ends = grid.slots[keep] + 1
        sums = _window_sums(ends - window, ends)
        scratch = both.astype(np.float64)  # one product buffer (see _Grid.build)
        sn, sx, sy = sums(scratch), sums(x), sums(y)
        sxx = sums(np.multiply(x, x, out=scratch))
        syy = sums(np.multiply(y, y, out=scratch))
        sxy = sums(np.multiply(x, y, out=scratch))
        with np.errstate(invalid="ignore", divide="ignore"):
            var = (sn * sxx - sx * sx) * (sn * syy - sy * sy)
            values = np.where(
                (sn >= window / 2) & (var > 0), (sn * sxy - sx * sy) / np.sqrt(var), np.nan
            )
        finite = np.isfinite(values)
        frame = pl.DataFrame(
            {TS: ts.filter(pl.Series(keep)).filter(pl.Series(finite)), CORR: values[finite]}
        )
        mean = float(values[finite].mean()) if finite.any() else None
    concluded, reason = _verdict(cov.days_available, params, None if frame.height else "no windows")
    return CorrelationResult(
        concluded,
        cov.days_available,
        params.min_days,
        reason,
        frame,
        params.correlation_window_s,
        lag_s,
        mean if concluded else None,
    )


def analyze_pair(
    futures: pl.DataFrame,
    spot: pl.DataFrame,
    params: AnalysisParams,
    *,
    future: str = "",
    spot_symbol: str = "",
    every_s: int = 60,
) -> PairAnalysis:
    """Align, count coverage, find the lead and follow the correlation at that lead."""
    aligned = align(futures, spot, params)
    return analyze_aligned(aligned, params, future=future, spot_symbol=spot_symbol, every_s=every_s)


def analyze_aligned(
    aligned: pl.DataFrame,
    params: AnalysisParams,
    *,
    future: str = "",
    spot_symbol: str = "",
    every_s: int = 60,
) -> PairAnalysis:
    """``analyze_pair`` on an already aligned frame (see ``align``)."""
    cov = coverage(aligned, params)
    grid = _Grid.build(aligned, params.bar_seconds, _grid_gap(params))
    ll = _lead_lag(grid, _samples(aligned), params, cov)
    lag = ll.peak_lag_s if ll.peak_lag_s is not None else 0
    corr = _rolling(grid, aligned.get_column(TS), params, lag, every_s, cov)
    return PairAnalysis(future, spot_symbol, aligned, cov, ll, corr)
