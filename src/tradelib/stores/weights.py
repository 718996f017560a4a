"""The weights the entry workflow ranks with, computed from the lake at entry time.

``WeightsProvider.weights_for(regime, now)`` reads the predictions closed in
the lookback window, runs the variance analysis and resolves the weights with
the config overrides, so a weight is never older than the last closed trade
and an edited override applies at the next entry. Use it as::

    weights, regime_weights, provenance = provider.weights_for(regime, now)
    selection = selector.select(chains, regime=regime, weights=weights,
                                regime_weights=regime_weights)

``provenance.metadata(strategy)`` is what to store with an entry to explain
its weight later.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from tradelib.config import TradingConfig, VarianceAnalysisConfig
from tradelib.domain import MarketRegime
from tradelib.domain.time import ensure_utc
from tradelib.lake import Lake, MergeStats, TableName
from tradelib.variance.analysis import (
    ALL_REGIMES,
    VarianceReport,
    analyze_prediction_variance,
    window_start,
)
from tradelib.variance.weights import StrategyWeight, WeightTable, resolve_weights

PREDICTIONS = TableName.PREDICTIONS


@dataclass(frozen=True, slots=True)
class WeightProvenance:
    """Why the weights are what they are: the statistics and every resolved weight."""

    computed_at: datetime
    regime: str | None  # the regime the entry asked for
    report: VarianceReport
    table: WeightTable

    def weight_row(self, strategy: str) -> StrategyWeight | None:
        """The row the selector uses for ``strategy``: the regime's, else the overall one."""
        if self.regime is not None:
            row = self.table.row(strategy, self.regime)
            if row is not None:
                return row
        return self.table.row(strategy)

    def describe(self, strategy: str) -> str:
        """One line for people, e.g. ``short_put in crash: 0.500 (variance, mae 0.31 over 14)``."""
        row = self.weight_row(strategy)
        return f"{strategy}: neutral 1.0 (not resolved)" if row is None else row.describe()

    def metadata(self, strategy: str) -> dict[str, Any]:
        """JSON-friendly record of one strategy's weight, to store with its entry."""
        row = self.weight_row(strategy)
        base: dict[str, Any] = {
            "weights_computed_at": self.computed_at.isoformat(),
            "lookback_start": self.report.window_start.isoformat(),
            "regime": self.regime,
        }
        if row is None:
            return base | {"weight": 1.0, "weight_source": "unresolved"}
        return base | {
            "weight": row.weight,
            "weight_source": row.source.value,
            "weight_regime": row.regime,
            "adjustment": row.adjustment,
            "mae": row.mae,
            "bias": row.bias,
            "count": row.count,
        }


@dataclass(frozen=True, slots=True)
class EntryWeights:
    """What ``weights_for`` returns; unpacks as ``(weights, regime_weights, provenance)``."""

    weights: Mapping[str, float]
    regime_weights: Mapping[str, Mapping[str, float]]
    provenance: WeightProvenance

    def __iter__(self) -> Iterator[Any]:
        return iter((self.weights, self.regime_weights, self.provenance))


class WeightsProvider:
    """Computes the selector's weights from the ``predictions`` table at a given time."""

    def __init__(
        self, lake: Lake, variance: VarianceAnalysisConfig, strategies: Sequence[str]
    ) -> None:
        self.lake = lake
        self.cfg = variance
        self.strategies = tuple(strategies)

    @classmethod
    def from_config(cls, cfg: TradingConfig, lake: Lake | None = None) -> WeightsProvider:
        """Build over ``lake`` (default: the configured one) for the enabled strategies."""
        return cls(lake or Lake.from_config(cfg), cfg.variance_analysis, cfg.strategies.enabled)

    def report(self, now: datetime) -> VarianceReport:
        """Return the variance statistics at ``now``."""
        at = ensure_utc(now, "now")
        frame = self.lake.read(
            PREDICTIONS, filter=pl.col("closed_at") >= window_start(at, self.cfg)
        )
        return analyze_prediction_variance(frame, at, self.cfg, self.strategies)

    def table(self, now: datetime) -> WeightTable:
        """Return every resolved weight at ``now``."""
        return resolve_weights(self.report(now), self.cfg, self.strategies)

    def weights_for(self, regime: MarketRegime | str | None, now: datetime) -> EntryWeights:
        """Return the weights to rank entries with at ``now`` in ``regime``."""
        at = ensure_utc(now, "now")
        report = self.report(at)
        table = resolve_weights(report, self.cfg, self.strategies)
        name = None if regime is None else MarketRegime(regime).value
        provenance = WeightProvenance(at, name, report, table)
        return EntryWeights(table.strategy_weights(), table.regime_weights(), provenance)


__all__ = ["EntryWeights", "WeightProvenance", "WeightsProvider"]


WEIGHTS = TableName.STRATEGY_WEIGHTS


class StrategyWeightsTable:
    """Read and write the ``strategy_weights`` table (the history of resolved weights)."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def store(self, table: WeightTable) -> MergeStats:
        """Merge one computation's rows; idempotent per ``computed_at``."""
        return self.lake.upsert(WEIGHTS, table.records())

    def history(self, regime: str | None = ALL_REGIMES) -> pl.DataFrame:
        """Return stored weights oldest first; ``regime=None`` for every regime."""
        flt = None if regime is None else pl.col("regime") == regime
        return (
            self.lake.read(WEIGHTS, filter=flt)
            .sort(["computed_at", "strategy_type", "regime"])
            .collect()
        )

    def latest(self, at: datetime | None = None) -> pl.DataFrame:
        """Return the newest stored computation (at or before ``at``), empty if none."""
        frame = self.lake.read(WEIGHTS)
        if at is not None:
            frame = frame.filter(pl.col("computed_at") <= ensure_utc(at, "at"))
        return (
            frame.filter(pl.col("computed_at") == pl.col("computed_at").max())
            .sort(["strategy_type", "regime"])
            .collect()
        )
