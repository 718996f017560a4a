"""Reg-T style margin for the simulated account: a pure function over positions.

Rules (a deliberate simplification of IB's Reg-T for the strategies we trade):

* Options are grouped by (underlying, expiry). Short options are paired with
  long options of the same right into verticals, the best cover first (for a
  short put the highest long put strike, for a short call the lowest long call).
* Paired verticals are defined risk: at expiry only the put side or the call
  side can lose, so the requirement is ``max(put width loss, call width loss)
  - net credit received`` (never below 0). A single spread is thus
  ``(width - credit) x multiplier``, an iron condor the wider side's width
  minus the whole credit.
* Unpaired short options are naked: per contract ``max(20% x underlying - OTM
  amount, 10% x strike for puts / underlying for calls) x multiplier + the
  option's current value``. When an (underlying, expiry) has naked puts and
  naked calls (a strangle), only the larger side counts, plus the other
  side's current value.
* Long options need nothing beyond their premium (already paid).
* Stock: 50% of the absolute market value. Futures: 5% of notional (a
  stand-in for SPAN).
* Initial margin equals maintenance margin.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from tradelib.domain import Position, Right, SecType

STOCK_MARGIN_RATE = 0.50
FUTURE_MARGIN_RATE = 0.05
NAKED_UNDERLYING_RATE = 0.20
NAKED_MINIMUM_RATE = 0.10


@dataclass(frozen=True, slots=True)
class MarginBreakdown:
    """Maintenance margin in dollars, in total and per underlying symbol."""

    total: float
    by_underlying: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class _Lot:
    strike: float
    quantity: float  # absolute
    avg_cost: float  # per contract incl. multiplier
    mark: float  # per share
    multiplier: float


def _naked_requirement(lot: _Lot, right: Right, spot: float) -> float:
    if right is Right.PUT:
        otm = max(spot - lot.strike, 0.0)
        floor = NAKED_MINIMUM_RATE * lot.strike
    else:
        otm = max(lot.strike - spot, 0.0)
        floor = NAKED_MINIMUM_RATE * spot
    base = max(NAKED_UNDERLYING_RATE * spot - otm, floor)
    return lot.quantity * (base + _finite(lot.mark)) * lot.multiplier


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def _pair_side(
    shorts: list[_Lot], longs: list[_Lot], right: Right
) -> tuple[float, float, list[_Lot]]:
    """Pair shorts with covering longs; return (width loss, credit, unpaired shorts)."""
    # The best cover for a short put is the highest long strike; for a call the lowest.
    best_first = right is Right.PUT
    longs_sorted = sorted(longs, key=lambda lot: lot.strike, reverse=best_first)
    shorts_sorted = sorted(shorts, key=lambda lot: lot.strike, reverse=best_first)
    available = [lot.quantity for lot in longs_sorted]
    loss = credit = 0.0
    naked: list[_Lot] = []
    for short in shorts_sorted:
        left = short.quantity
        for i, cover in enumerate(longs_sorted):
            if left <= 0:
                break
            q = min(left, available[i])
            if q <= 0:
                continue
            available[i] -= q
            left -= q
            width = (
                short.strike - cover.strike if right is Right.PUT else cover.strike - short.strike
            )
            loss += q * max(width, 0.0) * short.multiplier
            credit += q * (short.avg_cost - cover.avg_cost)
        if left > 1e-9:
            naked.append(_Lot(short.strike, left, short.avg_cost, short.mark, short.multiplier))
    return loss, credit, naked


def _option_group_requirement(lots: Mapping[tuple[Right, bool], list[_Lot]], spot: float) -> float:
    spread_loss: dict[Right, float] = {}
    credit = 0.0
    naked: dict[Right, list[_Lot]] = {}
    for right in (Right.PUT, Right.CALL):
        loss, side_credit, unpaired = _pair_side(
            lots.get((right, True), []), lots.get((right, False), []), right
        )
        spread_loss[right] = loss
        credit += side_credit
        naked[right] = unpaired
    spreads = max(max(spread_loss.values()) - max(credit, 0.0), 0.0)

    put_req = sum(_naked_requirement(lot, Right.PUT, spot) for lot in naked[Right.PUT])
    call_req = sum(_naked_requirement(lot, Right.CALL, spot) for lot in naked[Right.CALL])
    if put_req > 0 and call_req > 0:
        put_value = sum(
            lot.quantity * _finite(lot.mark) * lot.multiplier for lot in naked[Right.PUT]
        )
        call_value = sum(
            lot.quantity * _finite(lot.mark) * lot.multiplier for lot in naked[Right.CALL]
        )
        naked_req = put_req + call_value if put_req >= call_req else call_req + put_value
    else:
        naked_req = put_req + call_req
    return spreads + naked_req


def margin_requirement(
    positions: Iterable[Position], underlying_prices: Mapping[str, float]
) -> MarginBreakdown:
    """Maintenance margin of ``positions``; option marks come from ``Position.market_price``.

    ``underlying_prices`` maps an underlying symbol to its spot; a naked short
    option whose underlying has no price is an error (ValueError naming it).
    """
    by_underlying: dict[str, float] = defaultdict(float)
    groups: dict[tuple[str, date], dict[tuple[Right, bool], list[_Lot]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for pos in positions:
        c = pos.contract
        if pos.quantity == 0:
            continue
        if c.sec_type is SecType.OPTION:
            assert c.expiry is not None and c.right is not None and c.strike is not None
            lot = _Lot(c.strike, abs(pos.quantity), pos.avg_cost, pos.market_price, c.multiplier)
            groups[(c.symbol, c.expiry)][(c.right, pos.quantity < 0)].append(lot)
        elif c.sec_type is SecType.STOCK:
            by_underlying[c.symbol] += STOCK_MARGIN_RATE * abs(_finite(pos.market_value))
        elif c.sec_type is SecType.FUTURE:
            by_underlying[c.symbol] += FUTURE_MARGIN_RATE * abs(_finite(pos.market_value))
    for (symbol, _expiry), lots in groups.items():
        has_shorts = any(is_short and group for (_r, is_short), group in lots.items())
        if not has_shorts:
            continue
        spot = underlying_prices.get(symbol, math.nan)
        if not math.isfinite(spot) or spot <= 0:
            raise ValueError(f"margin: no valid underlying price for {symbol} (got {spot})")
        by_underlying[symbol] += _option_group_requirement(lots, spot)
    clean = {k: round(v, 6) for k, v in by_underlying.items()}
    return MarginBreakdown(round(sum(clean.values()), 6), clean)
