"""The account and its performance: the newest snapshot, today's equity curve, equity and
drawdown since inception, P&L per week, and the closed trades with their realized P&L."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from tradelib.dashboards.monitoring_queries.base import age_minutes, newest_date
from tradelib.lake import Lake, TableName


def account_summary(lake: Lake, now: datetime) -> pl.DataFrame:
    """The newest account snapshot (one row per account) with margin use and its age."""
    snaps = lake.read(TableName.ACCOUNT_SNAPSHOTS)
    newest = newest_date(lake, TableName.ACCOUNT_SNAPSHOTS)
    if newest is None:
        return snaps.collect().with_columns(
            pl.lit(None, pl.Float64).alias("margin_use"), pl.lit(None, pl.Float64).alias("age_min")
        )
    latest = (
        snaps.filter(pl.col("date") == newest).filter(pl.col("ts") == pl.col("ts").max()).collect()
    )
    nl = pl.col("net_liquidation")
    return latest.with_columns(
        # the risk limit measures initial margin against net liquidation; so do we
        pl.when(nl > 0)
        .then(pl.col("init_margin").fill_null(pl.col("maint_margin")) / nl)
        .otherwise(None)
        .alias("margin_use"),
        age_minutes(now, "ts"),
    )


def equity_curve(lake: Lake, now: datetime) -> pl.DataFrame:
    """Net liquidation and day P&L through the newest session in the lake."""
    newest = newest_date(lake, TableName.ACCOUNT_SNAPSHOTS)
    frame = lake.read(
        TableName.ACCOUNT_SNAPSHOTS, columns=["ts", "date", "net_liquidation", "day_pnl"]
    )
    if newest is not None:
        frame = frame.filter(pl.col("date") == newest)
    return frame.sort("ts").collect()


def equity_since_inception(lake: Lake, now: datetime) -> pl.DataFrame:
    """Per session since the first snapshot: closing net liquidation, its running peak and drawdown.

    ``drawdown`` is in dollars below the peak (<= 0), ``drawdown_pct`` a fraction of the peak.
    """
    return (
        lake.read(TableName.ACCOUNT_SNAPSHOTS, columns=["ts", "date", "net_liquidation", "day_pnl"])
        .sort("ts")
        .group_by("date")
        .agg(pl.col("net_liquidation").last().alias("equity"), pl.col("day_pnl").last())
        .sort("date")
        .with_columns(pl.col("equity").cum_max().alias("peak"))
        .with_columns(
            (pl.col("equity") - pl.col("peak")).alias("drawdown"),
            (pl.col("equity") / pl.col("peak") - 1.0).alias("drawdown_pct"),
        )
        .collect()
    )


def pnl_by_week(equity: pl.DataFrame) -> pl.DataFrame:
    """P&L per week (weeks start on Monday): the change in closing equity, first week from its day P&L."""
    if equity.is_empty():
        return pl.DataFrame(
            schema={"week": pl.Date, "pnl": pl.Float64, "sessions": pl.Int64, "equity": pl.Float64}
        )
    change = pl.col("equity").diff().fill_null(pl.col("day_pnl").fill_null(0.0)).alias("change")
    return (
        equity.with_columns(change, pl.col("date").dt.truncate("1w").alias("week"))
        .group_by("week")
        .agg(
            pl.col("change").sum().alias("pnl"),
            pl.len().cast(pl.Int64).alias("sessions"),
            pl.col("equity").last(),
        )
        .sort("week")
    )


def closed_trades(lake: Lake, now: datetime) -> pl.DataFrame:
    """Every closed prediction (a closed trade): type, underlying, exit rule, P&L, days held."""
    return (
        lake.read(
            TableName.PREDICTIONS,
            columns=[
                "strategy_id",
                "strategy_type",
                "underlying",
                "regime",
                "exit_rule",
                "entered_at",
                "closed_at",
                "actual_pnl",
                "predicted_pnl",
                "days_held",
            ],
        )
        .filter(pl.col("actual_pnl").is_not_null())
        .with_columns(pl.col("exit_rule").fill_null("unknown"))
        .sort("closed_at", descending=True)
        .collect()
    )


def realized_pnl_by(trades: pl.DataFrame, column: str) -> pl.DataFrame:
    """Realized P&L of closed trades grouped by ``column`` (strategy_type, exit_rule...)."""
    return (
        trades.group_by(column)
        .agg(
            pl.len().cast(pl.Int64).alias("trades"),
            pl.col("actual_pnl").sum().alias("pnl"),
            pl.col("actual_pnl").mean().alias("avg_pnl"),
            (pl.col("actual_pnl") > 0).mean().alias("win_rate"),
        )
        .sort("pnl", descending=True)
    )
