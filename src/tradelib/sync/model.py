"""Values the sync and the registry work with: held legs and strategy records.

A ``StrategyRecord`` is the registry's view of one strategy: the legs it holds
now (signed broker quantities, not ratios), whether it is open, and why it
closed. ``to_strategy()`` turns an open record into the domain ``Strategy``
(ratios per unit) that rules, risk and the slot manager work with.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from functools import reduce

from tradelib.domain import Contract, Leg, SecType, Strategy, StrategyType
from tradelib.domain.time import ensure_utc

# Quantities come from IB as decimals: anything closer to zero than this is flat.
QTY_EPS = 1e-9


class StrategyStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class CloseReason(StrEnum):
    """Why a strategy stopped holding legs."""

    CLOSED = "closed"  # our own closing orders
    ROLLED = "rolled"  # its legs moved to a linked strategy
    EXPIRED = "expired"  # option legs expired worthless
    ASSIGNED = "assigned"  # option legs assigned/exercised into stock
    CLOSED_OUTSIDE = "closed_outside"  # gone with no order of ours to explain it


@dataclass(frozen=True, slots=True)
class HeldLeg:
    """One contract held by a strategy; ``quantity`` is signed (negative = short)."""

    contract: Contract
    quantity: float

    @property
    def con_id(self) -> int:
        """The broker's contract id (every held leg has one: it came from the broker)."""
        assert self.contract.con_id is not None, f"{self.contract.key} has no con_id"
        return self.contract.con_id


def units_of(legs: Iterable[HeldLeg]) -> int:
    """Strategy units: the greatest common divisor of the legs' whole quantities (>= 1)."""
    sizes = [round(abs(leg.quantity)) for leg in legs if abs(leg.quantity) > QTY_EPS]
    sizes = [s for s in sizes if s > 0]
    return max(reduce(math.gcd, sizes, 0), 1)


@dataclass(frozen=True, slots=True)
class StrategyRecord:
    """The registry's state of one strategy, as stored in the ``strategies`` table.

    ``credit`` is the net premium per share per unit received (negative for a
    debit; stock legs carry their entry price as a debit), None when unknown.
    ``inferred`` marks legs grouped by pattern rather than by our order refs.
    ``linked_strategy_id`` links a roll or an assignment both ways: on the new
    strategy it names the one it was rolled from (or assigned out of); on a
    strategy closed as ``rolled`` it names the one it was rolled into.
    """

    strategy_id: str
    strategy_type: StrategyType
    underlying: str
    legs: tuple[HeldLeg, ...]
    opened_at: datetime
    updated_at: datetime
    status: StrategyStatus = StrategyStatus.OPEN
    credit: float | None = None
    inferred: bool = False
    closed_at: datetime | None = None
    close_reason: CloseReason | None = None
    linked_strategy_id: str | None = None
    prediction_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "opened_at", ensure_utc(self.opened_at, "opened_at"))
        object.__setattr__(self, "updated_at", ensure_utc(self.updated_at, "updated_at"))
        if self.closed_at is not None:
            object.__setattr__(self, "closed_at", ensure_utc(self.closed_at, "closed_at"))

    @property
    def is_open(self) -> bool:
        return self.status is StrategyStatus.OPEN

    @property
    def units(self) -> int:
        return units_of(self.legs)

    @property
    def multiplier(self) -> float:
        """The largest leg multiplier (100 for equity options, 1 for a stock strategy)."""
        return max((leg.contract.multiplier for leg in self.legs), default=100.0)

    def quantity_of(self, con_id: int) -> float:
        """Signed quantity this strategy holds of ``con_id`` (0 if none)."""
        return sum(leg.quantity for leg in self.legs if leg.contract.con_id == con_id)

    def scaled(self, units_left: int, at: datetime) -> StrategyRecord:
        """This record holding ``units_left`` of its units (same ratios), updated at ``at``."""
        units = self.units
        legs = tuple(HeldLeg(h.contract, h.quantity / units * units_left) for h in self.legs)
        return replace(self, legs=legs, updated_at=at)

    def to_strategy(self) -> Strategy:
        """The domain strategy (ratios per unit, ``units`` units); only for open records."""
        if not self.legs:
            raise ValueError(f"strategy {self.strategy_id} holds no legs")
        units = self.units
        legs = tuple(
            Leg(leg.contract, round(leg.quantity / units))
            for leg in sorted(self.legs, key=leg_sort_key)
        )
        return Strategy(
            strategy_id=self.strategy_id,
            strategy_type=self.strategy_type,
            underlying=self.underlying,
            legs=legs,
            quantity=units,
            credit=0.0 if self.credit is None else self.credit,
            opened_at=self.opened_at,
            multiplier=self.multiplier,
            inferred=self.inferred,
            prediction_id=self.prediction_id,
        )

    def closed(
        self, reason: CloseReason, at: datetime, linked: str | None = None
    ) -> StrategyRecord:
        """This record closed at ``at`` for ``reason`` (legs kept as they were last held)."""
        return replace(
            self,
            status=StrategyStatus.CLOSED,
            closed_at=at,
            close_reason=reason,
            updated_at=at,
            linked_strategy_id=linked or self.linked_strategy_id,
        )


def leg_sort_key(leg: HeldLeg) -> tuple[int, str, float, str, int]:
    """A stable leg order: stock first, then by expiry, strike, right, con_id."""
    c = leg.contract
    return (
        0 if c.sec_type is not SecType.OPTION else 1,
        c.expiry.isoformat() if c.expiry else "",
        c.strike or 0.0,
        c.right.value if c.right else "",
        c.con_id or 0,
    )
