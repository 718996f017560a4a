"""The fast analysis against a straightforward one, number by number, on a simulated week.

The reference reads the bars through ``read_bars``, sorts them, as-of joins
them in polars and then pairs returns by timestamp (a return at t with the one
at t + lag, a window as the bars in (t - 300 s, t]) with plain sums: no dense
grid, no squeezed gaps, no segment sums, no sortedness shortcuts.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tradelib.config import TradingConfig
from tradelib.futures import analysis
from tradelib.futures.analysis import (
    CORR,
    DAY,
    FUTURE,
    FUTURE_RET,
    LAG,
    SPOT,
    SPOT_RET,
    AnalysisParams,
    PairAnalysis,
    coverage,
)
from tradelib.lake import Lake
from tradelib.stores import futures as data
from tradelib.stores.futures import BARS_TABLE, CLOSE, TS, bar_rows, load_analyses, read_bars

PARAMS = AnalysisParams.from_config(TradingConfig().futures)
PAIRS = {"ES": "SPY", "NQ": "QQQ", "RTY": "IWM"}
TOL = 1e-9
DAY0 = datetime(2026, 11, 23, tzinfo=UTC)


def reference_aligned(lake: Lake, future: str, spot: str) -> pl.DataFrame:
    """Sort, as-of join, returns where the previous row is exactly one second earlier."""
    fut = read_bars(lake, [future], columns=(TS, CLOSE)).collect().sort(TS)
    spt = read_bars(lake, [spot], columns=(TS, CLOSE)).collect().sort(TS)
    joined = (
        spt.select(TS, pl.col(CLOSE).alias(SPOT))
        .join_asof(
            fut.select(TS, pl.col(CLOSE).alias(FUTURE)),
            on=TS,
            strategy="backward",
            tolerance=f"{PARAMS.asof_tolerance_s}s",
        )
        .drop_nulls(FUTURE)
    )
    one_bar = pl.col(TS).diff().dt.total_seconds() == 1
    return joined.with_columns(
        pl.col(TS).dt.date().alias(DAY),
        pl.when(one_bar).then(pl.col(SPOT).log().diff()).alias(SPOT_RET),
        pl.when(one_bar).then(pl.col(FUTURE).log().diff()).alias(FUTURE_RET),
    )


def _columns(aligned: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    seconds = aligned.get_column(TS).dt.epoch("s").to_numpy()
    fut = aligned.get_column(FUTURE_RET).to_numpy()
    spot = aligned.get_column(SPOT_RET).to_numpy()
    ok = ~(np.isnan(fut) | np.isnan(spot))
    return seconds, np.where(ok, fut, 0.0), np.where(ok, spot, 0.0), ok


def _at(seconds: np.ndarray, when: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row of each time in ``when`` and whether there is a row at exactly that time."""
    row = np.clip(np.searchsorted(seconds, when), 0, seconds.size - 1)
    return row, seconds[row] == when


def reference_curve(aligned: pl.DataFrame) -> dict[int, float]:
    """sum_t x(t) y(t + lag) / sqrt(sum x^2 sum y^2), x and y demeaned over rows with both."""
    seconds, fut, spot, ok = _columns(aligned)
    x = np.where(ok, fut - fut[ok].mean(), 0.0)
    y = np.where(ok, spot - spot[ok].mean(), 0.0)
    norm = math.sqrt(math.fsum(x * x) * math.fsum(y * y))
    curve = {}
    for lag in range(-PARAMS.max_lag_s, PARAMS.max_lag_s + 1):
        row, there = _at(seconds, seconds + lag)
        curve[lag] = math.fsum(np.where(there, x * y[row], 0.0)) / norm
    return curve


def reference_rolling(aligned: pl.DataFrame, lag: int) -> pl.DataFrame:
    """Pearson correlation over each window (t - 300 s, t], t the last second of a minute."""
    seconds, fut, spot, ok = _columns(aligned)
    window = PARAMS.correlation_window_s
    steps = np.diff(seconds, prepend=seconds[:1])
    slots = np.cumsum(np.minimum(steps, window + 2))  # the first full window ends at slot 299
    row, there = _at(seconds, seconds - lag)
    both = ok & there & ok[row]
    x, y = np.where(both, fut[row], 0.0), np.where(both, spot, 0.0)
    out_ts, out_corr = [], []
    for end in np.flatnonzero((seconds % 60 == 59) & (slots + 1 >= window)):
        first = np.searchsorted(seconds, seconds[end] - window, side="right")
        sel = slice(first, end + 1)
        n = float(both[sel].sum())
        sx, sy = math.fsum(x[sel]), math.fsum(y[sel])
        sxx, syy, sxy = math.fsum(x[sel] ** 2), math.fsum(y[sel] ** 2), math.fsum(x[sel] * y[sel])
        var = (n * sxx - sx * sx) * (n * syy - sy * sy)
        if n >= window / 2 and var > 0:
            out_ts.append(aligned.get_column(TS)[int(end)])
            out_corr.append((n * sxy - sx * sy) / math.sqrt(var))
    return pl.DataFrame({TS: out_ts, CORR: out_corr})


@pytest.fixture(scope="module")
def results(week_lake: Lake) -> dict[str, PairAnalysis]:
    return load_analyses(week_lake, PAIRS, PARAMS)


