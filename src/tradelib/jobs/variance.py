"""The variance job: recompute the strategy weights and store them (the scheduled notebook).

``run_variance(ctx)`` reads the predictions, computes the
variance statistics and the resolved weights at ``now`` and merges them into
``strategy_weights`` keyed on ``(computed_at, strategy_type, regime)``, so a
re-run for the same ``now`` rewrites the same rows and duplicates nothing.
``variance_job(...)`` is the notebook's one call: it takes strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from tradelib.jobs.context import LakeContext, load_job_config, parse_now
from tradelib.lake import MergeStats
from tradelib.lake.schemas import TableName
from tradelib.lake.workspace import job_lake
from tradelib.stores.weights import StrategyWeightsTable
from tradelib.variance.analysis import ALL_REGIMES, VarianceReport, analyze_prediction_variance
from tradelib.variance.weights import WeightTable, resolve_weights

PREDICTIONS = TableName.PREDICTIONS


@dataclass(frozen=True, slots=True)
class VarianceJobSummary:
    """What one variance run found and stored."""

    computed_at: datetime
    lake_uri: str
    predictions: int  # rows in the table
    open_predictions: int  # not closed yet
    report: VarianceReport
    weights: WeightTable
    stored: MergeStats

    def frame(self) -> pl.DataFrame:
        """One row per strategy: its statistics across regimes and its resolved weight."""
        stats = self.report.frame().filter(pl.col("regime") == ALL_REGIMES).drop("weight")
        resolved = self.weights.frame().filter(pl.col("regime") == ALL_REGIMES)
        return (
            resolved.select("strategy_type", "weight", "source")
            .join(stats.drop("regime"), on="strategy_type", how="left")
            .sort("strategy_type")
        )

    def lines(self) -> list[str]:
        """A short text summary for the job's log and notebook."""
        r = self.report
        out = [
            f"variance at {self.computed_at.isoformat()} -> {self.lake_uri}",
            f"  predictions: {self.predictions} ({self.open_predictions} open); "
            f"window {r.window_start.date()} .. {r.now.date()}, "
            f"min {r.min_predictions} closed per strategy",
            f"  stored {self.stored.source_rows} weight rows "
            f"({self.stored.inserted} new, {self.stored.updated} rewritten)",
        ]
        for row in self.weights.rows:
            if row.regime == ALL_REGIMES:
                out.append("  " + row.describe())
        return out


def run_variance(ctx: LakeContext, *, at: datetime | None = None) -> VarianceJobSummary:
    """The variance job: recompute the weights at ``at`` (default: the context's time), store them."""
    when = ctx.at(at)
    cfg, lake = ctx.cfg, ctx.lake
    variance = cfg.variance_analysis
    # predictions entered after ``when`` do not exist yet at ``when`` (a replay of a past day)
    frame = lake.read(PREDICTIONS).filter(pl.col("entered_at") <= when).collect()
    report = analyze_prediction_variance(frame, when, variance, cfg.strategies.enabled)
    table = resolve_weights(report, variance, cfg.strategies.enabled)
    stored = StrategyWeightsTable(lake).store(table)
    still_open = frame.filter(pl.col("closed_at").is_null() | (pl.col("closed_at") > when)).height
    return VarianceJobSummary(when, lake.root, frame.height, still_open, report, table, stored)


def variance_job(config_path: str = "", lake_uri: str = "", now: str = "") -> VarianceJobSummary:
    """The scheduled notebook's one call: load the config, open the lake, run at ``now``.

    ``config_path`` empty: $TRADELIB_CONFIG or the workspace's file; ``lake_uri``
    empty: ``storage.lake_uri``; ``now`` empty: the current time. No broker is opened.
    """
    cfg = load_job_config(config_path)
    return run_variance(LakeContext.at_time(cfg, job_lake(cfg, lake_uri), parse_now(now)))
