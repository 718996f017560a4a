"""The variance job: recompute the strategy weights and store them (the scheduled notebook).

``run_variance_job(lake, cfg, now)`` reads the predictions, computes the
variance statistics and the resolved weights at ``now`` and merges them into
``strategy_weights`` keyed on ``(computed_at, strategy_type, regime)``, so a
re-run for the same ``now`` rewrites the same rows and duplicates nothing.
``variance_job(...)`` is the notebook's one call: it takes strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from tradelib.config import TradingConfig, load_config
from tradelib.domain.time import ensure_utc
from tradelib.lake import Lake, MergeStats
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


def run_variance_job(lake: Lake, cfg: TradingConfig, now: datetime) -> VarianceJobSummary:
    """Recompute the weights at ``now`` from ``lake`` and store them in ``strategy_weights``."""
    at = ensure_utc(now, "now")
    variance = cfg.variance_analysis
    # predictions entered after ``now`` do not exist yet at ``now`` (a replay of a past day)
    frame = lake.read(PREDICTIONS).filter(pl.col("entered_at") <= at).collect()
    report = analyze_prediction_variance(frame, at, variance, cfg.strategies.enabled)
    table = resolve_weights(report, variance, cfg.strategies.enabled)
    stored = StrategyWeightsTable(lake).store(table)
    still_open = frame.filter(pl.col("closed_at").is_null() | (pl.col("closed_at") > at)).height
    return VarianceJobSummary(at, lake.root, frame.height, still_open, report, table, stored)


def parse_now(now: str = "") -> datetime:
    """An ISO-8601 time (a naive one is taken as UTC), or the current UTC time when empty."""
    if not now.strip():
        return datetime.now(UTC)
    ts = datetime.fromisoformat(now.strip())
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def variance_job(config_path: str = "", lake_uri: str = "", now: str = "") -> VarianceJobSummary:
    """The scheduled job's one call: load the config, open the lake, run at ``now``.

    ``config_path`` empty: $TRADELIB_CONFIG or the workspace's file; ``lake_uri``
    empty: ``storage.lake_uri``; ``now`` empty: the current time.
    """
    cfg = load_config(config_path or None)
    return run_variance_job(job_lake(cfg, lake_uri), cfg, parse_now(now))
