"""``StrategyRegistry``: which legs belong to which strategy (pure; the lake adapter is
``tradelib.sync.store``).

One ``update`` takes the strategies the lake holds open, the broker's
positions and the fills seen since the last sync, and returns the new state:

1. Every open strategy claims, per contract, what the lake's book says it holds
   (entry and monitoring keep it current as they trade), capped by what the
   broker still holds (oldest strategy first; the broker is the truth): a leg
   reduced by our orders or by hand is a partial close.
2. Strategies that appear only in our new fills (``orderRef``
   ``tl:<strategy_id>:...``, not yet accounted for by a sync) are new, not
   inferred. A new strategy whose fills close legs of an older one was rolled
   from it: the two are linked and the older one closes as ``rolled``. What is
   left of a contract our new fills traded goes to the strategy that traded it
   (a roll under one id, or added units, the book has not caught up with).
3. Stock that appears in an underlying where option legs expired this sync came
   from assignment/exercise: it becomes its own strategy linked to the one it
   came from, which closes as ``assigned``.
4. Quantity added by hand to a contract a strategy already holds joins that
   strategy (the reconciliation records the mismatch).
5. Anything left was opened by hand: grouped by pattern (iron condors,
   verticals, strangles, else single legs), ``inferred=True``.

A strategy left holding nothing closes: ``expired`` when its vanished legs
were options past their expiry close, ``rolled``/``closed`` when our orders
explain it, else ``closed_outside``.

Credit is the net premium per share per unit: from our executions (opening
and roll fills) when known, else from the broker's average cost.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import reduce

from tradelib.domain import (
    Fill,
    OrderPurpose,
    Position,
    SecType,
    Strategy,
    StrategyType,
    parse_order_ref,
)
from tradelib.domain.time import ensure_utc
from tradelib.marketdata.slots import Admission, MarketDataSlotManager
from tradelib.sync.model import (
    QTY_EPS,
    CloseReason,
    HeldLeg,
    StrategyRecord,
    StrategyStatus,
    leg_sort_key,
    units_of,
)
from tradelib.sync.patterns import classify, group_by_pattern

_OPENING = (OrderPurpose.OPEN, OrderPurpose.ROLL)


@dataclass(frozen=True, slots=True)
class FillFact:
    """What the registry needs of one execution (from the broker or the lake)."""

    exec_id: str
    order_ref: str | None
    con_id: int
    quantity: float  # signed: + bought, - sold
    price: float
    ts: datetime

    @classmethod
    def of(cls, fill: Fill) -> FillFact:
        assert fill.contract.con_id is not None, f"fill {fill.exec_id} has no con_id"
        return cls(
            fill.exec_id,
            fill.order_ref or None,
            fill.contract.con_id,
            fill.quantity,
            fill.price,
            fill.ts,
        )

    @property
    def strategy_id(self) -> str | None:
        parsed = parse_order_ref(self.order_ref)
        return None if parsed is None else parsed.strategy_id

    @property
    def purpose(self) -> OrderPurpose | None:
        parsed = parse_order_ref(self.order_ref)
        return None if parsed is None else parsed.purpose


@dataclass(frozen=True, slots=True)
class Assignment:
    """Option legs of ``parent_id`` expired in the money and left stock (``stock_strategy_id``)."""

    parent_id: str
    stock_strategy_id: str
    underlying: str
    shares: float


@dataclass(frozen=True, slots=True)
class RegistryUpdate:
    """The registry after one sync: what changed, what is open, who holds what."""

    changed: tuple[StrategyRecord, ...]  # new, updated or closed records (write these)
    open: tuple[StrategyRecord, ...]  # every open strategy after the update
    strategy_of: Mapping[int, str]  # con_id -> the (first) strategy holding it
    assignments: tuple[Assignment, ...] = ()

    @property
    def closed(self) -> tuple[StrategyRecord, ...]:
        return tuple(r for r in self.changed if r.status is StrategyStatus.CLOSED)


def credit_from_fills(fills: Iterable[FillFact]) -> float | None:
    """Net premium per share per unit from a strategy's opening and roll fills (None if none)."""
    opening = [f for f in fills if f.purpose in _OPENING]
    if not opening:
        return None
    premium = -sum(f.quantity * f.price for f in opening)
    opens = [f for f in opening if f.purpose is OrderPurpose.OPEN] or opening
    net: dict[int, float] = defaultdict(float)
    for f in opens:
        net[f.con_id] += f.quantity
    sizes = [round(abs(q)) for q in net.values() if abs(q) > QTY_EPS]
    units = max(reduce(math.gcd, sizes, 0), 1)
    return round(premium / units, 6)


