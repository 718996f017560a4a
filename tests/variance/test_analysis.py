"""Variance statistics: the window, the minimum count, regime grouping, calibration."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tradelib.config import VarianceAnalysisConfig
from tradelib.variance import (
    ALL_REGIMES,
    NEUTRAL_WEIGHT,
    analyze_prediction_variance,
    calibration_table,
)

from .rows import NOW, closed, frame, many

CFG = VarianceAnalysisConfig()


def test_mae_and_bias_are_fractions_of_max_risk() -> None:
    rows = many(10, "iron_condor", 0.1, alternate=True, max_loss=2000.0)
    s = analyze_prediction_variance(frame(rows), NOW, CFG).stats("iron_condor")
    assert s is not None and s.count == 10
    assert s.mae == pytest.approx(0.1) and s.bias == pytest.approx(0.0, abs=1e-12)
    assert s.enough_data and s.weight == pytest.approx(0.75)


def test_an_optimistic_model_shows_a_negative_bias() -> None:
    s = analyze_prediction_variance(frame(many(12, "short_put", -0.3)), NOW, CFG).stats("short_put")
    assert s is not None and s.bias == pytest.approx(-0.3) and s.weight == CFG.min_weight


def test_fewer_than_min_predictions_is_not_enough_data_and_neutral() -> None:
    rows = many(CFG.min_predictions - 1, "short_strangle", 0.4)
    s = analyze_prediction_variance(frame(rows), NOW, CFG).stats("short_strangle")
    assert s is not None and not s.enough_data
    assert s.weight == NEUTRAL_WEIGHT == 1.0
    assert "not enough data" in s.reason and s.mae == pytest.approx(0.4)


def test_exactly_min_predictions_is_enough() -> None:
    rows = many(CFG.min_predictions, "short_strangle", 0.4)
    s = analyze_prediction_variance(frame(rows), NOW, CFG).stats("short_strangle")
    assert s is not None and s.enough_data and s.weight == 0.5


def test_requested_strategies_without_predictions_are_reported_neutral() -> None:
    report = analyze_prediction_variance(frame([]), NOW, CFG, ["short_put", "iron_condor"])
    assert [s.strategy_type for s in report.by_strategy] == ["iron_condor", "short_put"]
    assert all(s.count == 0 and s.weight == 1.0 and s.mae is None for s in report.by_strategy)
    assert report.frame().height == 2


def test_lookback_window_includes_both_ends_and_excludes_the_future() -> None:
    start = NOW - timedelta(days=CFG.lookback_days)
    tiny = timedelta(microseconds=1)
    rows = [
        closed(closed_at=start),  # first instant of the window: in
        closed(closed_at=NOW),  # the review time itself: in
        closed(closed_at=start - tiny),  # just too old: out
        closed(closed_at=NOW + tiny),  # not closed yet at NOW: out
    ]
    report = analyze_prediction_variance(frame(rows), NOW, CFG)
    assert report.window_start == start
    s = report.stats("iron_condor")
    assert s is not None and s.count == 2


def test_a_shorter_lookback_forgets_older_misses() -> None:
    old = [closed("short_put", miss=-0.1, closed_at=NOW - timedelta(days=20)) for _ in range(10)]
    recent = many(10, "short_put", 0.0)
    long_view = analyze_prediction_variance(frame(old + recent), NOW, CFG).stats("short_put")
    short_cfg = CFG.model_copy(update={"lookback_days": 10})
    short_view = analyze_prediction_variance(frame(old + recent), NOW, short_cfg).stats("short_put")
    assert (
        long_view is not None and long_view.count == 20 and long_view.weight == pytest.approx(0.875)
    )
    assert short_view is not None and short_view.count == 10 and short_view.weight == 1.0


def test_open_and_unscorable_predictions_are_left_out() -> None:
    open_row = closed() | {"actual_pnl": None, "closed_at": None}
    no_risk = closed(max_loss=0.0)
    report = analyze_prediction_variance(frame([open_row, no_risk, closed()]), NOW, CFG)
    s = report.stats("iron_condor")
    assert s is not None and s.count == 1


def test_regimes_are_grouped_separately_and_unknown_regime_only_counts_overall() -> None:
    rows = (
        many(10, "short_strangle", -0.4, regime="crash")
        + many(10, "short_strangle", 0.0, regime="low_vol")
        + many(3, "short_strangle", 0.0, regime=None)
    )
    report = analyze_prediction_variance(frame(rows), NOW, CFG)
    crash, calm = report.stats("short_strangle", "crash"), report.stats("short_strangle", "low_vol")
    overall = report.stats("short_strangle", ALL_REGIMES)
    assert crash is not None and crash.count == 10 and crash.weight == 0.5
    assert calm is not None and calm.count == 10 and calm.weight == 1.0
    assert overall is not None and overall.count == 23
    assert overall.mae == pytest.approx(0.4 * 10 / 23)
    assert {s.regime for s in report.by_regime} == {"crash", "low_vol"}


def test_calibration_compares_predicted_pop_with_the_win_rate_and_scores_brier() -> None:
    # PoP 0.8 predicted; 3 of 4 win -> win rate 0.75; Brier = (3 x 0.04 + 0.64) / 4 = 0.19
    rows = [closed(pop=0.8, actual=50.0) for _ in range(3)] + [closed(pop=0.8, actual=-200.0)]
    s = analyze_prediction_variance(frame(rows), NOW, CFG).stats("iron_condor")
    assert s is not None
    assert s.mean_pop == pytest.approx(0.8) and s.win_rate == pytest.approx(0.75)
    assert s.brier == pytest.approx(0.19)
    assert s.calibration_gap == pytest.approx(-0.05)


def test_calibration_table_bins_by_predicted_probability() -> None:
    rows = (
        [closed(pop=0.15, actual=10.0), closed(pop=0.05, actual=-10.0)]
        + [closed(pop=0.95, actual=10.0) for _ in range(3)]
        + [closed(pop=1.0, actual=-10.0)]
    )
    table = calibration_table(frame(rows), NOW, CFG, bins=5)
    assert table["bin_low"].to_list() == [0.0, 0.8]
    assert table["count"].to_list() == [2, 4]
    assert table["win_rate"].to_list() == pytest.approx([0.5, 0.75])
    assert table["mean_pop"].to_list() == pytest.approx([0.1, 0.9625])


def test_naive_review_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        analyze_prediction_variance(frame([]), NOW.replace(tzinfo=None), CFG)
