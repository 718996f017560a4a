"""The price walk: where a limit order starts between mid and natural, how it steps, where it stops.

Prices follow the domain convention (``tradelib.domain.orders``): a signed net
price per unit, positive for a debit, negative for a credit, and a *higher*
price is always more aggressive (we pay more or accept less credit). So for
debits and credits alike the walk climbs from mid toward natural, never above
``bound`` (for an entry: minus the minimum credit), and tick rounding is
"down" (passive) on every step but the last, which is rounded "up" so that it
really is marketable.

Urgency picks the starting point: ``start_fraction`` 0 is mid, 1 is natural.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tradelib.config import ExecutionConfig
from tradelib.domain import Leg, Urgency
from tradelib.errors import ExecutionPlanError
from tradelib.pricing import TickRule, round_to_tick, tick_rule_for

# Where the first price sits between mid (0) and natural (1), by urgency.
URGENCY_START: Mapping[Urgency, float] = {
    Urgency.IMMEDIATE: 0.8,
    Urgency.HIGH: 0.4,
    Urgency.NORMAL: 0.0,
    Urgency.LOW: 0.0,
}
# Urgent orders also walk the rest of the way in fewer steps.
URGENCY_STEP_FACTOR: Mapping[Urgency, float] = {
    Urgency.IMMEDIATE: 0.4,
    Urgency.HIGH: 0.6,
    Urgency.NORMAL: 1.0,
    Urgency.LOW: 1.0,
}


@dataclass(frozen=True, slots=True)
class WalkSchedule:
    """How one order walks: start fraction, step count, step interval and timeout.

    Step ``k`` (0..steps) is priced at fraction ``start + (1 - start) * k / steps``
    of the way from mid to natural and goes out ``k * step_interval_s`` after the
    first order; after the last step the order rests until ``timeout_s``.
    """

    start_fraction: float
    steps: int
    step_interval_s: float
    timeout_s: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.start_fraction <= 1.0:
            raise ExecutionPlanError(
                plan="walk", problem=f"start_fraction must be in [0, 1], got {self.start_fraction}"
            )
        if self.steps < 1:
            raise ExecutionPlanError(plan="walk", problem=f"steps must be >= 1, got {self.steps}")
        if not (self.step_interval_s > 0 and self.timeout_s > 0):
            raise ExecutionPlanError(plan="walk", problem="interval and timeout must be > 0")

    @classmethod
    def from_config(
        cls,
        cfg: ExecutionConfig,
        urgency: Urgency = Urgency.NORMAL,
        *,
        start_fraction: float | None = None,
        steps: int | None = None,
    ) -> WalkSchedule:
        """The schedule for ``urgency`` (explicit ``start_fraction`` / ``steps`` win)."""
        start = URGENCY_START[urgency] if start_fraction is None else start_fraction
        n = steps or max(1, round(cfg.price_walk_steps * URGENCY_STEP_FACTOR[urgency]))
        return cls(start, n, cfg.step_interval_s, cfg.order_timeout_s)

    def fraction(self, step: int) -> float:
        """How far from mid toward natural step ``step`` is priced."""
        k = min(max(step, 0), self.steps)
        return self.start_fraction + (1.0 - self.start_fraction) * k / self.steps

    def step_at(self, elapsed_s: float) -> int:
        """The step in force ``elapsed_s`` seconds after the first order."""
        return min(self.steps, max(0, math.floor(elapsed_s / self.step_interval_s + 1e-9)))

    def next_change_s(self, elapsed_s: float) -> float:
        """Seconds after the first order at which the next step (or the timeout) comes."""
        step = self.step_at(elapsed_s)
        if step < self.steps:
            return min((step + 1) * self.step_interval_s, self.timeout_s)
        return self.timeout_s


def tick_rule_for_legs(legs: Sequence[Leg]) -> TickRule:
    """The coarsest tick rule among the legs' classes (valid for every leg)."""
    rules = [tick_rule_for(leg.contract.symbol) for leg in legs]
    return max(rules, key=lambda r: (r.small, r.large))


def step_price(mid: float, natural: float, fraction: float, bound: float, rule: TickRule) -> float:
    """The net limit for ``fraction`` of the way from ``mid`` to ``natural``, capped at ``bound``.

    Rounded passive ("down") below natural and marketable ("up") at natural;
    the cap is rounded down so the price never passes ``bound``.
    """
    if not (math.isfinite(mid) and math.isfinite(natural)):
        raise ExecutionPlanError(plan="walk", problem=f"mid {mid} / natural {natural} not finite")
    if natural < mid - 1e-9:
        raise ExecutionPlanError(
            plan="walk", problem=f"natural {natural:g} is better than mid {mid:g}"
        )
    target = mid + fraction * (natural - mid)
    final = fraction >= 1.0 - 1e-12
    price = float(round_to_tick(target, rule, "up" if final else "down"))
    if math.isfinite(bound):
        price = min(price, float(round_to_tick(bound, rule, "down")))
    return price


def planned_walk(
    mid: float, natural: float, bound: float, schedule: WalkSchedule, rule: TickRule
) -> tuple[float, ...]:
    """Every step's price if the market stood still (for display and tests)."""
    return tuple(
        step_price(mid, natural, schedule.fraction(k), bound, rule)
        for k in range(schedule.steps + 1)
    )
