"""Book invariants (SPEC part 15), pure: a ``BookState`` in, the violations out.

What must hold after every simulated day, each checked to the cent:

- ``legs_sum``: per contract, the open strategies' legs add up to the broker's position;
- ``leg_quantity``: no open strategy holds a leg of quantity 0 (or no legs at all);
  a closed strategy holds nothing (its row's quantity is 0);
- ``cash``: cash equals the starting cash plus every fill's proceeds minus commissions;
- ``net_liquidation``: net liquidation equals cash plus the positions marked at the
  broker's own marks;
- ``decision``: every close, reduce or roll order has an acting decision stored at or
  before it; ``prediction``: every entry of ours has its prediction stored;
- ``unique_keys``: no table holds a duplicate merge key (order refs included).

A violation names the day, the strategy (or contract) and the numbers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from tradelib.domain import AccountSnapshot, Fill, Position, SecType
from tradelib.sync.model import QTY_EPS, StrategyRecord

CENT = 0.005  # money agrees when it rounds to the same cent


class Invariant(StrEnum):
    LEGS_SUM = "legs_sum"
    LEG_QUANTITY = "leg_quantity"
    CASH = "cash"
    NET_LIQUIDATION = "net_liquidation"
    DECISION = "decision"
    PREDICTION = "prediction"
    UNIQUE_KEYS = "unique_keys"


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken invariant, with what was compared."""

    day: date
    invariant: Invariant
    subject: str  # strategy id, contract, order ref or table
    detail: str

    def __str__(self) -> str:
        return f"{self.day} {self.invariant.value} [{self.subject}]: {self.detail}"


@dataclass(frozen=True, slots=True)
class OrderFact:
    """What the checker needs of one ``orders`` row."""

    order_ref: str
    strategy_id: str | None
    intent: str
    created_at: datetime
    filled_quantity: float


@dataclass(frozen=True, slots=True)
class DecisionFact:
    """An acting decision (close, reduce, roll) as stored."""

    strategy_id: str
    action: str
    ts: datetime


@dataclass(frozen=True, slots=True)
class BookState:
    """Everything the invariants look at, gathered at one moment."""

    day: date
    strategies: Sequence[StrategyRecord]  # open and closed
    closed_quantities: Mapping[str, float]  # closed strategy id -> its row's quantity
    positions: Sequence[Position]  # the broker's
    fills: Sequence[Fill]  # every fill of the account since it started (expiries included)
    account: AccountSnapshot
    starting_cash: float | None  # None: not known (an IB account mid-life): cash not checked
    orders: Sequence[OrderFact] = ()
    decisions: Sequence[DecisionFact] = ()
    prediction_ids: frozenset[str] = frozenset()
    duplicate_keys: Mapping[str, int] = field(default_factory=dict)  # table -> duplicated keys


_ACTING_INTENTS = {"close": ("close",), "reduce": ("reduce",), "roll": ("roll",)}


def check_book_state(state: BookState) -> list[Violation]:
    """Every violation of the book invariants in ``state`` (empty: the book is whole)."""
    return [
        *_legs_sum(state),
        *_leg_quantities(state),
        *_cash(state),
        *_net_liquidation(state),
        *_decisions(state),
        *_predictions(state),
        *_unique_keys(state),
    ]


def _legs_sum(state: BookState) -> list[Violation]:
    held: dict[int, float] = defaultdict(float)
    names: dict[int, str] = {}
    owners: dict[int, list[str]] = defaultdict(list)
    for rec in state.strategies:
        if not rec.is_open:
            continue
        for leg in rec.legs:
            held[leg.con_id] += leg.quantity
            names[leg.con_id] = leg.contract.local_symbol or leg.contract.key
            owners[leg.con_id].append(f"{rec.strategy_id} {leg.quantity:+g}")
    broker: dict[int, float] = defaultdict(float)
    for p in state.positions:
        if p.contract.con_id is not None:
            broker[p.contract.con_id] += p.quantity
            names.setdefault(p.contract.con_id, p.contract.local_symbol or p.contract.key)
    out = []
    for cid in sorted(set(held) | set(broker)):
        ours, theirs = held.get(cid, 0.0), broker.get(cid, 0.0)
        if abs(ours - theirs) > QTY_EPS:
            who = ", ".join(owners.get(cid, [])) or "no open strategy"
            out.append(
                Violation(
                    state.day,
                    Invariant.LEGS_SUM,
                    names[cid],
                    f"strategies hold {ours:g} ({who}), the broker {theirs:g}",
                )
            )
    return out


