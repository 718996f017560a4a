"""What an entry really earns, and which entries crowd the book: pure helpers of the selector.

**Costs.** A candidate's expected value is priced at mid; an entry fills
between mid and natural and pays commissions on the way in and the way out.
``EntryCosts`` models both from ``StrategiesConfig``:

* slippage = ``slippage_fraction`` x (credit at mid - credit at natural), per
  share. The executor starts an entry at mid and walks toward natural in
  ``execution.price_walk_steps`` steps; the simulated broker fills a resting
  order with a hazard growing with the square of its distance past mid, so a
  walk fills about 0.6 of the way on average (the default).
* commissions = IB-like ``commission_per_contract`` per option contract with
  ``commission_min_per_order`` per order (``broker.sim_fills.CommissionSchedule``
  charges $0.65 and $1.00), for the opening and the closing order: every entry
  (30-45 DTE) is closed before expiry by the DTE exit or a take profit.

**Near-duplicates.** Two strategies of the same underlying, type and expiry
whose short strikes (put to put, call to call) are each within
``near_duplicate_strikes`` listed strikes of each other carry the same risk;
``StrategyShape`` and ``strikes_apart`` tell them apart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date

import numpy as np

from tradelib.config import StrategiesConfig
from tradelib.domain import Leg, Right, Strategy, StrategyType
from tradelib.entry.chain import FloatArray


@dataclass(frozen=True, slots=True)
class EntryCosts:
    """Slippage and commissions of one strategy unit, entered ``quantity`` units at a time."""

    slippage_fraction: float = 0.6
    commission_per_contract: float = 0.65
    commission_min_per_order: float = 1.00
    quantity: int = 1

    @classmethod
    def from_config(cls, cfg: StrategiesConfig) -> EntryCosts:
        """Costs as ``cfg`` (the ``strategies`` section) models them."""
        return cls(
            cfg.slippage_fraction,
            cfg.commission_per_contract,
            cfg.commission_min_per_order,
            cfg.entry_quantity,
        )

    def slippage(self, credit_mid: float, credit_natural: float) -> float:
        """Credit per share given up between mid and the modelled fill (>= 0)."""
        half = credit_mid - credit_natural
        return self.slippage_fraction * half if math.isfinite(half) and half > 0 else 0.0

    def commissions(self, legs: tuple[Leg, ...]) -> float:
        """Dollars per strategy unit for the opening and the closing order."""
        contracts = sum(abs(leg.ratio) for leg in legs) * self.quantity
        per_order = max(contracts * self.commission_per_contract, self.commission_min_per_order)
        return 2.0 * per_order / self.quantity


@dataclass(frozen=True, slots=True)
class StrategyShape:
    """What makes two strategies near-identical: underlying, type, expiry and short strikes."""

    underlying: str
    strategy: StrategyType
    expiry: date | None
    shorts: tuple[tuple[Right, float], ...]  # (right, strike) of each short leg, sorted
    label: str  # how a reason names it ("open S-123", "candidate ranked 2")
    legs: frozenset[tuple[str, int]] = frozenset()  # (contract key, ratio): the same trade
    entered: bool = False  # an open strategy (not a candidate of this run)

    def is_entry_of(self, candidate: StrategyShape) -> bool:
        """True when this open strategy *is* ``candidate``, entered earlier (a re-run)."""
        return self.entered and self.legs == candidate.legs

    @classmethod
    def of(
        cls, underlying: str, strategy: StrategyType, legs: tuple[Leg, ...], label: str
    ) -> StrategyShape:
        """The shape of ``legs`` (option legs; a short leg has a negative ratio)."""
        expiries = [leg.contract.expiry for leg in legs if leg.contract.expiry is not None]
        shorts = sorted(
            (leg.contract.right, float(leg.contract.strike))
            for leg in legs
            if leg.ratio < 0 and leg.contract.right is not None and leg.contract.strike is not None
        )
        return cls(
            underlying,
            strategy,
            min(expiries) if expiries else None,
            tuple(shorts),
            label,
            frozenset((leg.contract.key, leg.ratio) for leg in legs),
        )

    @classmethod
    def of_strategy(cls, strategy: Strategy) -> StrategyShape:
        """The shape of an open strategy."""
        shape = cls.of(
            strategy.underlying,
            strategy.strategy_type,
            strategy.legs,
            f"open {strategy.strategy_id}",
        )
        return replace(shape, entered=True)

    def describe_shorts(self) -> str:
        return "/".join(f"{k:g}{right.value}" for right, k in self.shorts) or "no short leg"


def strikes_apart(
    a: StrategyShape,
    b: StrategyShape,
    listed: Mapping[Right, FloatArray],
    expiry_days: int = 0,
) -> int | None:
    """Listed strikes between ``a``'s and ``b``'s farthest-apart matching short legs.

    None when they are not comparable (different underlying, type, short legs, or
    expiries more than ``expiry_days`` apart). ``listed`` holds the sorted listed
    strikes per right of ``a``'s expiry; a strike not listed counts from where it
    would sit.
    """
    if (a.underlying, a.strategy) != (b.underlying, b.strategy):
        return None
    if a.expiry != b.expiry and (
        a.expiry is None or b.expiry is None or abs((a.expiry - b.expiry).days) > expiry_days
    ):
        return None
    if not a.shorts or [r for r, _ in a.shorts] != [r for r, _ in b.shorts]:
        return None
    worst = 0
    for (right, ka), (_, kb) in zip(a.shorts, b.shorts, strict=True):
        grid = listed.get(right)
        if grid is None or grid.size == 0:
            return None
        ia = int(np.searchsorted(grid, ka - 1e-9))
        ib = int(np.searchsorted(grid, kb - 1e-9))
        worst = max(worst, abs(ia - ib))
    return worst
