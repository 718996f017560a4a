"""What strategy selection hands back: ranked candidates, and rejections with their reasons.

All money figures are per share per strategy unit (multiply by
``multiplier`` for dollars per contract), like ``tradelib.domain.payoff_profile``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

from tradelib.domain import Leg, MarketRegime, StrategyType
from tradelib.entry.strikes import SkewReading

# Leg plan per strategy: (role, signed ratio), in strike order. Roles name the
# four strikes an expiry yields: the skew-aware short put/call and their wings.
LEG_PLANS: dict[StrategyType, tuple[tuple[str, int], ...]] = {
    StrategyType.SHORT_PUT: (("short_put", -1),),
    StrategyType.PUT_CREDIT_SPREAD: (("long_put", 1), ("short_put", -1)),
    StrategyType.CALL_CREDIT_SPREAD: (("short_call", -1), ("long_call", 1)),
    StrategyType.IRON_CONDOR: (
        ("long_put", 1),
        ("short_put", -1),
        ("short_call", -1),
        ("long_call", 1),
    ),
    StrategyType.SHORT_STRANGLE: (("short_put", -1), ("short_call", -1)),
}


@dataclass(frozen=True, slots=True)
class Candidate:
    """One strategy that passed every filter, with its model numbers and why it ranks where it does.

    ``expected_value`` is priced at mid; ``net_expected_value`` takes off the
    modelled ``slippage`` and round-trip ``commissions`` (all per share per
    unit, see ``tradelib.entry.edge``), and only a positive net edge passes.
    ``risk_capital`` is what one unit puts at risk: its max loss, or its Reg-T
    margin when a short leg is naked (max loss is then the whole notional, or
    unbounded). ``ev_per_risk`` = net expected value / risk capital.
    ``score`` is the ranked measure (``strategies.ranking``: ``ev_per_risk`` or
    net ``ev``) x weight when positive, / weight when negative, so a lower
    weight always lowers the rank.
    """

    underlying: str
    strategy: StrategyType
    expiry: date
    dte: int
    legs: tuple[Leg, ...]
    credit_mid: float
    credit_natural: float
    max_profit: float
    max_loss: float
    breakevens: tuple[float, ...]
    probability_of_profit: float
    expected_value: float
    slippage: float
    commissions: float
    net_expected_value: float
    risk_capital: float
    ev_per_risk: float
    model_vol: float  # ATM IV the PoP / EV model used
    forward: float
    short_deltas: tuple[float, ...]
    skew: SkewReading
    regime: MarketRegime | None
    weight: float
    weight_source: str  # "regime", "strategy" or "default" (1.0)
    weights: tuple[tuple[str, float], ...]  # every enabled strategy's weight in this regime
    score: float
    multiplier: float = 100.0

    @property
    def net_edge_dollars(self) -> float:
        """Net expected P&L of one unit in dollars."""
        return self.net_expected_value * self.multiplier

    @property
    def metadata(self) -> dict[str, Any]:
        """What a later review needs to see why this was picked (JSON-friendly)."""
        return {
            "skew_ratio": self.skew.ratio,
            "skew_interpretation": self.skew.interpretation.value,
            "skew_reason": self.skew.reason,
            "regime": self.regime.value if self.regime is not None else None,
            "weight": self.weight,
            "weight_source": self.weight_source,
            "weights": dict(self.weights),
            "model_vol": self.model_vol,
            "forward": self.forward,
            "probability_of_profit": self.probability_of_profit,
            "expected_value": self.expected_value,
            "slippage": self.slippage,
            "commissions": self.commissions,
            "net_expected_value": self.net_expected_value,
            "risk_capital": self.risk_capital,
            "ev_per_risk": self.ev_per_risk,
            "max_loss": None if math.isinf(self.max_loss) else self.max_loss,
            "score": self.score,
        }


@dataclass(frozen=True, slots=True)
class Rejection:
    """A strategy (or a whole underlying when ``strategy`` is None) left out, and why."""

    underlying: str
    strategy: StrategyType | None
    expiry: date | None
    reason: str
    legs: tuple[Leg, ...] = ()
    # For a rejection by a portfolio-level rule, stored like a risk rejection: the check's
    # name, the measured value and the limit it failed (empty for filter rejections).
    check: str = ""
    value: float | None = None
    limit: float | None = None


@dataclass(frozen=True, slots=True)
class Selection:
    """Candidates best first, and everything rejected on the way."""

    ranked: tuple[Candidate, ...]
    rejected: tuple[Rejection, ...]

    @property
    def best(self) -> Candidate | None:
        return self.ranked[0] if self.ranked else None

    def rejections_for(self, strategy: StrategyType) -> tuple[Rejection, ...]:
        return tuple(r for r in self.rejected if r.strategy is strategy)
