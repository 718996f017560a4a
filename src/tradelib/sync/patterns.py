"""Recognise strategy shapes from held legs (pure).

``classify`` names the shape of one group of legs; ``group_by_pattern`` splits
legs opened by hand into groups: iron condors first, then verticals, then
strangles, else single legs (stock and futures always stand alone). Within an
(underlying, expiry) the pairing is greedy and deterministic: short strikes
nearest the money pair with the nearest wing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from tradelib.domain import Right, SecType, StrategyType
from tradelib.sync.model import QTY_EPS, HeldLeg, leg_sort_key


def _strike(leg: HeldLeg) -> float:
    assert leg.contract.strike is not None
    return leg.contract.strike


def _is_option(leg: HeldLeg, right: Right | None = None) -> bool:
    c = leg.contract
    return c.sec_type is SecType.OPTION and (right is None or c.right is right)


def _vertical(short: HeldLeg, long: HeldLeg) -> StrategyType:
    """Credit verticals by name; a debit vertical is CUSTOM (we never open one)."""
    if short.contract.right is Right.PUT:
        return (
            StrategyType.PUT_CREDIT_SPREAD
            if _strike(short) > _strike(long)
            else StrategyType.CUSTOM
        )
    return (
        StrategyType.CALL_CREDIT_SPREAD if _strike(short) < _strike(long) else StrategyType.CUSTOM
    )


def classify(legs: Sequence[HeldLeg]) -> StrategyType:
    """Name the shape of ``legs`` (signed quantities); CUSTOM when no pattern fits."""
    live = [leg for leg in legs if abs(leg.quantity) > QTY_EPS]
    if not live:
        return StrategyType.CUSTOM
    if all(leg.contract.sec_type is SecType.STOCK for leg in live):
        return StrategyType.STOCK
    if not all(_is_option(leg) for leg in live):
        return StrategyType.SINGLE_LEG if len(live) == 1 else StrategyType.CUSTOM
    if (
        len({leg.contract.expiry for leg in live}) != 1
        or len({abs(leg.quantity) for leg in live}) != 1
    ):
        return StrategyType.CUSTOM
    shorts = sorted((leg for leg in live if leg.quantity < 0), key=leg_sort_key)
    longs = sorted((leg for leg in live if leg.quantity > 0), key=leg_sort_key)
    if len(live) == 1:
        (leg,) = live
        if leg.quantity < 0:
            return (
                StrategyType.SHORT_PUT
                if leg.contract.right is Right.PUT
                else StrategyType.SHORT_CALL
            )
        return StrategyType.SINGLE_LEG
    if len(live) == 2 and len(shorts) == 1 and len(longs) == 1:
        if shorts[0].contract.right is longs[0].contract.right:
            return _vertical(shorts[0], longs[0])
        return StrategyType.CUSTOM
    if len(live) == 2 and len(shorts) == 2:
        put = next((leg for leg in shorts if leg.contract.right is Right.PUT), None)
        call = next((leg for leg in shorts if leg.contract.right is Right.CALL), None)
        if put is not None and call is not None and _strike(put) <= _strike(call):
            return StrategyType.SHORT_STRANGLE
        return StrategyType.CUSTOM
    if len(live) == 4 and len(shorts) == 2:
        by_right = {r: [leg for leg in live if leg.contract.right is r] for r in Right}
        if all(len(v) == 2 for v in by_right.values()):
            put_type = _vertical(*_short_long(by_right[Right.PUT]))
            call_type = _vertical(*_short_long(by_right[Right.CALL]))
            sp, _ = _short_long(by_right[Right.PUT])
            sc, _ = _short_long(by_right[Right.CALL])
            if (
                put_type is StrategyType.PUT_CREDIT_SPREAD
                and call_type is StrategyType.CALL_CREDIT_SPREAD
                and _strike(sp) < _strike(sc)
            ):
                return StrategyType.IRON_CONDOR
    return StrategyType.CUSTOM


def _short_long(pair: Sequence[HeldLeg]) -> tuple[HeldLeg, HeldLeg]:
    a, b = pair
    return (a, b) if a.quantity < 0 else (b, a)


@dataclass(frozen=True, slots=True)
class LegGroup:
    """Legs grouped by pattern, with the shape they form."""

    strategy_type: StrategyType
    underlying: str
    legs: tuple[HeldLeg, ...]


class _Pool:
    """Remaining signed quantity per con_id, taken from as groups form."""

    def __init__(self, legs: Sequence[HeldLeg]) -> None:
        self.legs = {leg.con_id: leg for leg in legs}
        self.left = {leg.con_id: leg.quantity for leg in legs}

    def live(self, right: Right, short: bool) -> list[HeldLeg]:
        return [
            self.legs[cid]
            for cid, q in self.left.items()
            if abs(q) > QTY_EPS and (q < 0) == short and self.legs[cid].contract.right is right
        ]

    def size(self, leg: HeldLeg) -> float:
        return abs(self.left[leg.con_id])

    def take(self, legs: Sequence[HeldLeg], size: float) -> tuple[HeldLeg, ...]:
        out = []
        for leg in legs:
            sign = 1.0 if self.left[leg.con_id] > 0 else -1.0
            self.left[leg.con_id] -= sign * size
            out.append(replace(leg, quantity=sign * size))
        return tuple(sorted(out, key=leg_sort_key))


def _near_money_first(legs: list[HeldLeg], right: Right) -> list[HeldLeg]:
    # Short puts: highest strike first; short calls: lowest first (nearest the money).
    return sorted(
        legs, key=lambda leg: (-_strike(leg) if right is Right.PUT else _strike(leg), leg.con_id)
    )


def _wing(pool: _Pool, short: HeldLeg) -> HeldLeg | None:
    """The nearest long of the same right on the credit side of ``short``."""
    right = short.contract.right
    assert right is not None
    k = _strike(short)
    wings = [
        leg
        for leg in pool.live(right, short=False)
        if (_strike(leg) < k if right is Right.PUT else _strike(leg) > k)
    ]
    return min(wings, key=lambda leg: (abs(_strike(leg) - k), leg.con_id), default=None)


def _group_expiry(underlying: str, legs: Sequence[HeldLeg]) -> list[LegGroup]:
    pool = _Pool(legs)
    groups: list[LegGroup] = []

    def emit(kind: StrategyType, members: Sequence[HeldLeg]) -> None:
        size = min(pool.size(leg) for leg in members)
        groups.append(LegGroup(kind, underlying, pool.take(members, size)))

    # Iron condors: a put credit spread and a call credit spread above it.
    while True:
        found = None
        for sp in _near_money_first(pool.live(Right.PUT, short=True), Right.PUT):
            lp = _wing(pool, sp)
            sc = next(
                (
                    leg
                    for leg in _near_money_first(pool.live(Right.CALL, short=True), Right.CALL)
                    if _strike(leg) > _strike(sp) and _wing(pool, leg) is not None
                ),
                None,
            )
            if lp is not None and sc is not None:
                lc = _wing(pool, sc)
                assert lc is not None
                found = (sp, lp, sc, lc)
                break
        if found is None:
            break
        emit(StrategyType.IRON_CONDOR, found)
    # Credit verticals.
    for right, kind in (
        (Right.PUT, StrategyType.PUT_CREDIT_SPREAD),
        (Right.CALL, StrategyType.CALL_CREDIT_SPREAD),
    ):
        while True:
            pair = next(
                (
                    (s, w)
                    for s in _near_money_first(pool.live(right, short=True), right)
                    if (w := _wing(pool, s)) is not None
                ),
                None,
            )
            if pair is None:
                break
            emit(kind, pair)
    # Strangles: the short put nearest the money with the short call nearest the money above it.
    while True:
        short_put = next(iter(_near_money_first(pool.live(Right.PUT, short=True), Right.PUT)), None)
        short_call = next(
            (
                leg
                for leg in _near_money_first(pool.live(Right.CALL, short=True), Right.CALL)
                if short_put is not None and _strike(leg) >= _strike(short_put)
            ),
            None,
        )
        if short_put is None or short_call is None:
            break
        emit(StrategyType.SHORT_STRANGLE, (short_put, short_call))
    # Whatever is left stands alone.
    for cid in sorted(pool.left):
        if abs(pool.left[cid]) > QTY_EPS:
            leg = replace(pool.legs[cid], quantity=pool.left[cid])
            groups.append(LegGroup(classify([leg]), underlying, (leg,)))
    return groups


def group_by_pattern(legs: Sequence[HeldLeg]) -> list[LegGroup]:
    """Split hand-opened ``legs`` into strategies by shape (deterministic order)."""
    by_expiry: dict[tuple[str, date], list[HeldLeg]] = defaultdict(list)
    groups: list[LegGroup] = []
    for leg in sorted(legs, key=leg_sort_key):
        c = leg.contract
        if abs(leg.quantity) <= QTY_EPS:
            continue
        if c.sec_type is SecType.OPTION:
            assert c.expiry is not None
            by_expiry[(c.symbol, c.expiry)].append(leg)
        else:
            groups.append(LegGroup(classify([leg]), c.symbol, (leg,)))
    for (underlying, _), members in sorted(by_expiry.items()):
        groups.extend(_group_expiry(underlying, members))
    return groups