@pytest.mark.parametrize("future", list(PAIRS))
def test_aligned_frames_and_coverage_are_exactly_the_reference(
    week_lake: Lake, results: dict[str, PairAnalysis], future: str
) -> None:
    expected = reference_aligned(week_lake, future, PAIRS[future])
    assert results[future].aligned.equals(expected)
    per_day = (
        expected.group_by(DAY)
        .agg(
            pl.len().alias("seconds"),
            pl.col(TS).min().alias("first"),
            pl.col(TS).max().alias("last"),
        )
        .sort(DAY)
        .with_columns((pl.col("seconds") >= PARAMS.min_day_coverage_s).alias("counts"))
    )
    assert results[future].coverage.per_day.equals(per_day)
    assert results[future].coverage.days_available == 7


@pytest.mark.parametrize("future", list(PAIRS))
def test_lead_lag_curve_matches_the_reference_to_1e_9(
    results: dict[str, PairAnalysis], future: str
) -> None:
    result = results[future]
    expected = reference_curve(result.aligned)
    curve = dict(result.lead_lag.curve.select(LAG, CORR).iter_rows())
    assert curve.keys() == expected.keys()
    assert max(abs(curve[lag] - expected[lag]) for lag in curve) < TOL
    best = max(expected, key=expected.__getitem__)
    assert result.lead_lag.best_lag_s == best == 2
    assert result.lead_lag.strength == pytest.approx(expected[best], abs=TOL)


@pytest.mark.parametrize("future", list(PAIRS))
def test_rolling_correlation_matches_the_reference_to_1e_9(
    results: dict[str, PairAnalysis], future: str
) -> None:
    result = results[future]
    expected = reference_rolling(result.aligned, result.correlation.lag_s)
    frame = result.correlation.frame
    assert frame.get_column(TS).equals(expected.get_column(TS))
    diff = (frame.get_column(CORR) - expected.get_column(CORR)).abs().max()
    assert isinstance(diff, float) and diff < TOL
    mean = expected.get_column(CORR).mean()
    assert result.correlation.mean_corr == pytest.approx(mean, abs=TOL)


def test_squeezed_slots_are_the_running_sum_of_capped_steps() -> None:
    rng = np.random.default_rng(3)
    steps = rng.choice([1, 1, 1, 2, 5, 40, 400, 90_000], size=5_000)
    bars = 1_790_000_000 + np.cumsum(steps)
    for gap in (32, 302):
        expected = np.cumsum(np.minimum(np.diff(bars, prepend=bars[:1]), gap))
        assert np.array_equal(analysis._squeezed(bars, gap), expected)
    assert analysis._squeezed(bars[:0], 302).size == 0


def test_window_sums_are_the_sums_over_each_window() -> None:
    rng = np.random.default_rng(5)
    v = rng.normal(size=3_000)
    hi = np.sort(rng.choice(np.arange(300, 3_001), size=40, replace=False))
    sums = analysis._window_sums(hi - 300, hi)(v)
    expected = [math.fsum(v[h - 300 : h]) for h in hi]
    assert np.allclose(sums, expected, rtol=0, atol=1e-12)


def test_coverage_of_a_frame_out_of_time_order_is_the_same(
    results: dict[str, PairAnalysis],
) -> None:
    aligned = results["ES"].aligned
    shuffled = aligned.sample(fraction=1.0, shuffle=True, seed=11)
    assert coverage(shuffled, PARAMS).per_day.equals(results["ES"].coverage.per_day)


def _minutes(start_hour: int, n: int, price: float) -> pl.DataFrame:
    start = DAY0 + timedelta(hours=start_hour)
    ts = [start + timedelta(seconds=i) for i in range(n)]
    values = [price + i for i in range(n)]
    return pl.DataFrame(
        {"ts": ts, "open": values, "high": values, "low": values, "close": values, "volume": 1.0}
    )


def test_bars_read_in_time_order_whatever_order_the_files_were_written(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    # the evening first, then the morning of the same date, then the day before
    for hours, price in ((20, 3.0), (14, 2.0), (-10, 1.0)):
        lake.append(BARS_TABLE, bar_rows(_minutes(hours, 90, price), "ES", "ESZ6"))
    lake.append(BARS_TABLE, bar_rows(_minutes(14, 90, 9.0), "SPY", "SPY"))
    closes = data.read_closes(lake, ["ES", "SPY"])
    for symbol in ("ES", "SPY"):
        expected = read_bars(lake, [symbol], columns=(TS, CLOSE)).collect().sort(TS)
        assert closes[symbol].equals(expected.select(TS, CLOSE))
        assert closes[symbol].get_column(TS).flags["SORTED_ASC"]
    bounded = data.read_closes(lake, ["ES"], DAY0, DAY0 + timedelta(hours=15))
    assert bounded["ES"].height == 90  # the morning only


def test_bars_out_of_order_inside_files_are_sorted_not_trusted() -> None:
    frame = pl.DataFrame({TS: [3, 1, 2], CLOSE: [3.0, 1.0, 2.0]}).with_columns(
        pl.from_epoch(TS, "s").dt.replace_time_zone("UTC")
    )
    ordered = data._time_ordered(frame)
    assert ordered.get_column(CLOSE).to_list() == [1.0, 2.0, 3.0]
