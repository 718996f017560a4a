"""Prediction tracking, variance analysis and the strategy weights fed back into entry.

All pure: a ``Prediction`` made at entry and its ``Outcome`` at exit;
``analyze_prediction_variance`` measures the misses; ``resolve_weights`` /
``get_strategy_weights`` / ``get_regime_strategy_weights`` turn them into
strategy weights with the config overrides. Their tables live in
``tradelib.stores.predictions`` and ``tradelib.stores.weights``
(``WeightsProvider`` hands the weights to entry); the job is
``tradelib.jobs.variance``.
"""

from tradelib.variance.analysis import (
    ALL_REGIMES,
    NEUTRAL_WEIGHT,
    VarianceReport,
    VarianceStats,
    analyze_prediction_variance,
    calibration_table,
    scored_predictions,
    weight_from_mae,
    window_start,
)
from tradelib.variance.predictions import (
    ExitRecord,
    ExitStatus,
    Outcome,
    Prediction,
    apply_exit,
    prediction_id_for,
)
from tradelib.variance.weights import (
    StrategyWeight,
    WeightSource,
    WeightTable,
    get_regime_strategy_weights,
    get_strategy_weights,
    resolve_weights,
)

__all__ = [
    "ALL_REGIMES",
    "NEUTRAL_WEIGHT",
    "ExitRecord",
    "ExitStatus",
    "Outcome",
    "Prediction",
    "StrategyWeight",
    "VarianceReport",
    "VarianceStats",
    "WeightSource",
    "WeightTable",
    "analyze_prediction_variance",
    "apply_exit",
    "calibration_table",
    "get_regime_strategy_weights",
    "get_strategy_weights",
    "prediction_id_for",
    "resolve_weights",
    "scored_predictions",
    "weight_from_mae",
    "window_start",
]