def _leg_quantities(state: BookState) -> list[Violation]:
    out = []
    for rec in state.strategies:
        if rec.is_open:
            if not rec.legs:
                out.append(
                    Violation(
                        state.day, Invariant.LEG_QUANTITY, rec.strategy_id, "open with no legs"
                    )
                )
            for leg in rec.legs:
                if abs(leg.quantity) <= QTY_EPS:
                    out.append(
                        Violation(
                            state.day,
                            Invariant.LEG_QUANTITY,
                            rec.strategy_id,
                            f"open with a leg of quantity 0 ({leg.contract.key})",
                        )
                    )
        else:
            qty = state.closed_quantities.get(rec.strategy_id, 0.0)
            if abs(qty) > QTY_EPS:
                out.append(
                    Violation(
                        state.day,
                        Invariant.LEG_QUANTITY,
                        rec.strategy_id,
                        f"closed ({rec.close_reason}) but still holds quantity {qty:g}",
                    )
                )
    return out


def fill_cash(fill: Fill) -> float:
    """What a fill did to cash: the premium paid or received, less its commission.

    Futures fills move no premium (their P&L settles into cash separately).
    """
    commission = fill.commission if math.isfinite(fill.commission) else 0.0
    if fill.contract.sec_type is SecType.FUTURE:
        return -commission
    return -fill.quantity * fill.price * fill.contract.multiplier - commission


def _cash(state: BookState) -> list[Violation]:
    if state.starting_cash is None:
        return []
    if any(f.contract.sec_type is SecType.FUTURE for f in state.fills):
        return []  # futures P&L settles into cash outside the fills: not checkable here
    expected = state.starting_cash + sum(fill_cash(f) for f in state.fills)
    actual = state.account.cash
    if abs(expected - actual) > CENT:
        return [
            Violation(
                state.day,
                Invariant.CASH,
                "account",
                f"cash {actual:,.2f} but start {state.starting_cash:,.2f} + {len(state.fills)} "
                f"fills' proceeds less commissions = {expected:,.2f} "
                f"(off by {actual - expected:+,.2f})",
            )
        ]
    return []


def _net_liquidation(state: BookState) -> list[Violation]:
    marks = [p.market_value for p in state.positions]
    if not all(math.isfinite(v) for v in marks):
        unmarked = [p.contract.key for p in state.positions if not math.isfinite(p.market_value)]
        return [
            Violation(
                state.day,
                Invariant.NET_LIQUIDATION,
                "account",
                f"positions without a mark: {', '.join(unmarked)}",
            )
        ]
    expected = state.account.cash + sum(marks)
    actual = state.account.net_liquidation
    if abs(expected - actual) > CENT:
        return [
            Violation(
                state.day,
                Invariant.NET_LIQUIDATION,
                "account",
                f"net liquidation {actual:,.2f} but cash {state.account.cash:,.2f} + "
                f"{len(marks)} marked positions {sum(marks):,.2f} = {expected:,.2f}",
            )
        ]
    return []


def _decisions(state: BookState) -> list[Violation]:
    acted: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for d in state.decisions:
        acted[(d.strategy_id, d.action)].append(d.ts)
    out = []
    for o in state.orders:
        if o.intent not in _ACTING_INTENTS or o.strategy_id is None:
            continue
        times = [
            t
            for action in _ACTING_INTENTS[o.intent]
            for t in acted.get((o.strategy_id, action), [])
        ]
        if not any(t <= o.created_at for t in times):
            out.append(
                Violation(
                    state.day,
                    Invariant.DECISION,
                    o.strategy_id,
                    f"{o.intent} order {o.order_ref} at {o.created_at:%Y-%m-%d %H:%M:%S} "
                    "has no stored decision to act on",
                )
            )
    return out


def _predictions(state: BookState) -> list[Violation]:
    entered = {
        o.strategy_id
        for o in state.orders
        if o.intent == "open" and o.strategy_id is not None and o.filled_quantity > QTY_EPS
    }
    out = []
    for rec in state.strategies:
        if rec.strategy_id not in entered or rec.inferred:
            continue
        if rec.prediction_id is None or rec.prediction_id not in state.prediction_ids:
            out.append(
                Violation(
                    state.day,
                    Invariant.PREDICTION,
                    rec.strategy_id,
                    f"entered without a stored prediction (prediction id {rec.prediction_id})",
                )
            )
    return out


def _unique_keys(state: BookState) -> list[Violation]:
    return [
        Violation(state.day, Invariant.UNIQUE_KEYS, table, f"{n} merge key(s) held more than once")
        for table, n in sorted(state.duplicate_keys.items())
        if n > 0
    ]
