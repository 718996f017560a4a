"""The research review: which lake it reads, and its figures on full and empty data."""

from __future__ import annotations

from pathlib import Path

from tradelib.config import TradingConfig
from tradelib.demo.variance import review_lake
from tradelib.jobs.context import LakeContext
from tradelib.jobs.variance import run_variance
from tradelib.lake import Lake
from tradelib.stores.weights import StrategyWeightsTable
from tradelib.variance import calibration_table, scored_predictions
from tradelib.variance.figures import calibration_figure, pnl_scatter_figure, weights_figure

from .rows import NOW, frame, many

CFG = TradingConfig()


def test_a_lake_with_closed_predictions_is_reviewed_as_is(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.append("predictions", many(4, "short_put", -0.1))
    review = review_lake(CFG, lake.root, NOW.isoformat())
    assert not review.simulated and review.lake.root == lake.root and review.now == NOW
    assert "4 closed predictions" in review.note


def test_figures_show_one_trace_per_strategy(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.append("predictions", many(10, "short_put", -0.1) + many(10, "iron_condor", 0.05))
    run_variance(LakeContext.at_time(CFG, lake, NOW))
    predictions = lake.read("predictions").collect()
    v = CFG.variance_analysis
    scatter = pnl_scatter_figure(scored_predictions(predictions, NOW, v))
    assert [t.name for t in scatter.data] == ["perfect", "iron_condor", "short_put"]
    calibration = calibration_figure(calibration_table(predictions, NOW, v, bins=5))
    assert len(calibration.data) == 2
    weights = weights_figure(StrategyWeightsTable(lake).history())
    assert sorted(t.name for t in weights.data) == sorted(CFG.strategies.enabled)


def test_figures_of_an_empty_lake_are_empty_but_titled() -> None:
    empty = frame([])
    v = CFG.variance_analysis
    assert (
        "Calibration" in calibration_figure(calibration_table(empty, NOW, v, 5)).layout.title.text
    )
    assert pnl_scatter_figure(scored_predictions(empty, NOW, v)).data == ()
    assert weights_figure(StrategyWeightsTable(Lake("/nonexistent-lake")).history()).data == ()
