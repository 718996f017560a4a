"""The overnight signal: the futures move since the spot close, judged against history."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from tradelib.config import TradingConfig
from tradelib.futures.analysis import AnalysisParams
from tradelib.futures.signal import futures_signal
from tradelib.lake import Lake
from tradelib.stores.futures import CLOSE, TS, current_signal, read_bars

from .conftest import END_DAY

DAY0 = datetime(2026, 11, 2, 14, 30, tzinfo=UTC)
HORIZON = timedelta(hours=2)
EARLIER_MOVES = [0.001, -0.001, 0.002]  # after the first three closes
LAST_MOVE = 0.01  # since the latest close


def synthetic() -> tuple[pl.DataFrame, pl.DataFrame, list[datetime], datetime]:
    """Four days: 5 minutes of spot a day (the "session"), futures every second throughout.

    After each close the future moves by a known amount over two hours, then rests.
    """
    closes = [DAY0 + timedelta(days=d, minutes=5) for d in range(4)]
    now = closes[-1] + HORIZON
    seconds = np.arange(0, int((now - DAY0).total_seconds()))
    price = np.full(seconds.size, 100.0)
    level = 100.0
    for close, move in zip(closes, [*EARLIER_MOVES, LAST_MOVE], strict=True):
        c = int((close - DAY0).total_seconds())
        ramp = np.clip((seconds - c) / HORIZON.total_seconds(), 0.0, 1.0)
        after = seconds >= c
        price[after] = level * (1.0 + move * ramp[after])
        level *= 1.0 + move
    ts = [DAY0 + timedelta(seconds=int(s)) for s in seconds]
    futures = pl.DataFrame(
        {TS: ts, CLOSE: price}, schema={TS: pl.Datetime("us", "UTC"), CLOSE: pl.Float64}
    )
    spot = futures.filter(
        pl.any_horizontal(
            [(pl.col(TS) >= c - timedelta(minutes=5)) & (pl.col(TS) < c) for c in closes]
        )
    ).with_columns((pl.col(CLOSE) / 10.0).alias(CLOSE))
    return futures, spot, closes, now


def test_an_unusual_overnight_rise_gives_a_high_zscore_and_the_implied_open() -> None:
    futures, spot, closes, now = synthetic()
    params = AnalysisParams(min_days=2, min_day_coverage_s=60)
    signal = futures_signal(futures, spot, now, closes, params, future="ES", spot_symbol="SPY")
    assert signal.concluded, signal.reason
    assert signal.spot_close_ts == closes[-1]
    assert signal.move_pct == pytest.approx(100 * LAST_MOVE, abs=1e-3)
    history = [100 * m for m in EARLIER_MOVES]
    expected_z = (100 * LAST_MOVE - statistics.fmean(history)) / statistics.stdev(history)
    assert signal.history == 3
    assert signal.zscore == pytest.approx(expected_z, rel=1e-3)
    assert signal.implied_spot == pytest.approx(signal.spot_close * 1.01, abs=1e-3)  # type: ignore[operator]
    assert signal.direction() == 1
    assert "+1.00% since the SPY close" in signal.headline()


def test_too_few_days_give_the_move_but_no_zscore_and_say_how_many() -> None:
    futures, spot, closes, now = synthetic()
    params = AnalysisParams(min_days=7, min_day_coverage_s=60)
    signal = futures_signal(futures, spot, now, closes, params, future="ES", spot_symbol="SPY")
    assert not signal.concluded
    assert signal.days_available == 4
    assert "4 of 7 trading days" in signal.reason
    assert signal.zscore is None and signal.direction() == 0
    assert signal.move_pct == pytest.approx(1.0, abs=1e-3)


def test_bars_after_now_are_never_used() -> None:
    futures, spot, closes, now = synthetic()
    params = AnalysisParams(min_days=2, min_day_coverage_s=60)
    earlier = now - timedelta(hours=1)
    signal = futures_signal(futures, spot, earlier, closes, params)
    assert signal.future_last_ts == earlier
    assert signal.move_pct == pytest.approx(100 * LAST_MOVE / 2, abs=1e-3)  # halfway up the ramp


def test_the_signal_from_the_demo_lake_reads_the_evening_after_the_last_close(
    week_lake: Lake,
) -> None:
    signal = current_signal(week_lake, TradingConfig(), "ES")
    assert signal.concluded, signal.reason
    assert signal.days_available == 7 and signal.history >= 5
    close = datetime(END_DAY.year, END_DAY.month, END_DAY.day, 21, tzinfo=UTC)  # 16:00 New York
    assert signal.spot_close_ts == close
    bar = read_bars(week_lake, ["SPY", "ES"], close - timedelta(seconds=1), close, (TS, CLOSE))
    last = dict(bar.collect().select("symbol", CLOSE).iter_rows())
    assert signal.spot_close == last["SPY"] and signal.future_at_close == last["ES"]
    assert signal.move_pct == pytest.approx(100 * (signal.future_last / last["ES"] - 1))  # type: ignore[operator]
    assert signal.as_of > close + timedelta(hours=2)  # futures reopened at 18:00 New York
