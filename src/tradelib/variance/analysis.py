"""Prediction variance: how far actual P&L landed from the prediction (pure).

Frames in, values out; the time is passed in. For each strategy, and each
(strategy, regime), over the predictions *closed* in the lookback window
``now - lookback_days <= closed_at <= now`` (both ends included; a close after
``now`` is the future and is ignored, so a past ``now`` replays history):

* ``error = (actual_pnl - predicted_pnl) / max_loss``: the miss as a fraction
  of the max risk, so strategies of any size compare;
* ``mae`` = mean |error|, ``bias`` = mean error (negative: the model was too
  optimistic);
* calibration of the probability of profit: ``mean_pop`` (predicted) vs
  ``win_rate`` (share with ``actual_pnl > 0``), and the Brier score
  ``mean((pop - win)^2)`` (0 is perfect, 0.25 is a coin toss);
* ``weight`` = ``max(min_weight, 1 - min(mae / mae_scale, max_penalty))``,
  or the neutral 1.0 with fewer than ``min_predictions`` closed predictions
  ("not enough data").

Rows without an actual, or without a positive max risk, are not scored;
rows without a regime count for their strategy but in no regime group.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from tradelib.config import VarianceAnalysisConfig
from tradelib.domain.time import ensure_utc

ALL_REGIMES = "*"  # the regime value of a strategy's across-regime figures
NEUTRAL_WEIGHT = 1.0  # multiplies a candidate's score by one: no opinion

_NEEDED = (
    "strategy_type",
    "regime",
    "predicted_pnl",
    "actual_pnl",
    "max_loss",
    "prob_profit",
    "closed_at",
)


def weight_from_mae(mae: float, cfg: VarianceAnalysisConfig) -> float:
    """Return ``max(min_weight, 1 - min(mae / mae_scale, max_penalty))``."""
    if not (math.isfinite(mae) and mae >= 0):
        raise ValueError(f"mae must be finite and >= 0, got {mae}")
    return max(cfg.min_weight, 1.0 - min(mae / cfg.mae_scale, cfg.max_penalty))


@dataclass(frozen=True, slots=True)
class VarianceStats:
    """Prediction quality of one strategy, in one regime or across all (``regime == "*"``).

    Figures are None when no prediction could be scored for them.
    """

    strategy_type: str
    regime: str
    count: int  # closed predictions scored in the window
    mae: float | None  # mean |actual - predicted| / max risk
    bias: float | None  # mean (actual - predicted) / max risk
    mean_pop: float | None  # mean predicted probability of profit
    win_rate: float | None  # realized share of winners (among rows with a PoP)
    brier: float | None
    enough_data: bool
    weight: float  # from the MAE; NEUTRAL_WEIGHT without enough data
    reason: str  # how the weight came about, for people

    @property
    def calibration_gap(self) -> float | None:
        """Realized win rate minus predicted probability (negative: PoP too optimistic)."""
        if self.win_rate is None or self.mean_pop is None:
            return None
        return self.win_rate - self.mean_pop


@dataclass(frozen=True, slots=True)
class VarianceReport:
    """Variance statistics at ``now`` over ``[window_start, now]``."""

    now: datetime
    window_start: datetime
    min_predictions: int
    by_strategy: tuple[VarianceStats, ...]
    by_regime: tuple[VarianceStats, ...]  # only (strategy, regime) pairs that have rows

    def stats(self, strategy: str, regime: str = ALL_REGIMES) -> VarianceStats | None:
        """Return one strategy's statistics (in ``regime``), or None when it has none."""
        rows = self.by_strategy if regime == ALL_REGIMES else self.by_regime
        for s in rows:
            if s.strategy_type == strategy and s.regime == regime:
                return s
        return None

    def frame(self) -> pl.DataFrame:
        """Return every statistic as one frame (``regime == "*"`` rows first)."""
        rows = [
            {
                "strategy_type": s.strategy_type,
                "regime": s.regime,
                "count": s.count,
                "mae": s.mae,
                "bias": s.bias,
                "mean_pop": s.mean_pop,
                "win_rate": s.win_rate,
                "brier": s.brier,
                "enough_data": s.enough_data,
                "weight": s.weight,
                "reason": s.reason,
            }
            for s in (*self.by_strategy, *self.by_regime)
        ]
        return pl.DataFrame(rows, schema=_STATS_SCHEMA, orient="row") if rows else _empty_stats()


_STATS_SCHEMA: dict[str, pl.DataType] = {
    "strategy_type": pl.String(),
    "regime": pl.String(),
    "count": pl.Int64(),
    "mae": pl.Float64(),
    "bias": pl.Float64(),
    "mean_pop": pl.Float64(),
    "win_rate": pl.Float64(),
    "brier": pl.Float64(),
    "enough_data": pl.Boolean(),
    "weight": pl.Float64(),
    "reason": pl.String(),
}


def _empty_stats() -> pl.DataFrame:
    return pl.DataFrame(schema=_STATS_SCHEMA)


def window_start(now: datetime, cfg: VarianceAnalysisConfig) -> datetime:
    """Return the first ``closed_at`` inside the lookback window ending at ``now``."""
    return ensure_utc(now, "now") - timedelta(days=cfg.lookback_days)


