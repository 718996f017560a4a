"""A strategy's P&L and "% of max profit", defined once.

The rules engine's take-profit rules act on ``profit_fraction``; everything that
shows a "% of max" (dashboards, the daily report) must show the same number, so
it is computed here from the strategy's own legs and credit, not from the
broker's per-contract unrealized P&L (a contract shared by two strategies, a
roll's net credit or commissions in the average cost would make those differ).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any


def strategy_pnl(
    credit: float | None,
    units: float,
    multiplier: float,
    legs: Iterable[tuple[float, float | None]],
) -> float | None:
    """Return the strategy's open P&L in dollars, or None when any leg's mark is unknown.

    ``credit`` is per share per unit (negative for a debit); ``legs`` are
    ``(signed quantity held by this strategy, mark per share)``.
    """
    if credit is None or not math.isfinite(credit):
        return None
    value = 0.0
    for quantity, mark in legs:
        if mark is None or not math.isfinite(mark):
            return None
        value += quantity * mark
    return (credit * units + value) * multiplier


def profit_fraction(pnl: float | None, max_profit: float | None) -> float | None:
    """Return P&L as a fraction of max profit (the take-profit rules' measure), None if unknowable.

    Both in the same unit (dollars, or per share per unit): the ratio is the same.
    """
    if pnl is None or max_profit is None or not math.isfinite(pnl):
        return None
    if not math.isfinite(max_profit) or max_profit <= 0:
        return None
    return pnl / max_profit


def realized_pnl(
    fills: Iterable[Mapping[str, Any]], multipliers: Mapping[int, float], default_multiplier: float
) -> float:
    """Cash in minus cash out over ``fills`` (``executions`` rows as mappings), less commissions, in dollars.

    Summed over every fill of a strategy's orders (open, rolls, reduces, close)
    this is (credits received - debits paid) x multiplier x quantity - commissions.
    """
    total = 0.0
    for row in fills:
        sign = 1.0 if row["side"] == "SLD" else -1.0
        mult = multipliers.get(int(row["con_id"]), default_multiplier)
        commission = row["commission"]
        fee = float(commission) if commission is not None and math.isfinite(commission) else 0.0
        total += sign * float(row["quantity"]) * float(row["price"]) * mult - fee
    return total