def credit_from_cost(legs: Sequence[HeldLeg], avg_cost: Mapping[int, float]) -> float | None:
    """Net premium per share per unit implied by the broker's average costs (None if unknown)."""
    total = 0.0
    for leg in legs:
        cost = avg_cost.get(leg.con_id)
        if cost is None:
            return None
        total -= leg.quantity * cost / leg.contract.multiplier
    return round(total / units_of(legs), 6)


def _safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", text)


def inferred_id(underlying: str, legs: Sequence[HeldLeg], now: datetime) -> str:
    """A deterministic id for a group of hand-opened legs first seen on ``now``'s date."""
    body = ",".join(f"{leg.con_id}:{leg.quantity:g}" for leg in sorted(legs, key=leg_sort_key))
    digest = hashlib.sha1(f"{now:%Y%m%d}|{body}".encode()).hexdigest()[:10]
    return f"inf-{_safe_id(underlying)}-{digest}"


class StrategyRegistry:
    """Groups broker positions into strategies and keeps them across syncs (pure)."""

    def update(
        self,
        book: Sequence[StrategyRecord],
        positions: Sequence[Position],
        new_fills: Sequence[FillFact],
        now: datetime,
        expired_through: date,
        past_fills: Sequence[FillFact] = (),
    ) -> RegistryUpdate:
        """Reconcile ``book`` (open strategies) with the broker; see the module doc.

        ``new_fills`` are fills not seen by an earlier sync; ``past_fills`` are
        our earlier fills of the strategies those touch (for their credit).
        ``expired_through`` is the last day whose session close has passed.
        """
        now = ensure_utc(now, "now")
        contracts = {
            p.contract.con_id: p.contract for p in positions if p.contract.con_id is not None
        }
        avg_cost = {cid: p.avg_cost for p in positions if (cid := p.contract.con_id) is not None}
        remaining: dict[int, float] = defaultdict(float)
        for p in positions:
            if p.contract.con_id is not None and abs(p.quantity) > QTY_EPS:
                remaining[p.contract.con_id] += p.quantity

        ours: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        first_fill: dict[str, datetime] = {}
        fills_of: dict[str, list[FillFact]] = defaultdict(list)
        for f in sorted(new_fills, key=lambda f: (f.ts, f.exec_id)):
            sid = f.strategy_id
            if sid is None:
                continue
            ours[sid][f.con_id] += f.quantity
            first_fill.setdefault(sid, f.ts)
            fills_of[sid].append(f)
        for f in past_fills:
            sid = f.strategy_id
            if (
                sid is not None
                and sid in fills_of
                and f.exec_id not in {x.exec_id for x in fills_of[sid]}
            ):
                fills_of[sid].append(f)

        def claim(targets: Mapping[int, float]) -> list[HeldLeg]:
            held = []
            for cid in sorted(targets):
                want, have = targets[cid], remaining.get(cid, 0.0)
                if abs(want) <= QTY_EPS or want * have <= 0 or cid not in contracts:
                    continue
                take = min(abs(want), abs(have)) * (1.0 if have > 0 else -1.0)
                remaining[cid] = have - take
                held.append(HeldLeg(contracts[cid], take))
            return sorted(held, key=leg_sort_key)

        # 1. The lake's book claims first: entry and monitoring keep their strategies' legs
        #    up to date as they trade, so the book (not the fills) says what each holds.
        previous = sorted(book, key=lambda r: (r.inferred, r.opened_at, r.strategy_id))
        by_id = {r.strategy_id: r for r in previous}
        holdings: dict[str, list[HeldLeg]] = {}
        for rec in previous:
            targets: dict[int, float] = defaultdict(float)
            for leg in rec.legs:
                targets[leg.con_id] += leg.quantity
            holdings[rec.strategy_id] = claim(targets)

        # 2. Strategies of ours seen for the first time (in fills only).
        new_ours = sorted(
            (sid for sid in ours if sid not in by_id), key=lambda s: (first_fill[s], s)
        )
        links: dict[str, str] = {}
        for sid in new_ours:
            holdings[sid] = claim(ours[sid])
            parent = next(
                (
                    r.strategy_id
                    for r in previous
                    if any(r.quantity_of(cid) * q < 0 for cid, q in ours[sid].items())
                ),
                None,
            )
            if parent is not None:
                links[sid] = parent

        # 3. What is left of a contract our new fills traded goes to the strategy that traded
        #    it: legs opened by a roll under the same id, or units added, that the book has
        #    not caught up with.
        by_first_fill = sorted(ours, key=lambda s: (first_fill[s], s))
        for cid in sorted(remaining):
            for sid in by_first_fill:
                left, traded = remaining[cid], ours[sid].get(cid, 0.0)
                if abs(left) <= QTY_EPS or traded * left <= 0:
                    continue
                take = min(abs(traded), abs(left)) * (1.0 if left > 0 else -1.0)
                remaining[cid] = left - take
                held = holdings[sid]
                idx = next((i for i, g in enumerate(held) if g.con_id == cid), None)
                if idx is None:
                    held.append(HeldLeg(contracts[cid], take))
                else:
                    held[idx] = replace(held[idx], quantity=held[idx].quantity + take)
                held.sort(key=leg_sort_key)

        # Option legs that vanished at their expiry, per underlying -> strategy ids.
        expired_from: dict[str, list[str]] = defaultdict(list)
        for rec in previous:
            kept = {leg.con_id for leg in holdings[rec.strategy_id]}
            gone = [leg for leg in rec.legs if leg.con_id not in kept]
            if any(_expired(leg, expired_through) for leg in gone):
                expired_from[rec.underlying].append(rec.strategy_id)

        # Stock appearing where option legs just expired came from assignment/exercise.
        assignments: list[Assignment] = []
        new_records: list[StrategyRecord] = []
        for cid in sorted(remaining):
            left, c = remaining[cid], contracts[cid]
            parents = expired_from.get(c.symbol, [])
            if abs(left) <= QTY_EPS or c.sec_type is not SecType.STOCK or not parents:
                continue
            parent = parents[0]
            sid = f"{parent}-assigned"
            leg = HeldLeg(c, left)
            remaining[cid] = 0.0
            assignments.append(Assignment(parent, sid, c.symbol, left))
            new_records.append(
                StrategyRecord(
                    strategy_id=sid,
                    strategy_type=StrategyType.STOCK,
                    underlying=c.symbol,
                    legs=(leg,),
                    opened_at=now,
                    updated_at=now,
                    credit=credit_from_cost([leg], avg_cost),
                    inferred=True,
                    linked_strategy_id=parent,
                )
            )

        # Quantity added by hand to a contract a strategy already holds joins it.
        for cid in sorted(remaining):
            left = remaining[cid]
            if abs(left) <= QTY_EPS:
                continue
            for held in holdings.values():
                idx = next(
                    (i for i, g in enumerate(held) if g.con_id == cid and g.quantity * left > 0),
                    None,
                )
                if idx is not None:
                    held[idx] = replace(held[idx], quantity=held[idx].quantity + left)
                    remaining[cid] = 0.0
                    break

        # Whatever is left was opened by hand.
        hand = [
            HeldLeg(contracts[cid], q) for cid, q in sorted(remaining.items()) if abs(q) > QTY_EPS
        ]
        for group in group_by_pattern(hand):
            new_records.append(
                StrategyRecord(
                    strategy_id=inferred_id(group.underlying, group.legs, now),
                    strategy_type=group.strategy_type,
                    underlying=group.underlying,
                    legs=group.legs,
                    opened_at=now,
                    updated_at=now,
                    credit=credit_from_cost(group.legs, avg_cost),
                    inferred=True,
                )
            )

        assigned_parents = {a.parent_id for a in assignments}
        rolled_into = {parent: child for child, parent in sorted(links.items(), reverse=True)}
        changed: list[StrategyRecord] = []
        result: list[StrategyRecord] = []

        for rec in previous:
            legs = tuple(holdings[rec.strategy_id])
            sid = rec.strategy_id
            if not legs:
                changed.append(
                    self._close_reason(
                        rec, ours, expired_through, assigned_parents, rolled_into, now
                    )
                )
                continue
            credit = rec.credit
            newer = [f for f in fills_of.get(sid, ()) if f.ts >= rec.updated_at]
            if credit is None or any(f.purpose in _OPENING for f in newer):
                # Opening or roll fills the book has not caught up with: recount from every
                # fill of ours (earlier ones from the lake); closing fills leave it alone.
                fresh = credit_from_fills(fills_of.get(sid, ()))
                credit = credit if fresh is None else fresh
            updated = replace(rec, legs=legs, strategy_type=classify(legs), credit=credit)
            if _differs(updated, rec):
                updated = replace(updated, updated_at=now)
                changed.append(updated)
            result.append(updated)

        for sid in new_ours:
            legs = tuple(holdings[sid])
            if not legs:
                continue  # opened and closed between syncs: the orders table keeps its story
            underlying = legs[0].contract.symbol
            credit = credit_from_fills(fills_of[sid])
            rec = StrategyRecord(
                strategy_id=sid,
                strategy_type=classify(legs),
                underlying=underlying,
                legs=legs,
                opened_at=first_fill[sid],
                updated_at=now,
                credit=credit_from_cost(legs, avg_cost) if credit is None else credit,
                inferred=False,
                linked_strategy_id=links.get(sid),
            )
            changed.append(rec)
            result.append(rec)
        changed.extend(new_records)
        result.extend(new_records)

        strategy_of: dict[int, str] = {}
        for rec in result:
            for leg in rec.legs:
                strategy_of.setdefault(leg.con_id, rec.strategy_id)
        return RegistryUpdate(tuple(changed), tuple(result), strategy_of, tuple(assignments))

    @staticmethod
    def _close_reason(
        rec: StrategyRecord,
        ours: Mapping[str, Mapping[int, float]],
        expired_through: date,
        assigned: set[str],
        rolled_into: Mapping[str, str],
        now: datetime,
    ) -> StrategyRecord:
        sid = rec.strategy_id
        if sid in assigned:
            return rec.closed(CloseReason.ASSIGNED, now)
        if sid in rolled_into:
            return rec.closed(CloseReason.ROLLED, now, linked=rolled_into[sid])
        if rec.legs and all(_expired(leg, expired_through) for leg in rec.legs) and sid not in ours:
            return rec.closed(CloseReason.EXPIRED, now)
        if sid in ours:
            return rec.closed(CloseReason.CLOSED, now)
        return rec.closed(CloseReason.CLOSED_OUTSIDE, now)

    @staticmethod
    def admit(candidate: Strategy, slots: MarketDataSlotManager, now: datetime) -> Admission:
        """Whether a new strategy may open: refused, with the reason, when its legs cannot get
        market data within the line budget and snapshot capacity."""
        return slots.can_admit(candidate, now)

    @staticmethod
    def to_strategies(records: Iterable[StrategyRecord]) -> list[Strategy]:
        """Domain strategies of the open records (for rules, risk and market-data slots)."""
        return [r.to_strategy() for r in records if r.is_open and r.legs]


def _expired(leg: HeldLeg, expired_through: date) -> bool:
    c = leg.contract
    return c.sec_type is SecType.OPTION and c.expiry is not None and c.expiry <= expired_through


def _differs(a: StrategyRecord, b: StrategyRecord) -> bool:
    def legs(r: StrategyRecord) -> list[tuple[int, float]]:
        return [(leg.con_id, round(leg.quantity, 9)) for leg in r.legs]

    return (
        legs(a) != legs(b)
        or a.strategy_type is not b.strategy_type
        or a.credit != b.credit
        or a.status is not b.status
    )
