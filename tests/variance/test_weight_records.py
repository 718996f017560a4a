"""What the variance analysis hands on: weight rows for the lake table, the statistics frame
and the one-line explanation people read, each field in its named place."""

from __future__ import annotations

import pytest

from tradelib.config import VarianceAnalysisConfig
from tradelib.variance import (
    ALL_REGIMES,
    StrategyWeight,
    WeightSource,
    analyze_prediction_variance,
    calibration_table,
    get_regime_strategy_weights,
    get_strategy_weights,
    resolve_weights,
)

from .rows import NOW, closed, frame, many

CFG = VarianceAnalysisConfig()


def _weight(**kw: object) -> StrategyWeight:
    base: dict[str, object] = {
        "strategy_type": "short_put",
        "regime": ALL_REGIMES,
        "weight": 0.75,
        "source": WeightSource.VARIANCE,
        "adjustment": None,
        "mae": 0.1,
        "bias": 0.0,
        "count": 12,
    }
    return StrategyWeight(**{**base, **kw})  # type: ignore[arg-type]


def test_a_computed_weight_explains_its_mae_and_count() -> None:
    assert _weight().describe() == "short_put in all regimes: 0.750 (variance, mae 0.100 over 12)"


def test_a_default_weight_says_how_few_predictions_closed() -> None:
    w = _weight(regime="crash", weight=1.0, source=WeightSource.DEFAULT, mae=None, count=3)
    assert w.describe() == "short_put in crash: 1.000 (default, 3 closed)"


def test_a_config_weight_names_only_its_source_and_an_adjustment_its_factor() -> None:
    w = _weight(weight=0.9, source=WeightSource.CONFIG, mae=0.2)
    assert w.describe() == "short_put in all regimes: 0.900 (config)"
    adjusted = _weight(regime="high_vol", weight=0.6, adjustment=0.8, mae=0.1)
    assert adjusted.describe() == (
        "short_put in high_vol: 0.600 (variance, mae 0.100 over 12, x0.8 high_vol adjustment)"
    )


def test_weight_rows_carry_every_field_under_the_lake_tables_names() -> None:
    report = analyze_prediction_variance(
        frame(many(12, "short_put", 0.1, alternate=True)), NOW, CFG, ["short_put"]
    )
    table = resolve_weights(report, CFG, ["short_put"])
    out = table.frame()
    first = out.row(0, named=True)
    assert {k: first[k] for k in ("strategy_type", "regime", "source", "count")} == {
        "strategy_type": "short_put",
        "regime": ALL_REGIMES,
        "source": "variance",
        "count": 12,
    }
    assert first["weight"] == pytest.approx(0.75) and first["mae"] == pytest.approx(0.1)
    assert first["bias"] == pytest.approx(0.0, abs=1e-12) and first["adjustment"] is None
    assert out["computed_at"].null_count() == 0
    assert out["strategy_type"].null_count() == 0 and out["weight"].null_count() == 0
    records = table.records()
    assert set(records[0]) == set(out.columns)


def test_the_statistics_frame_has_every_figure_in_its_column() -> None:
    report = analyze_prediction_variance(
        frame(many(12, "short_put", -0.3)), NOW, CFG, ["short_put"]
    )
    row = report.frame().row(0, named=True)
    assert (row["strategy_type"], row["regime"], row["count"]) == ("short_put", ALL_REGIMES, 12)
    assert row["mae"] == pytest.approx(0.3) and row["bias"] == pytest.approx(-0.3)
    assert row["mean_pop"] == pytest.approx(0.7) and row["win_rate"] is not None
    assert row["brier"] is not None and row["enough_data"] is True
    assert row["weight"] == pytest.approx(0.5) and "mae" in row["reason"]


