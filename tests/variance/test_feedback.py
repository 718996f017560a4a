"""A simulated month: a strategy that keeps missing its predictions loses weight and picks.

The real StrategySelector ranks real SimulatedMarket chains every trading day
from 2026-11-24; the best candidate per underlying is entered, and closed three
trading days later with a synthetic actual. short_put is the one that ranks
first on expected value, and its actuals miss by 25% of max risk every time.
"""

from __future__ import annotations

import polars as pl
import pytest

from tradelib.config import TradingConfig
from tradelib.demo.variance import FeedbackRun, FeedbackScenario, run_feedback_simulation
from tradelib.domain import StrategyType
from tradelib.lake import Lake

pytestmark = pytest.mark.slow

CFG = TradingConfig()
SCENARIO = FeedbackScenario(mispredicted=StrategyType.SHORT_PUT, miss=0.25, hold_days=3)
BAD = SCENARIO.mispredicted.value


@pytest.fixture(scope="module")
def with_feedback(tmp_path_factory: pytest.TempPathFactory) -> tuple[FeedbackRun, Lake]:
    lake = Lake(tmp_path_factory.mktemp("feedback") / "lake")
    return run_feedback_simulation(lake, CFG, SCENARIO), lake


@pytest.fixture(scope="module")
def without_feedback(tmp_path_factory: pytest.TempPathFactory) -> FeedbackRun:
    lake = Lake(tmp_path_factory.mktemp("no-feedback") / "lake")
    return run_feedback_simulation(lake, CFG, FeedbackScenario(feedback=False))


def _first_floor_day(run: FeedbackRun) -> int:
    path = run.weight_path(BAD)
    return next(i for i, w in enumerate(path) if w == CFG.variance_analysis.min_weight)


def test_the_month_covers_the_trading_days_from_the_start(
    with_feedback: tuple[FeedbackRun, Lake],
) -> None:
    run, _ = with_feedback
    assert len(run.days) == SCENARIO.trading_days
    assert run.days[0].day.isoformat() == "2026-11-24"
    assert all(len(d.picks) == len(SCENARIO.underlyings) for d in run.days)


def test_the_mispredicted_strategy_falls_to_the_weight_floor(
    with_feedback: tuple[FeedbackRun, Lake],
) -> None:
    run, lake = with_feedback
    path = run.weight_path(BAD)
    floor_day = _first_floor_day(run)
    assert path[:floor_day] == [1.0] * floor_day  # neutral until min_predictions closed
    assert all(w == CFG.variance_analysis.min_weight for w in path[floor_day:])
    # the others keep (nearly) full weight: their predictions were close
    others = [run.weight_path(s)[-1] for s in CFG.strategies.enabled if s != BAD]
    assert min(others) > 0.9
    stored = lake.read("strategy_weights").filter(pl.col("regime") == "*").collect()
    assert stored["computed_at"].n_unique() == SCENARIO.trading_days


def test_it_is_picked_less_than_without_feedback(
    with_feedback: tuple[FeedbackRun, Lake], without_feedback: FeedbackRun
) -> None:
    run, _ = with_feedback
    floor_day = _first_floor_day(run)
    assert without_feedback.share(BAD) == 1.0  # on expected value alone it always wins
    assert run.share(BAD, floor_day + 1) < 0.1  # once penalised, it all but disappears
    assert run.share(BAD) < 0.5 * without_feedback.share(BAD)
    # without feedback the weights would have flagged it all the same
    assert without_feedback.weight_path(BAD)[-1] == CFG.variance_analysis.min_weight


def test_entries_record_the_weight_they_were_ranked_with(
    with_feedback: tuple[FeedbackRun, Lake],
) -> None:
    run, lake = with_feedback
    predictions = lake.read("predictions").collect()
    assert predictions.height == len(SCENARIO.underlyings) * SCENARIO.trading_days
    late = predictions.filter(pl.col("entered_at") > run.days[_first_floor_day(run)].at)
    used = dict(zip(late["strategy_type"], late["weight_used"], strict=True))
    assert used and all(w > 0.9 for w in used.values())  # what replaced it ranked near 1.0
    assert predictions["max_loss"].is_finite().all() and (predictions["max_loss"] > 0).all()
