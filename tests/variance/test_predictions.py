"""The predictions table: one row per entry, actuals at exit, safe to repeat."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import pytest

from tradelib.domain import MarketRegime, StrategyType, utc
from tradelib.lake import Lake
from tradelib.stores.predictions import StrategyPredictionsTable
from tradelib.variance import (
    ExitStatus,
    Outcome,
    Prediction,
    prediction_id_for,
)

ENTERED = utc(2026, 11, 24, 15)
CLOSED = ENTERED + timedelta(days=12, hours=6)


def _prediction(strategy_id: str = "s1", **kw: object) -> Prediction:
    values: dict[str, object] = {
        "strategy_id": strategy_id,
        "strategy_type": "iron_condor",
        "underlying": "SPY",
        "entered_at": ENTERED,
        "expected_value": 0.42,
        "probability_of_profit": 0.68,
        "max_loss": 3.5,
        "regime": "normal",
        "skew_ratio": 1.25,
        "weight": 0.75,
    }
    values.update(kw)
    return Prediction.for_entry(**values)  # type: ignore[arg-type]


@pytest.fixture
def table(tmp_path: Path) -> StrategyPredictionsTable:
    return StrategyPredictionsTable(Lake(tmp_path / "lake"))


def test_entry_values_are_dollars_for_the_whole_position() -> None:
    p = _prediction(quantity=2)
    assert p.prediction_id == prediction_id_for("s1") == "pred-s1"
    assert p.predicted_pnl == pytest.approx(0.42 * 100 * 2)
    assert p.max_loss == pytest.approx(3.5 * 100 * 2)
    assert p.strategy_type is StrategyType.IRON_CONDOR and p.regime is MarketRegime.NORMAL


def test_unbounded_max_loss_uses_the_risk_capital_or_is_refused() -> None:
    strangle = _prediction(strategy_type="short_strangle", max_loss=math.inf, risk_capital=9_000.0)
    assert strangle.max_loss == 9_000.0
    with pytest.raises(ValueError, match="risk_capital"):
        _prediction(strategy_type="short_strangle", max_loss=math.inf)


def test_model_nans_are_stored_as_unknown() -> None:
    p = _prediction(probability_of_profit=math.nan, skew_ratio=math.nan)
    assert p.prob_profit is None and p.skew_ratio is None


def test_a_prediction_is_stored_once_however_often_it_is_recorded(
    table: StrategyPredictionsTable,
) -> None:
    assert table.record_entry(_prediction()) is True
    assert table.record_entry(_prediction()) is False
    assert table.record_entries([_prediction(), _prediction("s2"), _prediction("s2")]) == 1
    stored = table.frame()
    assert sorted(stored["prediction_id"].to_list()) == ["pred-s1", "pred-s2"]
    row = table.get("pred-s1")
    assert row is not None and row["weight_used"] == 0.75 and row["regime"] == "normal"
    assert row["skew_ratio"] == 1.25 and row["closed_at"] is None


def test_exit_records_actual_pnl_days_held_and_rule(table: StrategyPredictionsTable) -> None:
    table.record_entry(_prediction())
    result = table.record_exit("pred-s1", -120.0, "stop_loss", CLOSED)
    assert result.status is ExitStatus.RECORDED and result.days_held == pytest.approx(12.25)
    row = table.get("pred-s1")
    assert row is not None
    assert (row["actual_pnl"], row["exit_rule"], row["closed_at"]) == (-120.0, "stop_loss", CLOSED)
    assert row["days_held"] == pytest.approx(12.25) and row["predicted_pnl"] == pytest.approx(42.0)


def test_a_rerun_of_the_entry_never_wipes_the_actual(table: StrategyPredictionsTable) -> None:
    table.record_entry(_prediction())
    table.record_exit("pred-s1", 80.0, "dynamic_take_profit", CLOSED)
    assert table.record_entry(_prediction()) is False
    row = table.get("pred-s1")
    assert row is not None and row["actual_pnl"] == 80.0


def test_the_same_exit_twice_is_a_duplicate(table: StrategyPredictionsTable) -> None:
    table.record_entry(_prediction())
    table.record_exit("pred-s1", 80.0, "dte_exit", CLOSED)
    version = table.lake.version("predictions")
    again = table.record_exit("pred-s1", 80.0, "dte_exit", CLOSED)
    assert again.status is ExitStatus.DUPLICATE
    assert table.lake.version("predictions") == version  # nothing written
    assert table.frame().height == 1


def test_an_older_actual_never_overwrites_a_newer_one(table: StrategyPredictionsTable) -> None:
    table.record_entry(_prediction())
    table.record_exit("pred-s1", 80.0, "dte_exit", CLOSED)
    stale = table.record_exit("pred-s1", -500.0, "stop_loss", CLOSED - timedelta(hours=3))
    assert stale.status is ExitStatus.STALE
    row = table.get("pred-s1")
    assert row is not None and (row["actual_pnl"], row["exit_rule"]) == (80.0, "dte_exit")


def test_a_later_report_of_the_same_exit_corrects_it(table: StrategyPredictionsTable) -> None:
    table.record_entry(_prediction())
    table.record_exit("pred-s1", 80.0, "dte_exit", CLOSED)
    later = CLOSED + timedelta(minutes=30)  # commissions booked after the fill
    fixed = table.record_exit("pred-s1", 77.4, "dte_exit", CLOSED, recorded_at=later)
    assert fixed.status is ExitStatus.RECORDED
    # ... and replaying the first report afterwards is refused
    replay = table.record_exit("pred-s1", 80.0, "dte_exit", CLOSED)
    assert replay.status is ExitStatus.STALE
    row = table.get("pred-s1")
    assert row is not None and row["actual_pnl"] == 77.4 and row["updated_at"] == later


def test_a_batch_of_exits_keeps_the_newest_per_prediction(
    table: StrategyPredictionsTable,
) -> None:
    table.record_entries([_prediction("a"), _prediction("b")])
    results = table.record_exits(
        [
            Outcome("pred-a", 10.0, "dte_exit", CLOSED),
            Outcome("pred-a", 5.0, "dte_exit", CLOSED - timedelta(days=1)),
            Outcome("pred-b", -30.0, "stop_loss", CLOSED),
            Outcome("pred-zzz", 1.0, "dte_exit", CLOSED),
        ]
    )
    assert [r.status for r in results] == [
        ExitStatus.RECORDED,
        ExitStatus.STALE,
        ExitStatus.RECORDED,
        ExitStatus.UNKNOWN,
    ]
    assert sorted(table.frame()["actual_pnl"].to_list()) == [-30.0, 10.0]


def test_exit_before_entry_is_bad_input(table: StrategyPredictionsTable) -> None:
    table.record_entry(_prediction())
    with pytest.raises(ValueError, match="before entered_at"):
        table.record_exit("pred-s1", 1.0, "dte_exit", ENTERED - timedelta(seconds=1))


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _prediction(entered_at=ENTERED.replace(tzinfo=None))
    with pytest.raises(ValueError, match="timezone-aware"):
        Outcome("pred-s1", 1.0, "dte_exit", CLOSED.replace(tzinfo=None))
