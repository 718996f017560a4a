"""What one monitoring cycle decided and did: the report the job prints and the notebook shows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import polars as pl

from tradelib.domain import Decision, DecisionAction, MarketRegime, Urgency
from tradelib.domain.decisions import InputValue
from tradelib.marketdata import SlotUsage


# --- the report -----------------------------------------------------------------------------
class MonitoringStatus(StrEnum):
    """How a cycle ended."""

    COMPLETED = "completed"
    NO_STRATEGIES = "no_strategies"


class ActionOutcome(StrEnum):
    """What became of one decision that asked for an order."""

    CLOSED = "closed"  # the whole position closed
    REDUCED = "reduced"  # part of it closed (a reduce, or a close partly filled)
    ROLLED = "rolled"
    NOT_FILLED = "not_filled"  # worked by the executor, nothing filled
    SKIPPED = "skipped"  # no order sent; ``reason`` says why


@dataclass(frozen=True, slots=True)
class ActionReport:
    """One acting decision and what the workflow did about it."""

    strategy_id: str
    rule: str
    action: DecisionAction
    urgency: Urgency
    outcome: ActionOutcome
    reason: str
    quantity: int = 0  # units the order asked for
    filled: float = 0.0  # units filled
    price: float = math.nan  # signed net per unit (positive = debit paid)
    bound: float = math.nan
    realized_pnl: float | None = None  # dollars, whole position (full closes only)
    exit_status: str = ""  # how the actual was stored against the prediction
    attempt: int | None = None


@dataclass(frozen=True, slots=True)
class MonitoringReport:
    """What one monitoring cycle saw, decided and did."""

    ts: datetime
    status: MonitoringStatus
    market_open: bool
    regime: MarketRegime | None = None
    regime_reason: str = ""
    decisions: tuple[Decision, ...] = ()
    actions: tuple[ActionReport, ...] = ()
    reused: tuple[str, ...] = ()  # strategy ids whose decision at ``ts`` was already stored
    left_to_sync: tuple[str, ...] = ()  # expired strategies, not evaluated
    usage: SlotUsage | None = None
    quotes_refreshed: int = 0

    @property
    def closed(self) -> tuple[ActionReport, ...]:
        return tuple(a for a in self.actions if a.outcome is ActionOutcome.CLOSED)

    @property
    def skipped(self) -> tuple[ActionReport, ...]:
        return tuple(a for a in self.actions if a.outcome is ActionOutcome.SKIPPED)

    def decisions_frame(self) -> pl.DataFrame:
        """One row per decision: strategy, rule, action, urgency, reason (and any skip)."""
        rows = [
            {
                "strategy": d.strategy_id,
                "rule": d.rule,
                "action": d.action.value,
                "urgency": d.urgency.name,
                "reason": d.reason,
                "skip_reason": _text_or_none(d.inputs.get("skip_reason")),
            }
            for d in self.decisions
        ]
        schema = dict.fromkeys(
            ("strategy", "rule", "action", "urgency", "reason", "skip_reason"), pl.String
        )
        return pl.DataFrame(rows, schema=schema)

    def actions_frame(self) -> pl.DataFrame:
        """One row per acting decision: what was sent, what filled, the P&L booked."""
        rows = [
            {
                "strategy": a.strategy_id,
                "rule": a.rule,
                "action": a.action.value,
                "outcome": a.outcome.value,
                "filled": a.filled,
                "price": _finite_or_none(a.price),
                "realized_pnl": a.realized_pnl,
                "reason": a.reason,
            }
            for a in self.actions
        ]
        schema: dict[str, Any] = {
            "strategy": pl.String,
            "rule": pl.String,
            "action": pl.String,
            "outcome": pl.String,
            "filled": pl.Float64,
            "price": pl.Float64,
            "realized_pnl": pl.Float64,
            "reason": pl.String,
        }
        return pl.DataFrame(rows, schema=schema)

    def lines(self) -> list[str]:
        """A short human summary."""
        regime = self.regime.value if self.regime is not None else "unknown"
        hours = "market open" if self.market_open else "market closed: no orders"
        out = [
            f"monitoring at {self.ts:%Y-%m-%d %H:%M} UTC: {self.status.value} ({hours})",
            f"  regime {regime}: {self.regime_reason or '-'}",
            f"  {len(self.decisions)} decision(s), {len(self.reused)} already stored; "
            f"{len(self.actions)} acting, {len(self.closed)} closed, {len(self.skipped)} skipped",
        ]
        if self.usage is not None:
            u = self.usage
            out.append(
                f"  market data: {u.lines_in_use}/{u.option_lines} lines streaming "
                f"{u.streaming_strategies} strategies, {u.snapshot_strategies} on snapshots"
            )
        out += [
            f"  {a.strategy_id}: {a.rule} -> {a.outcome.value} ({a.reason})" for a in self.actions
        ]
        return out


def _text_or_none(value: InputValue) -> str | None:
    return None if value is None else str(value)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
