"""What the executor is asked and what it answers: the plan, the outcome, the result.

``ExecutionPlan`` says what to execute (legs, units, the price bound, how
urgently); ``ExecutionResult`` says how it ended, as one ``ExecutionOutcome``
with the reason. The reason prefixes are journaled with a cancel, so that a
re-run reading the journal knows whether the walk ended and how.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from tradelib.domain import (
    Fill,
    Leg,
    OrderIntent,
    OrderPurpose,
    TimeInForce,
    Urgency,
    make_order_ref,
)
from tradelib.errors import ExecutionPlanError

MAX_LEGGED_LEGS = 8

# Reason prefixes journaled with a cancel: they say whether the walk goes on.
REPLACING = "replacing"
TIMEOUT = "timeout"
INVALID_QUOTE = "invalid quote"
MARKET_CLOSED = "market closed"
BLOCKED = "blocked"


class ExecutionOutcome(StrEnum):
    """How a plan, or one order group of it, ended."""

    FILLED = "filled"
    TIMEOUT = "timeout"  # cancelled on timeout (possibly after a partial fill)
    REJECTED = "rejected"  # the broker refused the order
    CANCELLED = "cancelled"  # cancelled by the broker or by hand (e.g. day order expired)
    BLOCKED = "blocked"  # the circuit breaker is open
    INVALID_QUOTE = "invalid_quote"
    MARKET_CLOSED = "market_closed"
    REFUSED = "refused"  # read-only mode
    FAILED = "failed"  # send error, order lost at the broker, or an incomplete rollback
    ROLLED_BACK = "rolled_back"  # legged: a leg failed and the filled legs were closed


PREFIX_OUTCOME = {
    TIMEOUT: ExecutionOutcome.TIMEOUT,
    INVALID_QUOTE: ExecutionOutcome.INVALID_QUOTE,
    MARKET_CLOSED: ExecutionOutcome.MARKET_CLOSED,
    BLOCKED: ExecutionOutcome.BLOCKED,
}


@dataclass(frozen=True, slots=True)
class ExecutionPlan:
    """What to execute: legs (execution-signed ratios), units, and the price bound.

    ``bound`` is the most aggressive signed net price per unit accepted (for a
    credit entry with a 0.30 minimum credit: -0.30); ``inf`` accepts any
    price. ``urgency`` picks the start and the step count unless
    ``start_fraction`` / ``steps`` are given. ``legged`` sends the legs one by
    one (bought legs first) and rolls back the filled ones if a leg fails.
    """

    strategy_id: str
    purpose: OrderPurpose
    legs: tuple[Leg, ...]
    quantity: int
    bound: float
    urgency: Urgency = Urgency.NORMAL
    start_fraction: float | None = None
    steps: int | None = None
    legged: bool = False
    tif: TimeInForce = TimeInForce.DAY
    attempt: int = 0  # an exit tried again after an unfilled attempt (see ``execution.attempts``)

    def __post_init__(self) -> None:
        make_order_ref(self.strategy_id, self.purpose, 1)  # validates the id
        problem = ""
        if not self.legs:
            problem = "no legs"
        elif self.quantity <= 0:
            problem = f"quantity must be > 0, got {self.quantity}"
        elif math.isnan(self.bound) or self.bound == -math.inf:
            problem = f"bound must be a price or +inf, got {self.bound}"
        elif self.legged and len(self.legs) > MAX_LEGGED_LEGS:
            problem = f"legged mode takes at most {MAX_LEGGED_LEGS} legs"
        elif len({leg.contract.key for leg in self.legs}) != len(self.legs):
            problem = "duplicate legs"
        elif self.attempt < 0:
            problem = f"attempt must be >= 0, got {self.attempt}"
        elif self.legged and self.attempt:
            problem = "a legged plan is not retried as attempts"
        if problem:
            raise ExecutionPlanError(plan=self.strategy_id, problem=problem)

    @classmethod
    def from_intent(
        cls,
        intent: OrderIntent,
        *,
        urgency: Urgency = Urgency.NORMAL,
        legged: bool = False,
        start_fraction: float | None = None,
        steps: int | None = None,
    ) -> ExecutionPlan:
        """A plan whose bound is ``intent``'s limit price (a market intent: no bound)."""
        bound = math.inf if intent.limit_price is None else intent.limit_price
        return cls(
            intent.strategy_id,
            intent.purpose,
            intent.legs,
            intent.quantity,
            bound,
            urgency,
            start_fraction,
            steps,
            legged,
            intent.tif,
        )


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """How a plan (or one leg of it, or one rollback order group) ended."""

    strategy_id: str
    purpose: OrderPurpose
    outcome: ExecutionOutcome
    quantity: int
    filled_quantity: float
    avg_price: float  # net per unit over the fills; NaN without fills
    order_refs: tuple[str, ...]
    prices: tuple[float, ...]  # limit of every order sent, in order
    fills: tuple[Fill, ...]
    reason: str
    resumed: bool = False  # found existing orders in the journal
    legs: tuple[ExecutionResult, ...] = ()  # legged mode: one result per leg worked
    rollback: tuple[ExecutionResult, ...] = ()  # legged mode: closing orders

    @property
    def filled(self) -> bool:
        return self.outcome is ExecutionOutcome.FILLED
