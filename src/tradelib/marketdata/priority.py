"""How close each strategy is to an exit trigger, and who gets streaming lines (pure).

Each trigger's distance is scaled so 0 means "at the trigger" and 1 means
"far" (``SlotPolicy``, every number from config):

* short strike: spot's distance to each short strike in standard deviations
  (IV x sqrt(DTE / 365) of spot), over ``far_trigger_sd``; 0 once breached;
* take profit: the share of the way to ``profit_targets.fixed`` of max profit
  still to go; stop loss: the share of ``stop_loss_multiple`` x credit still
  to lose (both need a credit and a mark on every leg);
* DTE: days left before the DTE exit (or the gamma rule), over
  ``far_trigger_days``.

A strategy's score is its smallest distance; at or below
``near_trigger_score`` it is near a trigger, at or above ``far_trigger_score``
far from all. Unknown inputs (no quote yet) leave their trigger out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from tradelib.config import TradingConfig
from tradelib.domain import Quote, Right, Strategy


class SlotTier(StrEnum):
    """How near a strategy is to an exit trigger; sets its snapshot interval."""

    NEAR = "near"
    NORMAL = "normal"
    FAR = "far"


@dataclass(frozen=True, slots=True)
class SlotPolicy:
    """The numbers the slot manager works with (all from ``TradingConfig``)."""

    option_lines: int  # streaming lines for option legs: line_budget - reserved_lines
    far_trigger_sd: float
    far_trigger_days: int
    near_score: float
    far_score: float
    take_profit: float  # fraction of max profit
    stop_loss_multiple: float  # x credit
    dte_trigger: int | None  # the DTE at which a rule acts (None: no DTE rule enabled)
    near_interval_s: float
    normal_interval_s: float
    far_interval_s: float
    rebalance_interval_s: float
    snapshot_capacity_per_min: float

    @classmethod
    def from_config(cls, cfg: TradingConfig) -> SlotPolicy:
        md, ri, rules = cfg.market_data, cfg.refresh_intervals, cfg.rules
        dte_rules: list[int] = []
        if rules.is_enabled("dte_exit"):
            dte_rules.append(rules.dte_exit)
        if rules.is_enabled("gamma_risk"):
            dte_rules.append(rules.gamma_dte)
        return cls(
            option_lines=md.line_budget - md.reserved_lines,
            far_trigger_sd=md.far_trigger_sd,
            far_trigger_days=md.far_trigger_days,
            near_score=md.near_trigger_score,
            far_score=md.far_trigger_score,
            take_profit=cfg.profit_targets.fixed,
            stop_loss_multiple=rules.stop_loss_multiple,
            dte_trigger=max(dte_rules) if dte_rules else None,
            near_interval_s=ri.snapshot_near_trigger_s,
            normal_interval_s=ri.snapshot_normal_s,
            far_interval_s=ri.snapshot_far_s,
            rebalance_interval_s=ri.streaming_rebalance_s,
            snapshot_capacity_per_min=md.snapshot_capacity_per_min,
        )

    def interval(self, tier: SlotTier) -> float:
        """Seconds between snapshots of a leg of a strategy in ``tier``."""
        return {
            SlotTier.NEAR: self.near_interval_s,
            SlotTier.NORMAL: self.normal_interval_s,
            SlotTier.FAR: self.far_interval_s,
        }[tier]

    def tier(self, score: float) -> SlotTier:
        if score <= self.near_score:
            return SlotTier.NEAR
        if score >= self.far_score:
            return SlotTier.FAR
        return SlotTier.NORMAL


@dataclass(frozen=True, slots=True)
class TriggerDistance:
    """A strategy's distance to its nearest exit trigger (lower = more urgent)."""

    strategy_id: str
    score: float
    tier: SlotTier
    nearest: str  # the trigger that set the score ("" when nothing is known)
    components: tuple[tuple[str, float], ...]


