"""What the system did: recent orders and fills, each job's health, the regime it acted on,
and its predictions against their outcomes."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from tradelib.dashboards.monitoring_queries.base import RECENT_ROWS, age_minutes, newest_date, utc
from tradelib.lake import Lake, TableName

FAILED_STATUSES = ("failed", "timeout")


def recent_orders(lake: Lake, now: datetime, n: int = RECENT_ROWS) -> pl.DataFrame:
    """The most recently updated orders."""
    return lake.read(TableName.ORDERS).sort("updated_at", descending=True).head(n).collect()


def recent_fills(lake: Lake, now: datetime, n: int = RECENT_ROWS) -> pl.DataFrame:
    """The newest executions."""
    return lake.read(TableName.EXECUTIONS).sort("ts", descending=True).head(n).collect()


def job_health(lake: Lake, now: datetime) -> pl.DataFrame:
    """Per job: the last run (status, duration, error), runs and failures in the last 24 h.

    Jobs in the scheduler table that never ran show with a null last run.
    """
    since = utc(now) - timedelta(hours=24)
    recent = pl.col("started_at") >= since
    runs = (
        lake.read(TableName.JOB_RUNS)
        .group_by("job")
        .agg(
            pl.col("started_at").max().alias("last_started"),
            pl.col("finished_at").sort_by("started_at").last(),
            pl.col("status").sort_by("started_at").last(),
            pl.col("duration_s").sort_by("started_at").last(),
            pl.col("error").sort_by("started_at").last(),
            recent.sum().cast(pl.Int64).alias("runs_24h"),
            (recent & pl.col("status").is_in(FAILED_STATUSES))
            .sum()
            .cast(pl.Int64)
            .alias("failures_24h"),
        )
        .collect()
    )
    tasks = lake.read(
        TableName.SCHEDULER_TASKS, columns=["job", "every_minutes", "enabled"]
    ).collect()
    return (
        runs.join(tasks, on="job", how="full", coalesce=True)
        .with_columns(
            pl.col("status").fill_null("never run"),
            pl.col("runs_24h").fill_null(0),
            pl.col("failures_24h").fill_null(0),
            age_minutes(now, "last_started"),
        )
        .sort("job")
    )


def current_regime(lake: Lake, now: datetime) -> pl.DataFrame:
    """The market regime the system last acted on: the newest decision's inputs (on the
    newest day with decisions), else the newest prediction's; empty when neither is known."""
    newest = newest_date(lake, TableName.DECISIONS)
    if newest is not None:
        found = (
            lake.read(TableName.DECISIONS, columns=["ts", "date", "inputs_json"])
            .filter(pl.col("date") == newest)
            .with_columns(
                pl.col("inputs_json").str.json_path_match("$.regime").alias("regime"),
                pl.col("inputs_json").str.json_path_match("$.vix").cast(pl.Float64).alias("vix"),
            )
            .drop_nulls("regime")
            .sort("ts")
            .tail(1)
            .select(
                "regime", pl.col("ts").alias("as_of"), "vix", pl.lit("decisions").alias("source")
            )
            .collect()
        )
        if found.height:
            return found
    return (
        lake.read(TableName.PREDICTIONS, columns=["regime", "entered_at"])
        .drop_nulls("regime")
        .sort("entered_at")
        .tail(1)
        .select(
            "regime",
            pl.col("entered_at").alias("as_of"),
            pl.lit(None, pl.Float64).alias("vix"),
            pl.lit("predictions").alias("source"),
        )
        .collect()
    )


def predictions_vs_actuals(lake: Lake, now: datetime) -> pl.DataFrame:
    """Every prediction with its outcome; ``error`` = actual - predicted once closed."""
    return (
        lake.read(TableName.PREDICTIONS)
        .with_columns((pl.col("actual_pnl") - pl.col("predicted_pnl")).alias("error"))
        .sort("entered_at", descending=True)
        .collect()
    )


def prediction_summary(predictions: pl.DataFrame) -> pl.DataFrame:
    """Per strategy type: predictions, closed, mean absolute error and bias of the closed."""
    return (
        predictions.group_by("strategy_type")
        .agg(
            pl.len().cast(pl.Int64).alias("predictions"),
            pl.col("actual_pnl").is_not_null().sum().cast(pl.Int64).alias("closed"),
            pl.col("error").abs().mean().alias("mae"),
            pl.col("error").mean().alias("bias"),
        )
        .sort("strategy_type")
    )
