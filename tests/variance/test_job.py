"""The variance job: recompute, store per computed_at, never duplicate."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from tradelib.config import REGIME_NAMES, TradingConfig
from tradelib.jobs.context import LakeContext
from tradelib.jobs.variance import run_variance
from tradelib.lake import Lake
from tradelib.stores.weights import StrategyWeightsTable

from .rows import NOW, closed, many

CFG = TradingConfig()
ROWS_PER_RUN = len(CFG.strategies.enabled) * (1 + len(REGIME_NAMES))


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake(tmp_path / "lake")
    lake.append("predictions", many(10, "iron_condor", -0.1, regime="high_vol"))
    return lake


def test_the_job_stores_every_strategy_in_every_regime(lake: Lake) -> None:
    summary = run_variance(LakeContext.at_time(CFG, lake, NOW))
    assert summary.stored.inserted == ROWS_PER_RUN
    latest = StrategyWeightsTable(lake).latest()
    assert latest.height == ROWS_PER_RUN and latest["computed_at"].unique().to_list() == [NOW]
    condor = latest.filter((pl.col("strategy_type") == "iron_condor") & (pl.col("regime") == "*"))
    assert condor["weight"].item() == pytest.approx(0.75) and condor["count"].item() == 10
    assert condor["source"].item() == "variance"
    assert any("iron_condor in all regimes: 0.750" in line for line in summary.lines())
    frame = summary.frame()
    assert frame.columns[:3] == ["strategy_type", "weight", "source"]
    assert frame.height == len(CFG.strategies.enabled)


def test_a_rerun_at_the_same_time_duplicates_nothing(lake: Lake) -> None:
    run_variance(LakeContext.at_time(CFG, lake, NOW))
    again = run_variance(LakeContext.at_time(CFG, lake, NOW))
    assert again.stored.inserted == 0 and again.stored.updated == ROWS_PER_RUN
    assert lake.read("strategy_weights").collect().height == ROWS_PER_RUN


def test_each_run_adds_a_point_to_the_weights_history(lake: Lake) -> None:
    for days in (2, 1, 0):
        run_variance(LakeContext.at_time(CFG, lake, NOW - timedelta(days=days)))
    history = StrategyWeightsTable(lake).history()
    assert history.height == 3 * len(CFG.strategies.enabled)
    condor = history.filter(pl.col("strategy_type") == "iron_condor")
    # the ten closes happen over the last ten hours before NOW: only the last run sees them all
    assert condor["weight"].to_list() == pytest.approx([1.0, 1.0, 0.75])
    assert StrategyWeightsTable(lake).latest(at=NOW - timedelta(days=1))["computed_at"].unique()[
        0
    ] == NOW - timedelta(days=1)


def test_a_replay_of_a_past_day_ignores_later_entries(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    future = closed(closed_at=NOW + timedelta(days=3))  # entered after NOW too
    future["entered_at"] = NOW + timedelta(days=1)
    lake.append("predictions", [*many(2, "iron_condor", 0.0), future])
    summary = run_variance(LakeContext.at_time(CFG, lake, NOW))
    assert summary.predictions == 2 and summary.open_predictions == 0
