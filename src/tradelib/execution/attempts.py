"""Exit attempts: how the executor numbers the orders of a retried exit.

An exit (close, reduce, roll) that ended unfilled is tried again on a later
cycle as a new *attempt*: attempt ``n`` works the order numbers of its own
block (``n * ATTEMPT_BLOCK + 1`` onwards), so every order of every attempt has
its own idempotent reference and a re-run finds, resumes or reports each one
instead of sending it twice. ``attempts_of`` reads the attempts back from a
strategy's journaled orders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tradelib.domain import OrderStatus
from tradelib.stores.orders import JournalEntry

SEQ_BLOCK = 100  # order numbers one order group may use
ATTEMPT_BLOCK = 1000  # order numbers reserved per exit attempt


def attempt_seqs(attempt: int) -> range:
    """The order numbers attempt ``attempt`` works (attempt 0 is the first try: 1..99)."""
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    start = attempt * ATTEMPT_BLOCK + 1
    return range(start, start + SEQ_BLOCK - 1)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One exit attempt as the order journal knows it."""

    index: int
    filled: float
    quantity: int
    unsettled: bool  # an order of it is pending or working
    last_update: datetime
    reason: str  # why its last order ended (or was replaced)


def attempts_of(entries: Sequence[JournalEntry]) -> list[Attempt]:
    """Group a strategy's journaled orders of one purpose into attempts, oldest first."""
    blocks: dict[int, list[JournalEntry]] = {}
    for e in entries:
        blocks.setdefault(e.seq // ATTEMPT_BLOCK, []).append(e)
    out = []
    for index in sorted(blocks):
        group = sorted(blocks[index], key=lambda e: e.seq)
        out.append(
            Attempt(
                index,
                sum(e.filled_quantity for e in group),
                max(e.quantity for e in group),
                any(e.is_live or e.status is OrderStatus.PENDING for e in group),
                max(e.updated_at for e in group),
                group[-1].reason or group[-1].status.value,
            )
        )
    return out
