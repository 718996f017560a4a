"""Weights from MAE, and how the config overrides and regime adjustments combine."""

from __future__ import annotations

import pytest

from tradelib.config import REGIME_NAMES, TradingConfig, VarianceAnalysisConfig
from tradelib.variance import (
    ALL_REGIMES,
    VarianceReport,
    WeightSource,
    analyze_prediction_variance,
    get_regime_strategy_weights,
    get_strategy_weights,
    resolve_weights,
    weight_from_mae,
)

from .rows import NOW, frame, many

CFG = VarianceAnalysisConfig()
STRATEGIES = ("iron_condor", "short_put", "short_strangle")


@pytest.mark.parametrize(
    ("mae", "weight"),
    [
        (0.0, 1.0),  # perfect predictions: full weight
        (0.1, 0.75),  # 1 - 0.1 / 0.4
        (0.2, 0.5),  # 1 - min(0.5, 0.5): the penalty is capped here ...
        (0.4, 0.5),  # ... so a bigger miss costs no more
        (1.0, 0.5),
        (25.0, 0.5),
    ],
)
def test_weight_formula_at_its_edges(mae: float, weight: float) -> None:
    assert weight_from_mae(mae, CFG) == pytest.approx(weight)


def test_weight_formula_reads_every_number_from_config() -> None:
    cfg = VarianceAnalysisConfig(mae_scale=0.2, min_weight=0.3, max_penalty=0.9)
    assert weight_from_mae(0.1, cfg) == pytest.approx(0.5)
    assert weight_from_mae(1.0, cfg) == pytest.approx(0.3)  # the floor wins over 1 - 0.9


@pytest.mark.parametrize("mae", [-0.1, float("nan"), float("inf")])
def test_weight_formula_refuses_a_meaningless_mae(mae: float) -> None:
    with pytest.raises(ValueError, match="mae"):
        weight_from_mae(mae, CFG)


def _report(cfg: VarianceAnalysisConfig = CFG) -> VarianceReport:
    rows = (
        many(12, "short_put", 0.1, alternate=True)  # mae 0.1 -> 0.75
        + many(6, "short_strangle", -0.4, regime="crash")  # too few on their own
        + many(10, "short_strangle", -0.05, regime="normal")  # mae 0.05 -> 0.875
    )
    return analyze_prediction_variance(frame(rows), NOW, cfg, STRATEGIES)


def test_computed_weights_without_overrides() -> None:
    table = resolve_weights(_report(), CFG, STRATEGIES)
    assert table.strategy_weights() == pytest.approx(
        {"iron_condor": 1.0, "short_put": 0.75, "short_strangle": 1 - (6 * 0.4 + 0.5) / 16 / 0.4}
    )
    condor = table.row("iron_condor")
    assert condor is not None and condor.source is WeightSource.DEFAULT and condor.count == 0


def test_a_regime_with_enough_data_gets_its_own_weight_else_inherits() -> None:
    table = resolve_weights(_report(), CFG, STRATEGIES)
    normal, crash = table.row("short_strangle", "normal"), table.row("short_strangle", "crash")
    overall = table.row("short_strangle")
    assert normal is not None and normal.source is WeightSource.VARIANCE
    assert normal.weight == pytest.approx(0.875) and normal.count == 10
    assert crash is not None and overall is not None
    assert crash.source is WeightSource.INHERITED and crash.weight == overall.weight
    regimes = table.regime_weights()
    assert set(regimes) == set(REGIME_NAMES)
    assert all(set(per) == set(STRATEGIES) for per in regimes.values())


def test_manual_strategy_weight_replaces_computed_weights_in_every_regime() -> None:
    cfg = CFG.model_copy(update={"strategy_weights": {"short_strangle": 0.8}})
    table = resolve_weights(_report(cfg), cfg, STRATEGIES)
    assert table.strategy_weights()["short_strangle"] == 0.8
    for regime in REGIME_NAMES:
        row = table.row("short_strangle", regime)
        assert row is not None and row.weight == 0.8 and row.source is WeightSource.CONFIG
    assert table.strategy_weights()["short_put"] == pytest.approx(0.75)  # others untouched


def test_regime_adjustment_multiplies_only_that_regimes_weight() -> None:
    cfg = CFG.model_copy(
        update={
            "strategy_weights": {"iron_condor": 0.8},
            "regime_adjustments": {
                "crash": {"short_put": 0.5, "iron_condor": 0.5},
                "normal": {"short_strangle": 2.0},
            },
        }
    )
    table = resolve_weights(_report(cfg), cfg, STRATEGIES)
    regimes = table.regime_weights()
    assert regimes["crash"]["short_put"] == pytest.approx(0.75 * 0.5)  # computed x adjustment
    assert regimes["crash"]["iron_condor"] == pytest.approx(0.8 * 0.5)  # manual x adjustment
    assert regimes["normal"]["short_strangle"] == pytest.approx(0.875 * 2.0)
    assert regimes["high_vol"]["short_put"] == pytest.approx(0.75)  # no adjustment there
    assert table.strategy_weights()["short_put"] == pytest.approx(0.75)  # "*" never adjusted
    row = table.row("short_put", "crash")
    assert row is not None and row.adjustment == 0.5 and "x0.5 crash adjustment" in row.describe()


def test_getters_match_the_resolved_table() -> None:
    report = _report()
    table = resolve_weights(report, CFG, STRATEGIES)
    assert get_strategy_weights(report, CFG, STRATEGIES) == table.strategy_weights()
    assert get_regime_strategy_weights(report, CFG, STRATEGIES) == table.regime_weights()


def test_default_strategies_include_those_named_in_overrides() -> None:
    cfg = CFG.model_copy(update={"strategy_weights": {"call_credit_spread": 0.9}})
    weights = get_strategy_weights(_report(cfg), cfg)
    assert weights["call_credit_spread"] == 0.9 and "short_put" in weights


def test_table_rows_fit_the_strategy_weights_lake_schema() -> None:
    table = resolve_weights(_report(), CFG, STRATEGIES)
    out = table.frame()
    assert out.height == len(STRATEGIES) * (1 + len(REGIME_NAMES))
    assert out.filter(out["regime"] == ALL_REGIMES).height == len(STRATEGIES)
    assert set(out["source"].unique()) <= {s.value for s in WeightSource}


def test_the_shipped_config_has_no_overrides() -> None:
    v = TradingConfig().variance_analysis
    assert v.strategy_weights == {} and v.regime_adjustments == {}


def test_weight_frame_columns_match_the_lake_table() -> None:
    """The pure core spells the frame's columns; the lake's declared schema must agree."""
    from tradelib.lake import TABLES, TableName
    from tradelib.variance.weights import FRAME_SCHEMA

    assert dict(TABLES[TableName.STRATEGY_WEIGHTS].polars_schema) == FRAME_SCHEMA
