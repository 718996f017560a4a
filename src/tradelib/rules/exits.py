"""The pure maths of an exit: which legs close or roll a strategy, and at what price bound.

The monitoring cycle decides with the rules engine and acts with the executor;
what lies between (the legs of a close or a roll, the most an exit may pay, how
much a reduce closes) is here, pure, and tested on its own. ``ExitOrder`` is
what an acting decision asks of the executor, recorded with the decision's
inputs so a re-run at the same time acts on exactly what was decided.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from tradelib.domain import Contract, Decision, Leg, Quote, SecType, Strategy
from tradelib.domain.decisions import InputValue

_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class ExitOrder:
    """What an acting decision asks for: a price bound, or why no order goes out.

    Stored in the decision's inputs (``order_bound``, ``skip_reason``,
    ``roll_expiry``) and read back from them by ``ExitOrder.of``.
    """

    bound: float | None = None  # the most the exit pays per unit (signed net price)
    skip_reason: str = ""  # non-empty: no order, and why
    roll_expiry: date | None = None  # a roll: the expiry it rolls to

    def inputs(self) -> dict[str, InputValue]:
        """The decision inputs that record this order."""
        if self.skip_reason:
            return {"skip_reason": self.skip_reason}
        out: dict[str, InputValue] = {"order_bound": self.bound}
        if self.roll_expiry is not None:
            out["roll_expiry"] = self.roll_expiry.isoformat()
        return out

    @classmethod
    def of(cls, decision: Decision) -> ExitOrder:
        """The order ``decision`` recorded (a bound that is not a finite number counts as none)."""
        inputs = decision.inputs
        skip = inputs.get("skip_reason")
        if skip:
            return cls(skip_reason=str(skip))
        bound = inputs.get("order_bound")
        value: float | None = None
        if isinstance(bound, int | float) and not isinstance(bound, bool) and math.isfinite(bound):
            value = float(bound)
        expiry = inputs.get("roll_expiry")
        return cls(value, roll_expiry=date.fromisoformat(str(expiry)) if expiry else None)


def closing_legs(strategy: Strategy) -> tuple[Leg, ...]:
    """The legs that close ``strategy``: every held ratio reversed."""
    return tuple(Leg(leg.contract, -leg.ratio) for leg in strategy.legs)


def exit_bound(natural: float, tolerance_pct: float, min_tolerance: float) -> float:
    """The most an exit may pay per unit: its natural debit plus the larger slack."""
    return natural + max(abs(natural) * tolerance_pct, min_tolerance)


def reduce_units(units: int, fraction: float) -> int:
    """How many of ``units`` a reduce closes: ``fraction`` of them, at least one."""
    return max(1, min(units, math.floor(units * fraction + _EPS)))


def roll_expiry(
    expiries: Iterable[date], current: date, today: date, dte_min: int, dte_max: int
) -> date | None:
    """The listed expiry to roll to: later than ``current``, inside the entry DTE window,
    nearest its middle (None when no expiry qualifies)."""
    middle = (dte_min + dte_max) / 2.0
    inside = [e for e in expiries if e > current and dte_min <= (e - today).days <= dte_max]
    return min(inside, key=lambda e: (abs((e - today).days - middle), e), default=None)


def rolled_legs(strategy: Strategy, expiry: date) -> tuple[Leg, ...] | None:
    """``strategy``'s option legs at ``expiry`` (same strikes, rights, ratios); None if it
    holds anything but options of one expiry."""
    legs = strategy.legs
    if any(leg.contract.sec_type is not SecType.OPTION for leg in legs):
        return None
    if len({leg.contract.expiry for leg in legs}) != 1:
        return None
    out = []
    for leg in legs:
        c = leg.contract
        assert c.strike is not None and c.right is not None
        new = Contract.option(
            c.symbol,
            expiry,
            c.strike,
            c.right,
            multiplier=c.multiplier,
            trading_class=c.trading_class,
        )
        out.append(Leg(new, leg.ratio))
    return tuple(out)


def short_leg_iv(strategy: Strategy, quotes: Mapping[str, Quote]) -> float | None:
    """Mean IV of the short option legs in ``quotes`` (None without any)."""
    ivs = []
    for leg in strategy.legs:
        q = quotes.get(leg.contract.key)
        if not leg.is_short or q is None or q.greeks is None:
            continue
        iv = q.greeks.iv
        if math.isfinite(iv) and iv > 0:
            ivs.append(iv)
    return sum(ivs) / len(ivs) if ivs else None
