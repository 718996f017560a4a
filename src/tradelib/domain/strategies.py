"""Multi-leg option strategies and their payoff arithmetic.

Payoffs at expiry are piecewise linear in the underlying price, so max profit,
max loss and breakevens follow exactly from the kinks (the strikes) and the
slopes beyond them; no grid search.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from tradelib.domain.contracts import Contract
from tradelib.domain.enums import Right, SecType, StrategyType
from tradelib.domain.time import ensure_utc
from tradelib.errors import ContractError


@dataclass(frozen=True, slots=True)
class Leg:
    """One leg: ``ratio`` contracts per strategy unit, signed (negative = short)."""

    contract: Contract
    ratio: int

    def __post_init__(self) -> None:
        if self.ratio == 0:
            raise ContractError(f"leg {self.contract.key} has ratio 0")

    @property
    def is_short(self) -> bool:
        return self.ratio < 0


def _leg_value(leg: Leg, spot: float) -> float:
    """Per-share value at expiry of one unit of ``leg`` (signed)."""
    c = leg.contract
    if c.sec_type is SecType.OPTION:
        assert c.strike is not None
        intrinsic = (
            max(spot - c.strike, 0.0) if c.right is Right.CALL else max(c.strike - spot, 0.0)
        )
    elif c.sec_type in (SecType.STOCK, SecType.FUTURE):
        intrinsic = spot
    else:
        raise ContractError(f"cannot value leg {c.key} at expiry")
    return leg.ratio * intrinsic


def expiry_pnl(legs: Sequence[Leg], credit: float, spot: float) -> float:
    """P&L per share of one strategy unit at expiry, given the net ``credit`` received.

    ``credit`` is positive for a net credit, negative for a net debit; stock
    legs carry their entry price inside ``credit`` (a debit).
    """
    return credit + sum(_leg_value(leg, spot) for leg in legs)


@dataclass(frozen=True, slots=True)
class PayoffProfile:
    """Max profit / max loss (per share, per unit; ``inf`` when unbounded) and breakevens."""

    max_profit: float
    max_loss: float
    breakevens: tuple[float, ...]


def payoff_profile(legs: Sequence[Leg], credit: float) -> PayoffProfile:
    """Exact payoff extremes and breakevens of a strategy held to expiry."""
    if not legs:
        raise ContractError("a strategy needs at least one leg")
    kinks = sorted({leg.contract.strike for leg in legs if leg.contract.strike is not None})
    points = [0.0, *kinks]
    values = [expiry_pnl(legs, credit, s) for s in points]
    # Slope beyond the last kink: calls and stock contribute their ratio.
    slope_up = sum(
        leg.ratio
        for leg in legs
        if leg.contract.right is Right.CALL or leg.contract.sec_type is not SecType.OPTION
    )
    max_profit = math.inf if slope_up > 0 else max(values)
    max_loss = math.inf if slope_up < 0 else -min(values)
    breakevens: list[float] = []
    for i in range(len(points) - 1):
        s0, v0, s1, v1 = points[i], values[i], points[i + 1], values[i + 1]
        if v0 == 0.0 and s0 > 0:
            breakevens.append(s0)
        elif v0 * v1 < 0:
            breakevens.append(s0 + (s1 - s0) * (-v0) / (v1 - v0))
    last_s, last_v = points[-1], values[-1]
    if last_v == 0.0 and last_s > 0 and last_s not in breakevens:
        breakevens.append(last_s)
    elif slope_up != 0 and last_v * slope_up < 0:
        breakevens.append(last_s - last_v / slope_up)
    return PayoffProfile(
        max(max_profit, 0.0), max(max_loss, 0.0), tuple(round(b, 6) for b in breakevens)
    )


@dataclass(frozen=True, slots=True)
class Strategy:
    """A group of legs managed as one position.

    ``credit`` is the net premium per share per unit received at entry
    (negative for a debit); ``quantity`` is the number of units held.
    """

    strategy_id: str
    strategy_type: StrategyType
    underlying: str
    legs: tuple[Leg, ...]
    quantity: int
    credit: float
    opened_at: datetime
    multiplier: float = 100.0
    inferred: bool = False
    prediction_id: str | None = None
    tags: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "opened_at", ensure_utc(self.opened_at, "Strategy.opened_at"))
        if not self.legs:
            raise ContractError(f"strategy {self.strategy_id} has no legs")
        if self.quantity <= 0:
            raise ContractError(
                f"strategy {self.strategy_id}: quantity must be > 0, got {self.quantity}"
            )

    @property
    def profile(self) -> PayoffProfile:
        return payoff_profile(self.legs, self.credit)

    @property
    def max_profit(self) -> float:
        """Max profit in dollars for the whole position (``inf`` if unbounded)."""
        return self.profile.max_profit * self.multiplier * self.quantity

    @property
    def max_loss(self) -> float:
        """Max loss in dollars for the whole position (``inf`` if unbounded)."""
        return self.profile.max_loss * self.multiplier * self.quantity

    @property
    def breakevens(self) -> tuple[float, ...]:
        return self.profile.breakevens

    @property
    def expiry(self) -> date | None:
        """The nearest expiry among the option legs."""
        expiries = [leg.contract.expiry for leg in self.legs if leg.contract.expiry is not None]
        return min(expiries) if expiries else None

    @property
    def short_legs(self) -> tuple[Leg, ...]:
        return tuple(leg for leg in self.legs if leg.is_short)

    def dte(self, today: date) -> int | None:
        exp = self.expiry
        return None if exp is None else (exp - today).days