def scored_predictions(
    frame: pl.DataFrame | pl.LazyFrame, now: datetime, cfg: VarianceAnalysisConfig
) -> pl.DataFrame:
    """Return the predictions that count at ``now``, with ``error`` and ``win`` columns added."""
    end = ensure_utc(now, "now")
    start = window_start(end, cfg)
    lazy = frame.lazy() if isinstance(frame, pl.DataFrame) else frame
    missing = [c for c in _NEEDED if c not in lazy.collect_schema().names()]
    if missing:
        raise ValueError(f"prediction frame lacks column(s) {missing}")
    return (
        lazy.filter(
            pl.col("closed_at").is_not_null()
            & (pl.col("closed_at") >= start)
            & (pl.col("closed_at") <= end)
            & pl.col("actual_pnl").is_not_null()
            & pl.col("actual_pnl").is_finite()
            & pl.col("predicted_pnl").is_finite()
            & (pl.col("max_loss") > 0)
            & pl.col("max_loss").is_finite()
        )
        .with_columns(
            error=(pl.col("actual_pnl") - pl.col("predicted_pnl")) / pl.col("max_loss"),
            win=(pl.col("actual_pnl") > 0).cast(pl.Float64),
        )
        .collect()
    )


def _aggregate(scored: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    pop = pl.col("prob_profit")
    has_pop = pop.is_not_null() & pop.is_finite()
    return (
        scored.group_by(keys)
        .agg(
            count=pl.len(),
            mae=pl.col("error").abs().mean(),
            bias=pl.col("error").mean(),
            mean_pop=pop.filter(has_pop).mean(),
            win_rate=pl.col("win").filter(has_pop).mean(),
            brier=((pop - pl.col("win")) ** 2).filter(has_pop).mean(),
        )
        .sort(keys)
    )


def _stats(row: dict[str, object], regime: str, cfg: VarianceAnalysisConfig) -> VarianceStats:
    raw_count = row.get("count")
    count = int(raw_count) if isinstance(raw_count, int) else 0
    mae = row.get("mae")
    enough = count >= cfg.min_predictions and isinstance(mae, float)
    if enough:
        assert isinstance(mae, float)
        weight = weight_from_mae(mae, cfg)
        reason = f"mae {mae:.3f} over {count} closed predictions"
    else:
        weight = NEUTRAL_WEIGHT
        reason = f"not enough data: {count} < {cfg.min_predictions} closed predictions"

    def number(key: str) -> float | None:
        value = row.get(key)
        return float(value) if isinstance(value, int | float) else None

    return VarianceStats(
        strategy_type=str(row["strategy_type"]),
        regime=regime,
        count=count,
        mae=number("mae"),
        bias=number("bias"),
        mean_pop=number("mean_pop"),
        win_rate=number("win_rate"),
        brier=number("brier"),
        enough_data=enough,
        weight=weight,
        reason=reason,
    )


def analyze_prediction_variance(
    frame: pl.DataFrame | pl.LazyFrame,
    now: datetime,
    cfg: VarianceAnalysisConfig,
    strategies: Iterable[str] = (),
) -> VarianceReport:
    """Compute per-strategy and per-(strategy, regime) variance statistics at ``now``.

    ``frame`` has the ``predictions`` table's columns; ``strategies`` are
    reported even without a single closed prediction (as not enough data).
    """
    end = ensure_utc(now, "now")
    scored = scored_predictions(frame, end, cfg)
    overall = {str(r["strategy_type"]): r for r in _aggregate(scored, ["strategy_type"]).to_dicts()}
    for name in strategies:
        overall.setdefault(name, {"strategy_type": name, "count": 0})
    per_regime = _aggregate(
        scored.filter(pl.col("regime").is_not_null()), ["strategy_type", "regime"]
    )
    return VarianceReport(
        now=end,
        window_start=window_start(end, cfg),
        min_predictions=cfg.min_predictions,
        by_strategy=tuple(_stats(overall[k], ALL_REGIMES, cfg) for k in sorted(overall)),
        by_regime=tuple(_stats(r, str(r["regime"]), cfg) for r in per_regime.to_dicts()),
    )


def calibration_table(
    frame: pl.DataFrame | pl.LazyFrame, now: datetime, cfg: VarianceAnalysisConfig, bins: int
) -> pl.DataFrame:
    """Bin scored predictions by predicted PoP: mean predicted vs realized win rate per bin.

    Columns: ``bin_low``, ``bin_high``, ``count``, ``mean_pop``, ``win_rate``;
    only bins holding predictions are returned, lowest first.
    """
    if bins <= 0:
        raise ValueError(f"bins must be > 0, got {bins}")
    scored = scored_predictions(frame, now, cfg).filter(
        pl.col("prob_profit").is_not_null() & pl.col("prob_profit").is_finite()
    )
    # PoP of exactly 1.0 belongs to the top bin, not to a bin of its own
    index = (pl.col("prob_profit") * bins).floor().cast(pl.Int64).clip(0, bins - 1)
    return (
        scored.with_columns(bin=index)
        .group_by("bin")
        .agg(count=pl.len(), mean_pop=pl.col("prob_profit").mean(), win_rate=pl.col("win").mean())
        .sort("bin")
        .select(
            bin_low=pl.col("bin") / bins,
            bin_high=(pl.col("bin") + 1) / bins,
            count="count",
            mean_pop="mean_pop",
            win_rate="win_rate",
        )
    )
