"""Predictions at entry, actuals at exit (SPEC part 11): the values and their pure rules.

The entry workflow records one ``Prediction`` per strategy it opens (what the
model expected: P&L, probability of profit, max risk, the regime and skew it
saw, the weight it ranked with); the monitoring workflow records the outcome
when the strategy closes. Both are safe to repeat:

* an entry is written once; re-recording an existing prediction id writes
  nothing (and so can never wipe an actual already stored);
* an exit is ordered by ``(closed_at, recorded_at)``: a report older than the
  stored one is refused as STALE, the same report again is a DUPLICATE.

Money is in dollars for the whole position (per-share model figures x
multiplier x quantity), so predicted and actual P&L compare directly.
``max_loss`` holds the *max risk*: the strategy's max loss, or, when that is
unbounded (a strangle's call side), the risk capital (Reg-T margin) it ties up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tradelib.domain import MarketRegime, StrategyType
from tradelib.domain.time import ensure_utc

if TYPE_CHECKING:
    from tradelib.entry import Candidate

PREDICTION_PREFIX = "pred-"
_SECONDS_PER_DAY = 86_400.0


def prediction_id_for(strategy_id: str) -> str:
    """Return the prediction id of a strategy: deterministic, so a re-run finds the same row."""
    if not strategy_id or not strategy_id.strip():
        raise ValueError("strategy_id must not be empty")
    return f"{PREDICTION_PREFIX}{strategy_id}"


def _finite(value: float, name: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return number


def _optional_finite(value: float | None) -> float | None:
    """NaN means "not known" in model outputs; the lake spells that null."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass(frozen=True, slots=True)
