"""What one entry run considered, refused and entered: the report and the strategy ids."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import polars as pl

from tradelib.domain import (
    Leg,
    MarketRegime,
    StrategyType,
)
from tradelib.entry import Candidate


# --- the report ---------------------------------------------------------------------------
class EntryStatus(StrEnum):
    """How a run ended."""

    COMPLETED = "completed"  # candidates were considered (entered or not)
    MARKET_CLOSED = "market_closed"
    BLOCKED = "blocked"  # circuit breaker open
    AT_LIMIT = "at_limit"  # max positions or max new entries per day already reached
    NO_CANDIDATES = "no_candidates"
    RISK_UNAVAILABLE = "risk_unavailable"  # the portfolio's risk could not be measured


class Outcome(StrEnum):
    """What happened to one candidate."""

    ENTERED = "entered"
    NOT_FILLED = "not_filled"  # the executor worked it but got no fill
    LIMITS = "rejected_by_limits"
    INVALID_QUOTE = "invalid_quote"
    ALREADY_ENTERED = "already_entered"
    OVERLAP = "overlaps_holding"
    FILTERED = "filtered"  # left out by the selector
    NOT_TRIED = "not_tried"  # ranked, but the run stopped before it


@dataclass(frozen=True, slots=True)
class CandidateOutcome:
    """One candidate (or one selector rejection) and what the run did with it."""

    underlying: str
    strategy: str | None
    expiry: date | None
    legs: str  # "+563P -568P"
    outcome: Outcome
    reason: str
    rank: int | None = None  # 1 = best; None for selector rejections
    strategy_id: str | None = None
    credit_mid: float = math.nan
    credit_natural: float = math.nan
    probability_of_profit: float = math.nan
    expected_value: float = math.nan  # per share per unit, at mid
    weight: float = math.nan
    score: float = math.nan
    fill_credit: float = math.nan  # per share per unit
    quantity: int = 0
    prediction_id: str | None = None


@dataclass(frozen=True, slots=True)
class EntryReport:
    """What one entry run saw and did, with a reason for everything left out."""

    ts: datetime
    status: EntryStatus
    reason: str
    regime: MarketRegime | None = None
    regime_reason: str = ""
    weights: str = ""
    outcomes: tuple[CandidateOutcome, ...] = ()

    @property
    def entered(self) -> tuple[CandidateOutcome, ...]:
        return tuple(o for o in self.outcomes if o.outcome is Outcome.ENTERED)

    @property
    def considered(self) -> tuple[CandidateOutcome, ...]:
        """Ranked candidates (everything the selector did not filter out)."""
        return tuple(o for o in self.outcomes if o.rank is not None)

    @property
    def rejected(self) -> tuple[CandidateOutcome, ...]:
        return tuple(o for o in self.outcomes if o.outcome is not Outcome.ENTERED)

    def frame(self) -> pl.DataFrame:
        """Every candidate with its outcome and reason, ranked ones first."""
        rows = [
            {
                "rank": o.rank,
                "underlying": o.underlying,
                "strategy": o.strategy,
                "expiry": o.expiry,
                "legs": o.legs,
                "credit_mid": _or_none(o.credit_mid),
                "credit_natural": _or_none(o.credit_natural),
                "pop": _or_none(o.probability_of_profit),
                "ev": _or_none(o.expected_value),
                "weight": _or_none(o.weight),
                "score": _or_none(o.score),
                "outcome": o.outcome.value,
                "reason": o.reason,
                "strategy_id": o.strategy_id,
                "fill_credit": _or_none(o.fill_credit),
            }
            for o in self.outcomes
        ]
        schema: dict[str, Any] = {
            "rank": pl.Int64,
            "underlying": pl.String,
            "strategy": pl.String,
            "expiry": pl.Date,
            "legs": pl.String,
            "credit_mid": pl.Float64,
            "credit_natural": pl.Float64,
            "pop": pl.Float64,
            "ev": pl.Float64,
            "weight": pl.Float64,
            "score": pl.Float64,
            "outcome": pl.String,
            "reason": pl.String,
            "strategy_id": pl.String,
            "fill_credit": pl.Float64,
        }
        return pl.DataFrame(rows, schema=schema).sort(
            pl.col("rank").is_null(), "rank", "underlying"
        )

    def lines(self) -> list[str]:
        """A short human summary."""
        regime = self.regime.value if self.regime is not None else "unknown"
        out = [
            f"entry at {self.ts:%Y-%m-%d %H:%M} UTC: {self.status.value} ({self.reason})",
            f"  regime {regime}; weights: {self.weights or '-'}",
            f"  considered {len(self.considered)}, entered {len(self.entered)}, "
            f"left out {len(self.rejected)}",
        ]
        out += [f"  entered {o.strategy_id} for {o.fill_credit:.2f}" for o in self.entered]
        return out


def _or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


# --- pure helpers -------------------------------------------------------------------------
def describe_legs(legs: Sequence[Leg]) -> str:
    """Legs in one short line: ``+563P -568P``."""
    parts = []
    for leg in legs:
        c = leg.contract
        name = f"{c.strike:g}{c.right.value}" if c.is_option and c.right else c.key
        size = "" if abs(leg.ratio) == 1 else str(abs(leg.ratio))
        parts.append(f"{'+' if leg.ratio > 0 else '-'}{size}{name}")
    return " ".join(parts)


def entry_strategy_id(candidate: Candidate, day: date) -> str:
    """The strategy id of ``candidate`` entered on ``day``: same inputs, same id.

    ``SPY-put_credit_spread-20270108-563P_568P-20261124``: a re-run on the same
    day finds the id it already used and never opens the strategy twice.
    """
    return strategy_id_for(
        candidate.underlying, candidate.strategy, candidate.expiry, candidate.legs, day
    )


def strategy_id_for(
    underlying: str,
    strategy: StrategyType | None,
    expiry: date | None,
    legs: Sequence[Leg],
    day: date,
) -> str:
    """The id a strategy of these legs entered on ``day`` has (see ``entry_strategy_id``)."""
    strikes = "_".join(
        f"{leg.contract.strike:g}{leg.contract.right.value}"
        for leg in legs
        if leg.contract.strike is not None and leg.contract.right is not None
    )
    kind = strategy.value if strategy is not None else StrategyType.CUSTOM.value
    expires = f"{expiry:%Y%m%d}" if expiry is not None else "none"
    raw = f"{underlying}-{kind}-{expires}-{strikes}-{day:%Y%m%d}"
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", raw)


# --- recovery from the journal ------------------------------------------------------------
def is_entry_strategy_id(strategy_id: str) -> bool:
    """True for ids made by ``entry_strategy_id`` (type inside, entry day at the end)."""
    return strategy_type_of(strategy_id) is not StrategyType.CUSTOM and bool(
        re.search(r"-\d{8}$", strategy_id)
    )


def strategy_type_of(strategy_id: str) -> StrategyType:
    """The strategy type named inside an id made by ``entry_strategy_id`` (else CUSTOM)."""
    for kind in StrategyType:
        if f"-{kind.value}-" in strategy_id:
            return kind
    return StrategyType.CUSTOM
