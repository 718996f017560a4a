"""Backtest statistics, checked against empyrical (a kept reference library) and by hand."""

from __future__ import annotations

import math
from datetime import date, timedelta

import empyrical as ep
import numpy as np
import pandas as pd
import polars as pl
import pytest

from tradelib.backtest.stats import (
    buy_and_hold,
    performance,
    pnl_breakdown,
    return_stats,
    trade_stats,
)


def series(n: int = 500, seed: int = 1) -> tuple[list[date], np.ndarray]:
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0004, 0.011, n - 1)
    values = 100_000.0 * np.concatenate([[1.0], np.cumprod(1.0 + r)])
    days = [date(2021, 1, 4) + timedelta(days=i) for i in range(n)]
    return days, values


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("rf", [0.0, 0.03])
def test_return_statistics_match_empyrical(seed: int, rf: float) -> None:
    days, values = series(seed=seed)
    s = return_stats(days, values, risk_free=rf)
    r = pd.Series(values[1:] / values[:-1] - 1.0)
    daily_rf = (1 + rf) ** (1 / 252) - 1
    assert s.total_return == pytest.approx(ep.cum_returns_final(r), rel=1e-10)
    assert s.annual_return == pytest.approx(ep.annual_return(r), rel=1e-10)
    assert s.annual_volatility == pytest.approx(ep.annual_volatility(r), rel=1e-10)
    assert s.sharpe == pytest.approx(ep.sharpe_ratio(r, risk_free=daily_rf), rel=1e-10)
    assert s.sortino == pytest.approx(ep.sortino_ratio(r, required_return=daily_rf), rel=1e-10)
    # empyrical's drawdown starts after the first return: give it the start as a 0 return.
    assert s.max_drawdown == pytest.approx(ep.max_drawdown(pd.Series([0.0, *r])), rel=1e-10)


def test_drawdown_peak_trough_recovery_and_durations_by_hand() -> None:
    v = [100, 110, 99, 88, 95, 111, 105, 104, 106]
    days = [date(2022, 1, 3) + timedelta(days=i) for i in range(len(v))]
    s = return_stats(days, v)
    assert s.max_drawdown == pytest.approx(88 / 110 - 1)
    assert (s.drawdown_peak, s.drawdown_trough, s.drawdown_recovery) == (days[1], days[3], days[5])
    assert s.drawdown_periods == 4
    assert s.longest_drawdown_periods == 3  # 99, 88, 95 and again 105, 104, 106 (not recovered)


def test_an_unrecovered_drawdown_lasts_to_the_end() -> None:
    v = [100, 120, 90, 100, 110]
    days = [date(2022, 1, 3) + timedelta(days=i) for i in range(5)]
    s = return_stats(days, v)
    assert s.drawdown_recovery is None
    assert s.drawdown_periods == 3


def test_bad_series_are_refused() -> None:
    d = [date(2022, 1, 3), date(2022, 1, 4)]
    with pytest.raises(ValueError, match="finite and > 0"):
        return_stats(d, [100.0, -1.0])
    with pytest.raises(ValueError, match="ascending"):
        return_stats([d[1], d[0]], [100.0, 101.0])


def test_trade_statistics_by_hand() -> None:
    t = trade_stats([100.0, -50.0, 30.0, -20.0, 0.0, 40.0])
    assert (t.trades, t.wins, t.losses) == (6, 3, 3)
    assert t.win_rate == 0.5
    assert t.average_win == pytest.approx(170 / 3)
    assert t.average_loss == pytest.approx(-70 / 3)
    assert t.profit_factor == pytest.approx(170 / 70)
    assert t.total_pnl == 100.0 and t.expectancy == pytest.approx(100 / 6)
    assert trade_stats([10.0]).profit_factor == math.inf
    assert math.isnan(trade_stats([]).win_rate)


def test_pnl_breakdown_groups_and_orders_by_total() -> None:
    trades = pl.DataFrame(
        {
            "pnl": [100.0, -40.0, 60.0, -200.0, 30.0],
            "exit_rule": ["take_profit", "stop_loss", "take_profit", "stop_loss", "dte_exit"],
        }
    )
    b = pnl_breakdown(trades, "exit_rule")
    assert b["exit_rule"].to_list() == ["take_profit", "dte_exit", "stop_loss"]
    assert b["trades"].to_list() == [2, 1, 2]
    assert b["total_pnl"].to_list() == [160.0, 30.0, -240.0]
    assert b.filter(pl.col("exit_rule") == "take_profit")["win_rate"][0] == 1.0


def test_buy_and_hold_follows_the_closes_and_refuses_a_missing_day() -> None:
    days = [date(2022, 3, 1), date(2022, 3, 2), date(2022, 3, 3)]
    closes = pl.DataFrame({"day": days, "close": [400.0, 410.0, 380.0]})
    _, curve = buy_and_hold(days, closes, 1000.0)
    np.testing.assert_allclose(curve, [1000.0, 1025.0, 950.0])
    with pytest.raises(ValueError, match="no close for 1 day"):
        buy_and_hold([*days, date(2022, 3, 4)], closes)


def test_performance_puts_strategy_next_to_buy_and_hold() -> None:
    days, values = series(60)
    equity = pl.DataFrame({"day": days, "equity": values})
    closes = pl.DataFrame({"day": days, "close": np.linspace(400, 440, 60)})
    trades = pl.DataFrame(
        {
            "pnl": [120.0, -80.0, 45.0],
            "strategy_type": ["iron_condor", "short_put", "iron_condor"],
            "exit_rule": ["take_profit", "stop_loss", "dte_exit"],
            "regime": ["normal", "high_vol", "normal"],
        }
    )
    rep = performance(equity, trades, {"SPY": closes})
    assert rep.buy_and_hold["SPY"].total_return == pytest.approx(0.10)
    assert rep.trades.trades == 3
    assert (
        rep.by_strategy_type.filter(pl.col("strategy_type") == "iron_condor")["total_pnl"][0]
        == 165.0
    )
    assert rep.by_regime["regime"].to_list() == ["normal", "high_vol"]
    table = rep.table()
    assert table["series"].to_list() == ["strategy", "buy_and_hold SPY"]
    assert table["total_return"][0] == pytest.approx(values[-1] / values[0] - 1)


def test_a_group_without_a_losing_trade_has_an_infinite_profit_factor_not_minus_infinity() -> None:
    trades = pl.DataFrame(
        {"pnl": [10.0, 20.0, -5.0, 7.0], "exit_rule": ["tp", "tp", "stop", "dte"]}
    )
    by = {r["exit_rule"]: r for r in pnl_breakdown(trades, "exit_rule").iter_rows(named=True)}
    assert by["tp"]["profit_factor"] == math.inf
    assert by["dte"]["profit_factor"] == math.inf
    assert by["stop"]["profit_factor"] == 0.0