class Prediction:
    """What the model expected of one entry, in dollars for the whole position."""

    prediction_id: str
    strategy_id: str | None
    strategy_type: StrategyType
    underlying: str
    entered_at: datetime
    predicted_pnl: float  # expected P&L at expiry, dollars
    max_loss: float  # max risk, dollars, finite and > 0 (see the module docstring)
    prob_profit: float | None = None
    regime: MarketRegime | None = None
    skew_ratio: float | None = None
    weight_used: float | None = None  # the strategy weight the selector ranked with

    def __post_init__(self) -> None:
        object.__setattr__(self, "entered_at", ensure_utc(self.entered_at, "entered_at"))
        object.__setattr__(self, "strategy_type", StrategyType(self.strategy_type))
        if self.regime is not None:
            object.__setattr__(self, "regime", MarketRegime(self.regime))
        if not self.prediction_id:
            raise ValueError("prediction_id must not be empty")
        _finite(self.predicted_pnl, "predicted_pnl")
        if not (_finite(self.max_loss, "max_loss") > 0):
            raise ValueError(f"max_loss (max risk) must be > 0, got {self.max_loss}")
        if self.prob_profit is not None and not 0.0 <= self.prob_profit <= 1.0:
            raise ValueError(f"prob_profit must be within [0, 1], got {self.prob_profit}")
        if self.weight_used is not None and not (
            math.isfinite(self.weight_used) and self.weight_used >= 0
        ):
            raise ValueError(f"weight_used must be finite and >= 0, got {self.weight_used}")

    @classmethod
    def for_entry(
        cls,
        *,
        strategy_id: str,
        strategy_type: StrategyType | str,
        underlying: str,
        entered_at: datetime,
        expected_value: float,
        probability_of_profit: float | None,
        max_loss: float,
        regime: MarketRegime | str | None = None,
        skew_ratio: float | None = None,
        weight: float | None = None,
        multiplier: float = 100.0,
        quantity: int = 1,
        risk_capital: float | None = None,
    ) -> Prediction:
        """Build a prediction from the entry model's per-share figures.

        ``expected_value`` and ``max_loss`` are per share per strategy unit (as
        the selector reports them); they are scaled by ``multiplier`` x
        ``quantity``. When ``max_loss`` is unbounded (or not positive),
        ``risk_capital`` — the entry's margin requirement in dollars for the
        whole position — becomes the max risk; without it the prediction could
        not be scored, so that is an error.
        """
        if quantity <= 0:
            raise ValueError(f"quantity must be > 0, got {quantity}")
        scale = float(multiplier) * quantity
        if math.isfinite(max_loss) and max_loss > 0:
            risk = float(max_loss) * scale
        elif risk_capital is not None and math.isfinite(risk_capital) and risk_capital > 0:
            risk = float(risk_capital)
        else:
            raise ValueError(
                f"{strategy_type} on {underlying}: max loss {max_loss} is unbounded; "
                "pass risk_capital (the entry's margin requirement, dollars) as the max risk"
            )
        pop = _optional_finite(probability_of_profit)
        return cls(
            prediction_id=prediction_id_for(strategy_id),
            strategy_id=strategy_id,
            strategy_type=StrategyType(strategy_type),
            underlying=underlying,
            entered_at=entered_at,
            predicted_pnl=_finite(expected_value, "expected_value") * scale,
            max_loss=risk,
            prob_profit=None if pop is None else min(max(pop, 0.0), 1.0),
            regime=None if regime is None else MarketRegime(regime),
            skew_ratio=_optional_finite(skew_ratio),
            weight_used=_optional_finite(weight),
        )

    @classmethod
    def from_candidate(
        cls,
        candidate: Candidate,
        *,
        strategy_id: str,
        entered_at: datetime,
        quantity: int = 1,
        risk_capital: float | None = None,
    ) -> Prediction:
        """Build the prediction of a selector ``Candidate`` about to be entered."""
        return cls.for_entry(
            strategy_id=strategy_id,
            strategy_type=candidate.strategy,
            underlying=candidate.underlying,
            entered_at=entered_at,
            expected_value=candidate.expected_value,
            probability_of_profit=candidate.probability_of_profit,
            max_loss=candidate.max_loss,
            regime=candidate.regime,
            skew_ratio=candidate.skew.ratio,
            weight=candidate.weight,
            multiplier=candidate.multiplier,
            quantity=quantity,
            risk_capital=risk_capital,
        )

    def row(self) -> dict[str, Any]:
        """Return the lake row of this (still open) prediction."""
        return {
            "prediction_id": self.prediction_id,
            "strategy_id": self.strategy_id,
            "strategy_type": self.strategy_type.value,
            "underlying": self.underlying,
            "regime": None if self.regime is None else self.regime.value,
            "skew_ratio": self.skew_ratio,
            "predicted_pnl": round(self.predicted_pnl, 2),  # money is stored in cents
            "prob_profit": self.prob_profit,
            "max_loss": round(self.max_loss, 2),
            "weight_used": self.weight_used,
            "entered_at": self.entered_at,
            "actual_pnl": None,
            "days_held": None,
            "exit_rule": None,
            "closed_at": None,
            # the entry time, not the wall clock: a re-run builds the identical row
            "updated_at": self.entered_at,
        }


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one predicted strategy ended: the actual P&L (dollars) and the rule that closed it.

    ``recorded_at`` orders reports of the same exit (defaults to ``closed_at``):
    a later correction, e.g. once commissions are known, carries a later one.
    """

    prediction_id: str
    actual_pnl: float
    exit_rule: str
    closed_at: datetime
    recorded_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "closed_at", ensure_utc(self.closed_at, "closed_at"))
        recorded = self.closed_at if self.recorded_at is None else self.recorded_at
        object.__setattr__(self, "recorded_at", ensure_utc(recorded, "recorded_at"))
        _finite(self.actual_pnl, "actual_pnl")
        object.__setattr__(self, "actual_pnl", round(self.actual_pnl, 2))  # money in cents
        if not self.exit_rule:
            raise ValueError("exit_rule must not be empty")

    @property
    def order_key(self) -> tuple[datetime, datetime]:
        assert self.recorded_at is not None  # set in __post_init__
        return self.closed_at, self.recorded_at


class ExitStatus(StrEnum):
    """What ``record_exit`` did."""

    RECORDED = "recorded"  # stored (first exit, or newer than the stored one)
    DUPLICATE = "duplicate"  # the same report again: nothing written
    STALE = "stale"  # older than (or conflicting with) the stored report: refused
    UNKNOWN = "unknown"  # no prediction with that id: nothing written


@dataclass(frozen=True, slots=True)
class ExitRecord:
    """The result of recording one exit."""

    prediction_id: str
    status: ExitStatus
    days_held: float | None = None
    reason: str = ""


def _days_held(entered_at: datetime, closed_at: datetime) -> float:
    return (closed_at - entered_at).total_seconds() / _SECONDS_PER_DAY


def apply_exit(
    row: Mapping[str, Any] | None, outcome: Outcome
) -> tuple[ExitRecord, dict[str, Any] | None]:
    """Decide what one outcome does to a stored row: (result, the row to write or None)."""
    pid = outcome.prediction_id
    if row is None:
        return ExitRecord(pid, ExitStatus.UNKNOWN, reason="no prediction with this id"), None
    entered = ensure_utc(row["entered_at"], "entered_at")
    if outcome.closed_at < entered:
        raise ValueError(
            f"{pid}: closed_at {outcome.closed_at.isoformat()} is before "
            f"entered_at {entered.isoformat()}"
        )
    days = _days_held(entered, outcome.closed_at)
    if row["closed_at"] is not None:
        stored_key = (
            ensure_utc(row["closed_at"], "closed_at"),
            ensure_utc(row["updated_at"], "updated_at"),
        )
        same = (
            stored_key == outcome.order_key
            and row["actual_pnl"] == outcome.actual_pnl
            and row["exit_rule"] == outcome.exit_rule
        )
        if same:
            return ExitRecord(pid, ExitStatus.DUPLICATE, days, "already recorded"), None
        if outcome.order_key <= stored_key:
            return (
                ExitRecord(
                    pid,
                    ExitStatus.STALE,
                    days,
                    f"stored exit (closed {stored_key[0].isoformat()}, recorded "
                    f"{stored_key[1].isoformat()}) is not older than this one",
                ),
                None,
            )
    updated = dict(row)
    updated.update(
        actual_pnl=outcome.actual_pnl,
        days_held=days,
        exit_rule=outcome.exit_rule,
        closed_at=outcome.closed_at,
        updated_at=outcome.recorded_at,
    )
    return ExitRecord(pid, ExitStatus.RECORDED, days), updated
