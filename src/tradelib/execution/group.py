"""One order group (a combo, one leg, or a rollback) and its progress while it is worked.

The executor works every plan as one or more groups: a combo is one group, a
legged plan one group per leg plus one per rollback. A ``Walk`` holds what the
journal says of a group's orders so far; a ``Refusal`` is why no order may be
priced from the market now.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tradelib.domain import Leg, OrderPurpose, TimeInForce
from tradelib.execution.plan import ExecutionOutcome
from tradelib.execution.walk import WalkSchedule
from tradelib.stores.orders import JournalEntry


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why no order may be priced from the market now."""

    outcome: ExecutionOutcome
    reason: str


@dataclass(frozen=True, slots=True)
class OrderGroup:
    """One order group: a combo, a leg, or a rollback."""

    strategy_id: str
    purpose: OrderPurpose
    legs: tuple[Leg, ...]
    quantity: int
    bound: float
    schedule: WalkSchedule
    seqs: range
    tif: TimeInForce
    guarded: bool  # consult the breaker before each send (entries; never rollbacks)
    label: str


@dataclass(slots=True)
class Walk:
    """Mutable progress of one group while it is worked."""

    group: OrderGroup
    entries: list[JournalEntry] = field(default_factory=list)
    resumed: bool = False
    lost: str = ""

    @property
    def filled(self) -> float:
        return sum(e.filled_quantity for e in self.entries)

    @property
    def last(self) -> JournalEntry | None:
        return self.entries[-1] if self.entries else None

    def put(self, entry: JournalEntry) -> JournalEntry:
        for i, e in enumerate(self.entries):
            if e.order_ref == entry.order_ref:
                self.entries[i] = entry
                return entry
        self.entries.append(entry)
        return entry
