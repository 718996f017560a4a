"""``StrategyRegistry``: which legs belong to which strategy (pure; the lake adapter is
``tradelib.stores.sync``).

One ``update`` takes the strategies the lake holds open, the broker's
positions and the fills seen since the last sync, and returns the new state.
Each strategy keeps its own legs and quantities, as its own fills (order refs)
made them, whatever the account nets them with: two spreads holding one call
in opposite directions both keep it although the broker shows nothing. Only a
difference between the broker's net and the *sum over strategies* per contract
changes anyone's legs, in these passes:

1. Option legs gone at their expiry close leave their strategies.
2. Strategies that appear only in our new fills (``orderRef``
   ``tl:<strategy_id>:...``) hold what their fills net to; a new strategy
   whose roll fills undo an older one's legs was rolled out of it (linked, and
   those legs come off the older one). For strategies the book holds, what the
   book has not caught up with goes to the strategy whose own fills traded that
   contract in that direction.
3. The broker holds less than the strategies: reduced by hand, newest first.
4. Stock that appears in an underlying where option legs expired this sync came
   from assignment/exercise: it becomes its own strategy linked to the one it
   came from, which closes as ``assigned``.
5. Quantity added by hand to a contract a strategy holds on that side joins the
   oldest such strategy (the reconciliation records the mismatch).
6. Anything left was opened by hand: grouped by pattern (iron condors,
   verticals, strangles, else single legs), ``inferred=True``.

After the passes the strategies add up to the broker's position on every
contract (the book invariant ``tradelib.book`` checks after every demo day).

A strategy left holding nothing closes: ``expired`` when its vanished legs
were options past their expiry close, ``rolled``/``closed`` when our orders
explain it, else ``closed_outside``.

Credit is the net premium per share per unit: from our executions (opening
and roll fills) when known, else from the broker's average cost.

What the registry reads of our fills (``FillFact``, the credit they imply) is
``tradelib.sync.fills``; ``FillFact`` and the credit functions are importable
from here too.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from tradelib.domain import (
    Contract,
    OrderPurpose,
    Position,
    SecType,
    Strategy,
    StrategyType,
)
from tradelib.domain.time import ensure_utc
from tradelib.marketdata.slots import Admission, MarketDataSlotManager
from tradelib.sync.fills import (
    OPENING,
    FillFact,
    OurFills,
    credit_from_cost,
    credit_from_fills,
)
from tradelib.sync.model import (
    QTY_EPS,
    CloseReason,
    HeldLeg,
    StrategyRecord,
    StrategyStatus,
    leg_sort_key,
)
from tradelib.sync.patterns import classify, group_by_pattern

__all__ = [
    "Assignment",
    "FillFact",
    "RegistryUpdate",
    "StrategyRegistry",
    "credit_from_cost",
    "credit_from_fills",
    "inferred_id",
]


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


class _Ledger:
    """Who holds what during one update: each strategy's own signed quantity per contract."""

    def __init__(self, order: Sequence[str]) -> None:
        self.order = list(order)  # oldest strategy first
        self.held: dict[str, dict[int, float]] = {sid: {} for sid in order}

    def add(self, sid: str, cid: int, qty: float) -> None:
        if sid not in self.held:
            self.held[sid] = {}
            self.order.append(sid)
        book = self.held[sid]
        left = book.get(cid, 0.0) + qty
        if abs(left) <= QTY_EPS:
            book.pop(cid, None)
        else:
            book[cid] = left

    def total(self, cid: int) -> float:
        return sum(book.get(cid, 0.0) for book in self.held.values())

    def contracts(self) -> set[int]:
        return {cid for book in self.held.values() for cid in book}

    def holders(self, cid: int, sign: float) -> list[str]:
        """Strategies holding ``cid`` on the side of ``sign``, oldest first."""
        return [s for s in self.order if self.held[s].get(cid, 0.0) * sign > QTY_EPS]

    @classmethod
    def of(cls, records: Sequence[StrategyRecord]) -> _Ledger:
        """The ledger of ``records`` (oldest first) as the book holds them."""
        ledger = cls([r.strategy_id for r in records])
        for rec in records:
            for leg in rec.legs:
                ledger.add(rec.strategy_id, leg.con_id, leg.quantity)
        return ledger

    def legs(self, sid: str, contracts: Mapping[int, Contract]) -> tuple[HeldLeg, ...]:
        """What ``sid`` holds now, as sorted legs."""
        held = self.held.get(sid, {})
        return tuple(
            sorted((HeldLeg(contracts[cid], q) for cid, q in held.items()), key=leg_sort_key)
        )


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
        previous = sorted(book, key=lambda r: (r.inferred, r.opened_at, r.strategy_id))
        by_id = {r.strategy_id: r for r in previous}
        contracts = _contracts_of(previous, positions, new_fills)
        avg_cost = {cid: p.avg_cost for p in positions if (cid := p.contract.con_id) is not None}
        broker = _broker_net(positions)
        fills = OurFills.of(new_fills, past_fills)

        ledger = _Ledger.of(previous)
        expired_from = self._settle_expiries(previous, ledger, broker, expired_through)
        links = self._apply_our_fills(ledger, broker, fills, by_id)
        self._reduce_outside(ledger, broker)
        assignments, new_records = self._assignments(
            ledger, broker, contracts, expired_from, avg_cost, now
        )
        self._join_added(ledger, broker)
        new_records += self._hand_opened(ledger, broker, contracts, avg_cost, now)

        changed, result = self._carry_forward(
            previous, ledger, contracts, fills, assignments, links, expired_through, now
        )
        opened = self._opened_by_us(by_id, ledger, contracts, fills, links, avg_cost, now)
        changed += [*opened, *new_records]
        result += [*opened, *new_records]
        return RegistryUpdate(
            tuple(changed), tuple(result), _strategy_of(result), tuple(assignments)
        )

    # --- the new state -----------------------------------------------------------------------
    def _carry_forward(
        self,
        previous: Sequence[StrategyRecord],
        ledger: _Ledger,
        contracts: Mapping[int, Contract],
        fills: OurFills,
        assignments: Sequence[Assignment],
        links: Mapping[str, str],
        expired_through: date,
        now: datetime,
    ) -> tuple[list[StrategyRecord], list[StrategyRecord]]:
        """The book's strategies after the passes: (changed, still open).

        One left holding nothing closes (with its reason); the others take their
        new legs, type and credit, and count as changed when any of those moved.
        """
        assigned_parents = {a.parent_id for a in assignments}
        rolled_into = {parent: child for child, parent in sorted(links.items(), reverse=True)}
        changed: list[StrategyRecord] = []
        result: list[StrategyRecord] = []
        for rec in previous:
            legs = ledger.legs(rec.strategy_id, contracts)
            if not legs:
                changed.append(
                    self._close_reason(
                        rec, fills.net, expired_through, assigned_parents, rolled_into, now
                    )
                )
                continue
            credit = _recounted_credit(rec, fills)
            updated = replace(rec, legs=legs, strategy_type=classify(legs), credit=credit)
            if _differs(updated, rec):
                updated = replace(updated, updated_at=now)
                changed.append(updated)
            result.append(updated)
        return changed, result

    @staticmethod
    def _opened_by_us(
        by_id: Mapping[str, StrategyRecord],
        ledger: _Ledger,
        contracts: Mapping[int, Contract],
        fills: OurFills,
        links: Mapping[str, str],
        avg_cost: Mapping[int, float],
        now: datetime,
    ) -> list[StrategyRecord]:
        """The strategies our fills opened that the book does not hold yet, by first fill."""
        records: list[StrategyRecord] = []
        for sid in fills.new_strategies(by_id):
            legs = ledger.legs(sid, contracts)
            if not legs:
                continue  # opened and closed between syncs: the orders table keeps its story
            underlying = legs[0].contract.symbol
            credit = credit_from_fills(fills.of_strategy[sid])
            records.append(
                StrategyRecord(
                    strategy_id=sid,
                    strategy_type=classify(legs),
                    underlying=underlying,
                    legs=legs,
                    opened_at=fills.first[sid],
                    updated_at=now,
                    credit=credit_from_cost(legs, avg_cost) if credit is None else credit,
                    inferred=False,
                    linked_strategy_id=links.get(sid),
                )
            )
        return records

    # --- the passes ------------------------------------------------------------------------
    @staticmethod
    def _settle_expiries(
        previous: Sequence[StrategyRecord],
        ledger: _Ledger,
        broker: Mapping[int, float],
        expired_through: date,
    ) -> dict[str, list[str]]:
        """Drop option legs gone at their expiry; return underlying -> strategies they left."""
        expired_from: dict[str, list[str]] = defaultdict(list)
        for rec in previous:
            gone = [
                leg
                for leg in rec.legs
                if _expired(leg, expired_through) and abs(broker.get(leg.con_id, 0.0)) <= QTY_EPS
            ]
            for leg in gone:
                ledger.add(
                    rec.strategy_id, leg.con_id, -ledger.held[rec.strategy_id].get(leg.con_id, 0.0)
                )
            if gone:
                expired_from[rec.underlying].append(rec.strategy_id)
        return expired_from

    @staticmethod
    def _apply_our_fills(
        ledger: _Ledger,
        broker: Mapping[int, float],
        fills: OurFills,
        by_id: Mapping[str, StrategyRecord],
    ) -> dict[str, str]:
        """Book our fills the lake's book has not caught up with; return new id -> parent.

        A strategy new to the book holds what its own fills net to, whatever the account
        nets them with; if it came from a roll, what its fills undo of the strategy it
        rolled out of comes off that one. For strategies the book holds (entry and
        monitoring record what they trade), only a difference between the broker and the
        strategies' sum is booked: to the strategy whose own fills traded that contract in
        that direction, up to what they traded.
        """
        links: dict[str, str] = {}
        for sid in fills.new_strategies(by_id):
            net = fills.net[sid]
            parent = None
            if fills.purposes[sid] - {OrderPurpose.OPEN}:
                parent = _rolled_from(net, ledger, by_id)
            if parent is not None:
                links[sid] = parent
            for cid, traded in sorted(net.items()):
                take = traded
                held = ledger.held[parent].get(cid, 0.0) if parent is not None else 0.0
                if parent is not None and held * take < 0:
                    part = math.copysign(min(abs(held), abs(take)), take)
                    ledger.add(parent, cid, part)
                    take -= part
                if abs(take) > QTY_EPS:
                    ledger.add(sid, cid, take)
        known = [sid for sid in fills.claim_order(by_id) if sid in by_id]
        for cid in sorted({cid for sid in known for cid in fills.net[sid]}):
            for sid in known:
                traded = fills.net[sid].get(cid, 0.0)
                diff = broker.get(cid, 0.0) - ledger.total(cid)
                if abs(diff) <= QTY_EPS or traded * diff <= 0:
                    continue
                ledger.add(sid, cid, math.copysign(min(abs(traded), abs(diff)), diff))
        return links

    @staticmethod
    def _reduce_outside(ledger: _Ledger, broker: Mapping[int, float]) -> None:
        """The broker holds less than the strategies on a contract: reduce them, newest first
        (closed or reduced by hand; the broker is the truth)."""
        for cid in sorted(set(broker) | ledger.contracts()):
            diff = broker.get(cid, 0.0) - ledger.total(cid)
            for sid in reversed(ledger.holders(cid, -diff)):
                if abs(diff) <= QTY_EPS:
                    break
                part = math.copysign(min(abs(ledger.held[sid][cid]), abs(diff)), diff)
                ledger.add(sid, cid, part)
                diff -= part

    @staticmethod
    def _assignments(
        ledger: _Ledger,
        broker: Mapping[int, float],
        contracts: Mapping[int, Contract],
        expired_from: Mapping[str, list[str]],
        avg_cost: Mapping[int, float],
        now: datetime,
    ) -> tuple[list[Assignment], list[StrategyRecord]]:
        """Stock appearing where option legs just expired came from assignment/exercise."""
        assignments: list[Assignment] = []
        records: list[StrategyRecord] = []
        for cid in sorted(broker):
            left, c = broker[cid] - ledger.total(cid), contracts[cid]
            parents = expired_from.get(c.symbol, [])
            if abs(left) <= QTY_EPS or c.sec_type is not SecType.STOCK or not parents:
                continue
            parent = parents[0]
            sid = f"{parent}-assigned"
            leg = HeldLeg(c, left)
            ledger.add(sid, cid, left)
            assignments.append(Assignment(parent, sid, c.symbol, left))
            records.append(
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
        return assignments, records

    @staticmethod
    def _join_added(ledger: _Ledger, broker: Mapping[int, float]) -> None:
        """Quantity added by hand to a contract a strategy already holds joins the oldest such
        strategy (the reconciliation records the mismatch)."""
        for cid in sorted(broker):
            diff = broker[cid] - ledger.total(cid)
            holders = ledger.holders(cid, diff) if abs(diff) > QTY_EPS else []
            if holders:
                ledger.add(holders[0], cid, diff)

    @staticmethod
    def _hand_opened(
        ledger: _Ledger,
        broker: Mapping[int, float],
        contracts: Mapping[int, Contract],
        avg_cost: Mapping[int, float],
        now: datetime,
    ) -> list[StrategyRecord]:
        """Whatever the strategies do not explain was opened by hand: grouped by pattern."""
        hand = [
            HeldLeg(contracts[cid], left)
            for cid in sorted(broker)
            if abs(left := broker[cid] - ledger.total(cid)) > QTY_EPS
        ]
        records = []
        for group in group_by_pattern(hand):
            sid = inferred_id(group.underlying, group.legs, now)
            for leg in group.legs:
                ledger.add(sid, leg.con_id, leg.quantity)
            records.append(
                StrategyRecord(
                    strategy_id=sid,
                    strategy_type=group.strategy_type,
                    underlying=group.underlying,
                    legs=group.legs,
                    opened_at=now,
                    updated_at=now,
                    credit=credit_from_cost(group.legs, avg_cost),
                    inferred=True,
                )
            )
        return records

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


def _contracts_of(
    previous: Sequence[StrategyRecord],
    positions: Sequence[Position],
    new_fills: Sequence[FillFact],
) -> dict[int, Contract]:
    """Every contract the update may meet, by con_id (the broker's newest word wins)."""
    contracts = {leg.con_id: leg.contract for r in previous for leg in r.legs}
    contracts.update((f.con_id, f.contract) for f in new_fills if f.contract is not None)
    contracts.update((cid, p.contract) for p in positions if (cid := p.contract.con_id) is not None)
    return contracts


def _broker_net(positions: Sequence[Position]) -> dict[int, float]:
    """The broker's signed quantity per con_id (flat positions left out)."""
    broker: dict[int, float] = defaultdict(float)
    for p in positions:
        if p.contract.con_id is not None and abs(p.quantity) > QTY_EPS:
            broker[p.contract.con_id] += p.quantity
    return broker


def _recounted_credit(rec: StrategyRecord, fills: OurFills) -> float | None:
    """``rec``'s credit, recounted from our fills when it has opening or roll fills it has
    not caught up with (earlier fills come from the lake); closing fills leave it alone."""
    sid = rec.strategy_id
    credit = rec.credit
    newer = [f for f in fills.of_strategy.get(sid, ()) if f.ts >= rec.updated_at]
    if credit is None or any(f.purpose in OPENING for f in newer):
        fresh = credit_from_fills(fills.of_strategy.get(sid, ()))
        credit = credit if fresh is None else fresh
    return credit


def _strategy_of(records: Iterable[StrategyRecord]) -> dict[int, str]:
    """con_id -> the first of ``records`` holding it."""
    strategy_of: dict[int, str] = {}
    for rec in records:
        for leg in rec.legs:
            strategy_of.setdefault(leg.con_id, rec.strategy_id)
    return strategy_of


def _rolled_from(
    net: Mapping[int, float], ledger: _Ledger, book: Mapping[str, StrategyRecord]
) -> str | None:
    """The book strategy whose legs a new strategy's roll fills undo most (oldest on a tie)."""
    best, most = None, 0
    for sid in ledger.order:
        if sid not in book:
            continue
        undone = sum(1 for cid, q in net.items() if ledger.held[sid].get(cid, 0.0) * q < 0)
        if undone > most:
            best, most = sid, undone
    return best


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
