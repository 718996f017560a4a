"""Performance since inception: equity and drawdown, P&L by week, by strategy type and exit rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from tradelib.dashboards.monitoring import (
    MonitoringDashboard,
    closed_trades,
    equity_since_inception,
    inception_figure,
    panel_texts,
    pnl_by_week,
    realized_pnl_by,
)
from tradelib.lake import Lake, TableName

NOW = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
# Thu 19 .. Tue 25 Nov 2026 (weekends skipped): closing equity per session
CLOSES = {
    date(2026, 11, 19): 100_000.0,
    date(2026, 11, 20): 101_000.0,
    date(2026, 11, 23): 99_000.0,
    date(2026, 11, 24): 99_500.0,
    date(2026, 11, 25): 102_000.0,
}


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake(tmp_path / "lake")
    rows = []
    previous = None
    for day, close in CLOSES.items():
        for hour, value in ((15, close - 300.0), (21, close)):  # the close is the last snapshot
            rows.append(
                {
                    "ts": datetime(day.year, day.month, day.day, hour, tzinfo=UTC),
                    "date": day,
                    "account_masked": "DU*****67",
                    "mode": "sim",
                    "net_liquidation": value,
                    "day_pnl": 0.0 if previous is None else value - previous,
                }
            )
        previous = close
    lake.append(TableName.ACCOUNT_SNAPSHOTS, rows)
    trades = [
        ("a", "put_credit_spread", "dynamic_take_profit", 120.0),
        ("b", "put_credit_spread", "stop_loss", -300.0),
        ("c", "iron_condor", "dte_exit", 80.0),
        ("d", "iron_condor", None, None),  # still open: not a closed trade
    ]
    lake.upsert(
        TableName.PREDICTIONS,
        [
            {
                "prediction_id": f"p-{sid}",
                "strategy_id": sid,
                "strategy_type": kind,
                "underlying": "SPY",
                "predicted_pnl": 50.0,
                "entered_at": NOW - timedelta(days=5),
                "actual_pnl": pnl,
                "exit_rule": rule,
                "closed_at": None if pnl is None else NOW - timedelta(days=1),
                "updated_at": NOW,
            }
            for sid, kind, rule, pnl in trades
        ],
    )
    return lake


def test_equity_since_inception_tracks_the_peak_and_drawdown(lake: Lake) -> None:
    equity = equity_since_inception(lake, NOW)
    assert equity["equity"].to_list() == list(CLOSES.values())
    assert equity["peak"].to_list() == [100_000.0, 101_000.0, 101_000.0, 101_000.0, 102_000.0]
    assert equity["drawdown"].to_list() == [0.0, 0.0, -2_000.0, -1_500.0, 0.0]
    assert equity["drawdown_pct"][2] == pytest.approx(-2_000.0 / 101_000.0)
    assert "max drawdown -2.0%" in inception_figure(equity).layout.title.text


def test_weekly_pnl_is_the_change_in_closing_equity(lake: Lake) -> None:
    weekly = pnl_by_week(equity_since_inception(lake, NOW))
    assert weekly["week"].to_list() == [date(2026, 11, 16), date(2026, 11, 23)]
    # first week: Thursday's own day P&L (0, the first day) + Friday's +1,000
    assert weekly["pnl"].to_list() == [1_000.0, 1_000.0]
    assert weekly["sessions"].to_list() == [2, 3]


def test_realized_pnl_by_type_and_exit_rule_counts_closed_trades_only(lake: Lake) -> None:
    trades = closed_trades(lake, NOW)
    assert trades.height == 3
    by_type = {
        r["strategy_type"]: r
        for r in realized_pnl_by(trades, "strategy_type").iter_rows(named=True)
    }
    assert (
        by_type["put_credit_spread"]["pnl"] == -180.0
        and by_type["put_credit_spread"]["trades"] == 2
    )
    assert by_type["put_credit_spread"]["win_rate"] == 0.5
    by_rule = realized_pnl_by(trades, "exit_rule")
    assert by_rule["exit_rule"].to_list() == ["dynamic_take_profit", "dte_exit", "stop_loss"]


def test_the_performance_panel_shows_all_three_breakdowns(lake: Lake) -> None:
    dashboard = MonitoringDashboard(lake, wallclock=lambda: NOW)
    html = panel_texts(dashboard)["performance"]
    for text in ("P&amp;L by week", "by strategy type", "by exit rule", "stop_loss", "iron_condor"):
        assert text in html
    assert len(dashboard.figures["inception"].data) == 3
