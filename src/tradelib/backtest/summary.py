"""A run's headline statistics from its daily equity and its trade list."""

from __future__ import annotations

import math
from typing import Any

import polars as pl

from tradelib.backtest.stats import PerformanceReport, performance


def run_performance(equity: pl.DataFrame, trades: pl.DataFrame) -> PerformanceReport:
    """The full statistics: the run's equity, its closed trades, buy-and-hold of the benchmark."""
    curve = equity.select(pl.col("day"), pl.col("net_liquidation").alias("equity"))
    closed = trades.filter(pl.col("pnl").is_not_null())
    closes = equity.select(pl.col("day"), pl.col("benchmark_close").alias("close"))
    benchmarks = {"SPY": closes} if closes["close"].null_count() == 0 and closes.height else {}
    return performance(curve, closed, benchmarks)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def headline(equity: pl.DataFrame, trades: pl.DataFrame) -> dict[str, Any]:
    """The numbers a trader reads first, as plain values (stored with the run as JSON)."""
    if equity.height < 2:
        return {}
    report = run_performance(equity, trades)
    r, t = report.strategy, report.trades
    bench = report.buy_and_hold.get("SPY")
    return {
        "total_return": r.total_return,
        "annual_return": r.annual_return,
        "annual_volatility": r.annual_volatility,
        "sharpe": r.sharpe,
        "sortino": r.sortino,
        "max_drawdown": r.max_drawdown,
        "max_drawdown_days": r.drawdown_periods,
        "trades": t.trades,
        "open_trades": trades.height - t.trades,
        "win_rate": _finite(t.win_rate),
        "avg_win": _finite(t.average_win),
        "avg_loss": _finite(t.average_loss),
        "profit_factor": _finite(t.profit_factor),
        "total_pnl": t.total_pnl,
        "benchmark_return": bench.total_return if bench is not None else None,
    }
