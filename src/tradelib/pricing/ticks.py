"""Minimum price increments of US equity options and rounding prices onto them.

Direction semantics (``round_to_tick``): ``"up"`` rounds toward +infinity and
``"down"`` toward -infinity, on signed prices. IB combo (BAG) limit prices are
signed (negative = net credit) and for a BUY a higher limit is always more
aggressive, for a SELL a lower one, whatever the sign. So:

* a buyer stays passive with ``"down"`` and is marketable with ``"up"``;
* a seller stays passive with ``"up"`` and is marketable with ``"down"``.

``passive_direction`` / ``aggressive_direction`` return that for a side. The tick
size itself depends on the price's magnitude (a -3.20 credit uses the >= $3 tick).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from tradelib.errors import PricingInputError

Direction = Literal["nearest", "up", "down"]
Side = Literal["BUY", "SELL"]

# Prices within this many ticks of a grid point are treated as on it: 2.05 is
# stored as 2.04999999999999982 and must neither round down to 2.00 nor up to 2.10.
_GRID_TOL = 1e-6
# Price tolerance for the $3 threshold itself (3.00 computed as 2.9999999999999996).
_THRESHOLD_TOL = 1e-9
# Output prices are re-rounded to this many decimals so 41 * 0.05 prints as 2.05.
_DECIMALS = 10

PENNY_PILOT_SYMBOLS: frozenset[str] = frozenset(
    {"AAPL", "AMD", "AMZN", "BAC", "C", "DIA", "EEM", "F", "GLD", "GOOGL", "INTC", "META",
     "MSFT", "NFLX", "NVDA", "SLV", "TLT", "TSLA", "XLE", "XLF"}
)  # fmt: skip
"""A few Penny Interval Program classes; pass your own set for the full, current list."""

ALL_PENNY_SYMBOLS: frozenset[str] = frozenset({"SPY", "QQQ", "IWM"})
"""Classes quoted in $0.01 at every price."""


@dataclass(frozen=True, slots=True)
class TickRule:
    """Minimum tick ``small`` below ``threshold`` (by magnitude), ``large`` at or above it."""

    name: str
    small: float
    large: float
    threshold: float = 3.0

    def __post_init__(self) -> None:
        for field, value in (("small", self.small), ("large", self.large)):
            if not (np.isfinite(value) and value > 0):
                raise PricingInputError(
                    name=f"TickRule.{field}", problem=f"must be > 0, got {value}"
                )
        if not (self.threshold >= 0):
            raise PricingInputError(
                name="TickRule.threshold", problem=f"must be >= 0, got {self.threshold}"
            )

    @classmethod
    def penny_pilot(cls) -> TickRule:
        """$0.01 below $3.00, $0.05 at or above."""
        return cls("penny_pilot", 0.01, 0.05, 3.0)

    @classmethod
    def non_pilot(cls) -> TickRule:
        """$0.05 below $3.00, $0.10 at or above."""
        return cls("non_pilot", 0.05, 0.10, 3.0)

    @classmethod
    def all_penny(cls) -> TickRule:
        """$0.01 at every price (SPY, QQQ, IWM)."""
        return cls("all_penny", 0.01, 0.01, 3.0)

    @classmethod
    def fixed(cls, min_tick: float) -> TickRule:
        """One explicit minimum tick at every price (a contract's own, e.g. futures options)."""
        return cls(f"fixed_{min_tick:g}", min_tick, min_tick, 0.0)


def tick_rule_for(
    symbol: str,
    min_tick: float | None = None,
    *,
    penny_pilot: frozenset[str] = PENNY_PILOT_SYMBOLS,
    all_penny: frozenset[str] = ALL_PENNY_SYMBOLS,
) -> TickRule:
    """Return the tick rule of an option class.

    An explicit ``min_tick`` (the contract's own, from contract details) wins.
    Unknown symbols get the non-pilot rule: its coarser grid is valid on every class.
    """
    if min_tick is not None:
        return TickRule.fixed(min_tick)
    key = symbol.strip().upper()
    if not key:
        raise PricingInputError(name="symbol", problem="empty symbol")
    if key in all_penny:
        return TickRule.all_penny()
    if key in penny_pilot:
        return TickRule.penny_pilot()
    return TickRule.non_pilot()


def passive_direction(side: Side) -> Literal["up", "down"]:
    """Return the rounding direction that keeps an order of ``side`` passive."""
    return "down" if _side(side) == "BUY" else "up"


def aggressive_direction(side: Side) -> Literal["up", "down"]:
    """Return the rounding direction that makes an order of ``side`` marketable."""
    return "up" if _side(side) == "BUY" else "down"


def _side(side: str) -> str:
    s = side.upper()
    if s not in ("BUY", "SELL"):
        raise PricingInputError(name="side", problem=f"expected 'BUY' or 'SELL', got {side!r}")
    return s


def tick_size(price: npt.ArrayLike, rule: TickRule) -> npt.NDArray[np.float64]:
    """Return the minimum tick at each price (by magnitude, so credits work too)."""
    p = _prices(price)
    above = np.abs(p) >= rule.threshold - _THRESHOLD_TOL
    return np.where(above, rule.large, rule.small)


def round_to_tick(
    price: npt.ArrayLike, rule: TickRule, direction: Direction = "nearest"
) -> npt.NDArray[np.float64]:
    """Round signed prices onto the tick grid; see the module doc for directions.

    ``"nearest"`` breaks exact ties away from zero. NaN stays NaN; inf (or a
    price too large to round) gives NaN.
    """
    if direction not in ("nearest", "up", "down"):
        raise PricingInputError(
            name="direction", problem=f"expected 'nearest', 'up' or 'down', got {direction!r}"
        )
    p = _prices(price)
    with np.errstate(all="ignore"):  # inf / huge prices: NaN out, no warnings
        return _round(p, rule, direction)


def _round(
    p: npt.NDArray[np.float64], rule: TickRule, direction: Direction
) -> npt.NDArray[np.float64]:
    tick = tick_size(p, rule)
    steps = p / tick
    snapped = np.rint(steps)
    on_grid = np.abs(steps - snapped) <= _GRID_TOL
    if direction == "up":
        n = np.ceil(steps)
    elif direction == "down":
        n = np.floor(steps)
    else:
        # Half away from zero; a tie within tolerance counts as a tie.
        n = np.sign(steps) * np.floor(np.abs(steps) + 0.5 + _GRID_TOL)
    n = np.where(on_grid, snapped, n)
    out = np.round(n * tick, _DECIMALS)
    # Rounding up from 2.99 with $0.01 ticks can give 3.00, which is on the
    # $0.05 grid as well, so one pass is always a valid price.
    # An infinite or overflowing price has no tick: NaN, never inf.
    return np.where(np.isfinite(out), out, np.nan) + 0.0  # + 0.0 normalises -0.0


def _prices(price: npt.ArrayLike) -> npt.NDArray[np.float64]:
    try:
        return np.asarray(price, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PricingInputError(name="price", problem=f"not numeric ({exc})") from None
