"""Prediction tracking, variance analysis and the strategy weights fed back into entry.

``StrategyPredictionsTable`` stores each entry's ``Prediction`` and, at exit,
its actual outcome; ``analyze_prediction_variance`` measures the misses (pure);
``resolve_weights`` / ``get_strategy_weights`` / ``get_regime_strategy_weights``
turn them into strategy weights with the config overrides; ``WeightsProvider``
hands them to the entry workflow; ``run_variance_job`` stores them over time.
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
from tradelib.variance.job import (
    StrategyWeightsTable,
    VarianceJobSummary,
    run_variance_job,
    variance_job,
)
from tradelib.variance.predictions import (
    ExitRecord,
    ExitStatus,
    Outcome,
    Prediction,
    StrategyPredictionsTable,
    prediction_id_for,
)
from tradelib.variance.provider import EntryWeights, WeightProvenance, WeightsProvider
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
    "EntryWeights",
    "ExitRecord",
    "ExitStatus",
    "Outcome",
    "Prediction",
    "StrategyPredictionsTable",
    "StrategyWeight",
    "StrategyWeightsTable",
    "VarianceJobSummary",
    "VarianceReport",
    "VarianceStats",
    "WeightProvenance",
    "WeightSource",
    "WeightTable",
    "WeightsProvider",
    "analyze_prediction_variance",
    "calibration_table",
    "get_regime_strategy_weights",
    "get_strategy_weights",
    "prediction_id_for",
    "resolve_weights",
    "run_variance_job",
    "scored_predictions",
    "variance_job",
    "weight_from_mae",
    "window_start",
]
