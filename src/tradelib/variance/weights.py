"""Strategy weights from variance statistics and the config overrides (pure).

How a weight is resolved (``variance_analysis`` in the config):

1. **Strategy weight** (regime ``"*"``): the weight computed from the
   strategy's MAE across all regimes (``source="variance"``), or the neutral
   1.0 without enough data (``"default"``). ``strategy_weights[s]`` *replaces*
   it (``"config"``).
2. **Regime weight** for every (regime, strategy): the weight computed from
   that regime's own MAE when it has enough data (``"variance"``), else the
   strategy weight of step 1 (``"inherited"``). ``strategy_weights[s]``
   replaces this too (``"config"``): a manual weight is the strategy's weight
   in every regime.
3. ``regime_adjustments[regime][s]`` then *multiplies* the regime weight
   (recorded in ``adjustment``); it never touches the ``"*"`` weight.

``WeightTable.strategy_weights()`` and ``.regime_weights()`` are what
``StrategySelector.select(weights=..., regime_weights=...)`` takes: every
regime is filled in, so the selector always finds the regime's weight.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import polars as pl

from tradelib.config import REGIME_NAMES, VarianceAnalysisConfig
from tradelib.variance.analysis import (
    ALL_REGIMES,
    NEUTRAL_WEIGHT,
    VarianceReport,
    VarianceStats,
    weight_from_mae,
)

__all__ = [
    "StrategyWeight",
    "WeightSource",
    "WeightTable",
    "get_regime_strategy_weights",
    "get_strategy_weights",
    "resolve_weights",
    "weight_from_mae",
]


# The columns of ``WeightTable.frame()``; a test holds them equal to the lake's
# ``strategy_weights`` schema (the core does not import the lake).
FRAME_SCHEMA: dict[str, pl.DataType] = {
    "computed_at": pl.Datetime("us", "UTC"),
    "strategy_type": pl.String(),
    "regime": pl.String(),
    "weight": pl.Float64(),
    "mae": pl.Float64(),
    "bias": pl.Float64(),
    "count": pl.Int64(),
    "source": pl.String(),
    "adjustment": pl.Float64(),
}


class WeightSource(StrEnum):
    """Where a weight came from."""

    VARIANCE = "variance"  # computed from enough closed predictions
    DEFAULT = "default"  # not enough data: the neutral weight
    CONFIG = "config"  # variance_analysis.strategy_weights
    INHERITED = "inherited"  # a regime without enough data of its own: the strategy weight


@dataclass(frozen=True, slots=True)
class StrategyWeight:
    """The resolved weight of one strategy in one regime (``"*"``: across regimes)."""

    strategy_type: str
    regime: str
    weight: float
    source: WeightSource
    adjustment: float | None  # regime_adjustments multiplier applied; None = none
    mae: float | None
    bias: float | None
    count: int  # closed predictions behind ``mae`` (the regime's own, or the strategy's)

    def describe(self) -> str:
        """One line for people: the weight and how it came about."""
        where = "all regimes" if self.regime == ALL_REGIMES else self.regime
        text = f"{self.strategy_type} in {where}: {self.weight:.3f} ({self.source.value}"
        if self.mae is not None and self.source is not WeightSource.CONFIG:
            text += f", mae {self.mae:.3f} over {self.count}"
        elif self.source is not WeightSource.CONFIG:
            text += f", {self.count} closed"
        if self.adjustment is not None:
            text += f", x{self.adjustment:g} {self.regime} adjustment"
        return text + ")"


@dataclass(frozen=True, slots=True)
class WeightTable:
    """Every resolved weight at ``computed_at``: one ``"*"`` row per strategy, then per regime."""

    computed_at: datetime
    rows: tuple[StrategyWeight, ...]

    def row(self, strategy: str, regime: str = ALL_REGIMES) -> StrategyWeight | None:
        """Return the weight of ``strategy`` in ``regime``, or None when it is not resolved."""
        for r in self.rows:
            if r.strategy_type == strategy and r.regime == regime:
                return r
        return None

    def strategy_weights(self) -> dict[str, float]:
        """Strategy -> weight across regimes (the selector's ``weights``)."""
        return {r.strategy_type: r.weight for r in self.rows if r.regime == ALL_REGIMES}

    def regime_weights(self) -> dict[str, dict[str, float]]:
        """Regime -> strategy -> weight (the selector's ``regime_weights``)."""
        out: dict[str, dict[str, float]] = {}
        for r in self.rows:
            if r.regime != ALL_REGIMES:
                out.setdefault(r.regime, {})[r.strategy_type] = r.weight
        return out

    def records(self) -> list[dict[str, Any]]:
        """Rows for the ``strategy_weights`` lake table."""
        return [
            {
                "computed_at": self.computed_at,
                "strategy_type": r.strategy_type,
                "regime": r.regime,
                "weight": r.weight,
                "mae": r.mae,
                "bias": r.bias,
                "count": r.count,
                "source": r.source.value,
                "adjustment": r.adjustment,
            }
            for r in self.rows
        ]

    def frame(self) -> pl.DataFrame:
        """Return the rows as a frame with the ``strategy_weights`` table's schema."""
        return pl.DataFrame(self.records(), schema=FRAME_SCHEMA)


def _base(
    strategy: str, stats: VarianceStats | None, cfg: VarianceAnalysisConfig
) -> StrategyWeight:
    """Step 1: the strategy's weight across regimes."""
    count = 0 if stats is None else stats.count
    mae = None if stats is None else stats.mae
    bias = None if stats is None else stats.bias
    manual = cfg.strategy_weights.get(strategy)  # type: ignore[call-overload]
    if manual is not None:
        weight, source = float(manual), WeightSource.CONFIG
    elif stats is not None and stats.enough_data and stats.mae is not None:
        weight, source = weight_from_mae(stats.mae, cfg), WeightSource.VARIANCE
    else:
        weight, source = NEUTRAL_WEIGHT, WeightSource.DEFAULT
    return StrategyWeight(strategy, ALL_REGIMES, weight, source, None, mae, bias, count)


def _in_regime(
    base: StrategyWeight,
    regime: str,
    stats: VarianceStats | None,
    cfg: VarianceAnalysisConfig,
) -> StrategyWeight:
    """Steps 2 and 3: the strategy's weight in one regime."""
    strategy = base.strategy_type
    if base.source is WeightSource.CONFIG:
        weight, source = base.weight, WeightSource.CONFIG
        mae, bias, count = base.mae, base.bias, base.count
    elif stats is not None and stats.enough_data and stats.mae is not None:
        weight, source = weight_from_mae(stats.mae, cfg), WeightSource.VARIANCE
        mae, bias, count = stats.mae, stats.bias, stats.count
    else:
        weight, source = base.weight, WeightSource.INHERITED
        mae, bias, count = base.mae, base.bias, base.count
    per_regime: Mapping[str, float] = cfg.regime_adjustments.get(regime, {})  # type: ignore[call-overload]
    factor = per_regime.get(strategy)
    if factor is not None:
        weight *= float(factor)
    adjustment = None if factor is None else float(factor)
    return StrategyWeight(strategy, regime, weight, source, adjustment, mae, bias, count)


def resolve_weights(
    report: VarianceReport,
    cfg: VarianceAnalysisConfig,
    strategies: Iterable[str] | None = None,
    regimes: Iterable[str] = REGIME_NAMES,
) -> WeightTable:
    """Resolve every strategy's weight, overall and in each regime (see the module docstring).

    ``strategies`` defaults to the report's strategies plus those named in the
    config overrides.
    """
    if strategies is None:
        names = {s.strategy_type for s in report.by_strategy} | set(cfg.strategy_weights)
        for per_regime in cfg.regime_adjustments.values():
            names |= set(per_regime)
        strategies = names
    ordered = sorted(set(strategies))
    regime_list = list(dict.fromkeys(regimes))
    rows: list[StrategyWeight] = []
    bases = {s: _base(s, report.stats(s), cfg) for s in ordered}
    rows.extend(bases.values())
    for regime in regime_list:
        for s in ordered:
            rows.append(_in_regime(bases[s], regime, report.stats(s, regime), cfg))
    return WeightTable(report.now, tuple(rows))


def get_strategy_weights(
    report: VarianceReport,
    cfg: VarianceAnalysisConfig,
    strategies: Iterable[str] | None = None,
) -> dict[str, float]:
    """Return strategy -> weight across regimes, config overrides applied."""
    return resolve_weights(report, cfg, strategies, regimes=()).strategy_weights()


def get_regime_strategy_weights(
    report: VarianceReport,
    cfg: VarianceAnalysisConfig,
    strategies: Iterable[str] | None = None,
    regimes: Iterable[str] = REGIME_NAMES,
) -> dict[str, dict[str, float]]:
    """Return regime -> strategy -> weight, config overrides and adjustments applied."""
    return resolve_weights(report, cfg, strategies, regimes).regime_weights()
