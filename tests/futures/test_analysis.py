"""Futures vs spot analysis on the simulated market, where the futures' lead is known."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from tradelib.config import TradingConfig
from tradelib.futures.analysis import (
    FUTURE_RET,
    SPOT_RET,
    AnalysisParams,
    align,
    analyze_pair,
    lead_lag,
    rolling_correlation,
)
from tradelib.lake import Lake
from tradelib.stores.futures import CLOSE, TS, load_aligned, load_analyses, read_bars

from .conftest import short_lake

PARAMS = AnalysisParams.from_config(TradingConfig().futures)
T0 = datetime(2026, 11, 2, 15, tzinfo=UTC)


def bars(seconds: list[int], closes: list[float]) -> pl.DataFrame:
    return pl.DataFrame(
        {TS: [T0 + timedelta(seconds=s) for s in seconds], CLOSE: closes},
        schema={TS: pl.Datetime("us", "UTC"), CLOSE: pl.Float64},
    )


def test_a_week_of_simulated_data_finds_the_two_second_lead(week_lake: Lake) -> None:
    results = load_analyses(week_lake, {"ES": "SPY", "NQ": "QQQ", "RTY": "IWM"}, PARAMS)
    for future, result in results.items():
        ll = result.lead_lag
        assert ll.concluded, (future, ll.reason)
        assert ll.days_available == 7
        assert ll.best_lag_s == 2
        assert ll.strength is not None and ll.strength > 0.5
        assert "futures lead spot by 2 s" in ll.reason


def test_a_five_second_lead_is_found_too(tmp_path: Path) -> None:
    lake = short_lake(tmp_path / "lake", days=2, lead_s=5.0)
    params = AnalysisParams(min_days=2)
    futures = read_bars(lake, ["ES"]).collect()
    spot = read_bars(lake, ["SPY"]).collect()
    result = analyze_pair(futures, spot, params, future="ES", spot_symbol="SPY")
    assert result.lead_lag.concluded
    assert result.lead_lag.best_lag_s == 5


def test_fewer_than_seven_days_refuse_to_conclude_and_say_how_many(tmp_path: Path) -> None:
    lake = short_lake(tmp_path / "lake", days=3)
    aligned = load_aligned(lake, {"ES": "SPY"}, PARAMS)["ES"]
    ll = lead_lag(aligned, PARAMS)
    assert not ll.concluded
    assert ll.days_available == 3
    assert "3 of 7 trading days" in ll.reason
    assert ll.best_lag_s is None and ll.strength is None
    assert ll.peak_lag_s == 2  # the provisional peak is still there to look at
    corr = rolling_correlation(aligned, PARAMS, lag_s=2)
    assert not corr.concluded and corr.mean_corr is None
    assert corr.frame.height > 0


def test_the_as_of_join_takes_the_latest_future_within_the_tolerance() -> None:
    futures = bars([0, 10], [100.0, 101.0])
    spot = bars([3, 17, 20], [10.0, 10.1, 10.2])
    aligned = align(futures, spot, AnalysisParams(asof_tolerance_s=5))
    # 3 s after the 0 s future: matched; 17 s is 7 s after the 10 s future: out of tolerance
    assert aligned.get_column(TS).to_list() == [T0 + timedelta(seconds=3)]
    assert aligned.get_column("future").to_list() == [100.0]
    wide = align(futures, spot, AnalysisParams(asof_tolerance_s=10))
    assert wide.get_column("future").to_list() == [100.0, 101.0, 101.0]


def test_returns_are_never_taken_across_a_gap() -> None:
    seconds = [0, 1, 2, 60, 61]
    aligned = align(bars(seconds, [1.0, 2.0, 3.0, 4.0, 5.0]), bars(seconds, [1.0] * 5), PARAMS)
    returns = aligned.get_column(FUTURE_RET).to_list()
    assert returns[0] is None and returns[3] is None  # first bar, first bar after the gap
    assert returns[1] == pytest.approx(0.6931, abs=1e-4)
    assert aligned.get_column(SPOT_RET).to_list()[4] == 0.0


def test_at_the_lead_returns_correlate_and_at_lag_zero_they_do_not(week_lake: Lake) -> None:
    aligned = load_aligned(week_lake, {"ES": "SPY"}, PARAMS)["ES"]
    at_lead = rolling_correlation(aligned, PARAMS, lag_s=2)
    at_zero = rolling_correlation(aligned, PARAMS, lag_s=0)
    assert at_lead.concluded and at_lead.mean_corr is not None and at_lead.mean_corr > 0.5
    assert at_zero.mean_corr is not None and abs(at_zero.mean_corr) < 0.2
    # one value per minute of regular hours, stamped at the minute's last second
    assert at_lead.frame.height > 6 * 380
    assert set(at_lead.frame.get_column(TS).dt.second().unique().to_list()) == {59}


def test_no_data_gives_an_unconcluded_result_not_an_error() -> None:
    empty = bars([], [])
    result = analyze_pair(empty, empty, PARAMS)
    assert not result.lead_lag.concluded
    assert result.lead_lag.days_available == 0
    assert result.lead_lag.peak_lag_s is None
    assert result.correlation.frame.height == 0


def test_analysis_columns_are_the_bars_table_columns() -> None:
    """The pure analysis names two columns of ``futures_bars``; the table spec must have them."""
    from tradelib.futures import analysis
    from tradelib.lake import TABLES, TableName

    spec = TABLES[TableName.FUTURES_BARS]
    assert spec.column(analysis.TS) == analysis.TS
    assert spec.column(analysis.CLOSE) == analysis.CLOSE