def test_the_getters_answer_for_the_strategies_asked_and_the_regimes_asked() -> None:
    report = analyze_prediction_variance(
        frame(many(12, "short_put", 0.1, alternate=True)), NOW, CFG, ["short_put"]
    )
    # Asked for a strategy the report has no predictions of: it is there, neutral.
    assert get_strategy_weights(report, CFG, ["iron_condor"]) == {"iron_condor": 1.0}
    by_regime = get_regime_strategy_weights(report, CFG, ["iron_condor"], regimes=["crash"])
    assert by_regime == {"crash": {"iron_condor": 1.0}}
    (row,) = resolve_weights(report, CFG, ["iron_condor"], regimes=()).rows
    assert (row.source, row.count, row.mae, row.bias) == (WeightSource.DEFAULT, 0, None, None)


def test_calibration_bins_have_both_edges_and_one_bin_is_allowed() -> None:
    rows = [closed(pop=0.15, actual=10.0), closed(pop=0.95, actual=-10.0)]
    table = calibration_table(frame(rows), NOW, CFG, bins=5)
    assert table["bin_low"].to_list() == pytest.approx([0.0, 0.8])
    assert table["bin_high"].to_list() == pytest.approx([0.2, 1.0])
    one = calibration_table(frame(rows), NOW, CFG, bins=1)
    assert (one["bin_low"].to_list(), one["bin_high"].to_list()) == ([0.0], [1.0])
    assert one["count"].to_list() == [2]
    with pytest.raises(ValueError, match="bins must be > 0, got 0"):
        calibration_table(frame(rows), NOW, CFG, bins=0)


def test_calibration_leaves_out_predictions_without_a_probability() -> None:
    rows = [closed(pop=0.5, actual=10.0), closed(pop=None, actual=10.0)]
    rows += [closed(pop=float("nan"), actual=-10.0)]
    table = calibration_table(frame(rows), NOW, CFG, bins=2)
    assert table["count"].to_list() == [1]
    assert table["bin_low"].to_list() == [0.5]


def test_too_few_predictions_keep_the_neutral_weight_however_large_the_miss() -> None:
    report = analyze_prediction_variance(
        frame(many(CFG.min_predictions - 1, "short_put", -0.4)), NOW, CFG, ["short_put"]
    )
    (row,) = resolve_weights(report, CFG, ["short_put"], regimes=()).rows
    assert (row.weight, row.source, row.count) == (1.0, WeightSource.DEFAULT, 9)
    assert row.mae == pytest.approx(0.4) and row.bias == pytest.approx(-0.4)


def test_strategies_named_only_in_regime_adjustments_are_resolved_too() -> None:
    cfg = VarianceAnalysisConfig(regime_adjustments={"crash": {"iron_condor": 0.8}})
    report = analyze_prediction_variance(
        frame(many(12, "short_put", 0.1, alternate=True)), NOW, cfg
    )
    weights = resolve_weights(report, cfg).strategy_weights()
    assert set(weights) == {"short_put", "iron_condor"}


def test_a_requested_strategy_without_predictions_has_a_count_of_zero() -> None:
    report = analyze_prediction_variance(frame([]), NOW, CFG, ["short_put"])
    stats = report.stats("short_put")
    assert stats is not None and stats.count == 0 and stats.mae is None


def test_a_prediction_without_a_finite_pop_is_left_out_of_the_mean_pop() -> None:
    rows = [closed(pop=0.8, actual=10.0) for _ in range(10)] + [closed(pop=float("nan"))]
    stats = analyze_prediction_variance(frame(rows), NOW, CFG).stats("iron_condor")
    assert stats is not None and stats.count == 11
    assert stats.mean_pop == pytest.approx(0.8) and stats.win_rate == pytest.approx(1.0)


def test_a_naive_review_time_is_refused_naming_the_argument() -> None:
    with pytest.raises(ValueError, match=r"^now "):
        analyze_prediction_variance(frame([]), NOW.replace(tzinfo=None), CFG)


def test_a_break_even_trade_is_not_a_win() -> None:
    rows = [closed(pop=0.5, actual=0.0) for _ in range(5)]
    rows += [closed(pop=0.5, actual=0.5) for _ in range(5)]  # fifty cents of profit wins
    stats = analyze_prediction_variance(frame(rows), NOW, CFG).stats("iron_condor")
    assert stats is not None and stats.win_rate == pytest.approx(0.5)