def _strike_distance(strategy: Strategy, quotes: Mapping[str, Quote], today: date) -> float | None:
    """Smallest distance (in SDs) from spot to a short option strike; None if unknown."""
    spot = next(
        (
            q.underlying_price
            for leg in strategy.legs
            if (q := quotes.get(leg.contract.key)) is not None and math.isfinite(q.underlying_price)
        ),
        math.nan,
    )
    if not math.isfinite(spot) or spot <= 0:
        return None
    best: float | None = None
    for leg in strategy.short_legs:
        c = leg.contract
        q = quotes.get(c.key)
        if not c.is_option or c.strike is None or q is None or q.greeks is None:
            continue
        iv = q.greeks.iv
        if not math.isfinite(iv) or iv <= 0:
            continue
        breached = spot < c.strike if c.right is Right.PUT else spot > c.strike
        years = max(c.dte(today), 1) / 365.0
        sds = 0.0 if breached else abs(spot - c.strike) / (spot * iv * math.sqrt(years))
        best = sds if best is None else min(best, sds)
    return best


def _pnl_distances(
    strategy: Strategy, quotes: Mapping[str, Quote], policy: SlotPolicy, max_profit: float
) -> dict[str, float]:
    """Distances to take profit and stop loss (empty without a credit or a mark per leg)."""
    credit = strategy.credit
    if not credit > 0:
        return {}
    value = 0.0
    for leg in strategy.legs:
        q = quotes.get(leg.contract.key)
        mark = q.mark if q is not None else math.nan
        if not math.isfinite(mark):
            return {}
        value += leg.ratio * mark
    pnl = credit + value  # per share per unit
    out: dict[str, float] = {}
    if math.isfinite(max_profit) and max_profit > 0:
        target = policy.take_profit * max_profit
        out["take_profit"] = max(target - pnl, 0.0) / target
    stop = policy.stop_loss_multiple * credit
    out["stop_loss"] = max(stop + pnl, 0.0) / stop
    return out


def trigger_distance(
    strategy: Strategy,
    quotes: Mapping[str, Quote],
    today: date,
    policy: SlotPolicy,
    max_profit: float | None = None,
) -> TriggerDistance:
    """Score ``strategy`` against its exit triggers from the ``quotes`` known (by contract key).

    ``max_profit`` (per share per unit) saves recomputing the payoff profile each cycle.
    """
    if max_profit is None:
        max_profit = strategy.profile.max_profit
    parts: dict[str, float] = {}
    sds = _strike_distance(strategy, quotes, today)
    if sds is not None:
        parts["short_strike"] = sds / policy.far_trigger_sd
    parts.update(_pnl_distances(strategy, quotes, policy, max_profit))
    dte = strategy.dte(today)
    if dte is not None and policy.dte_trigger is not None:
        parts["dte"] = max(dte - policy.dte_trigger, 0) / policy.far_trigger_days
    if not parts:
        # Nothing to watch (a stock holding) or nothing known yet: no claim on a line.
        return TriggerDistance(strategy.strategy_id, policy.far_score, SlotTier.FAR, "", ())
    nearest = min(parts, key=lambda k: (parts[k], k))
    score = parts[nearest]
    components = tuple(sorted(parts.items()))
    return TriggerDistance(strategy.strategy_id, score, policy.tier(score), nearest, components)


def rank(distances: Sequence[TriggerDistance]) -> list[TriggerDistance]:
    """Most urgent first; ties by strategy id so the order is stable."""
    return sorted(distances, key=lambda d: (d.score, d.strategy_id))


def plan_streams(
    ranked: Sequence[tuple[str, frozenset[str]]], capacity: int
) -> tuple[list[str], set[str]]:
    """Pick strategies to stream, in rank order, all legs or none, within ``capacity`` lines.

    Legs shared by two strategies take one line. A strategy that does not fit
    is skipped and a smaller one further down may still fit.
    """
    chosen: list[str] = []
    lines: set[str] = set()
    for sid, keys in ranked:
        new = keys - lines
        if len(lines) + len(new) <= capacity:
            chosen.append(sid)
            lines |= new
    return chosen, lines


def snapshot_load_per_min(intervals: Mapping[str, float]) -> float:
    """Quotes per minute needed to snapshot legs at their intervals (key -> seconds)."""
    return sum(60.0 / s for s in intervals.values())
