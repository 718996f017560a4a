"""Our fills as the registry reads them: one ``FillFact`` per execution, each strategy's
new fills netted per contract (``OurFills``), and the credit the fills imply.

A fill is ours when its ``orderRef`` is ``tl:<strategy_id>:<purpose>:<seq>``;
opening and roll fills set a strategy's credit (net premium per share per
unit), else the broker's average cost does.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import reduce

from tradelib.domain import Contract, Fill, OrderPurpose, parse_order_ref
from tradelib.sync.model import QTY_EPS, HeldLeg, StrategyRecord, units_of

OPENING = (OrderPurpose.OPEN, OrderPurpose.ROLL)  # purposes whose fills set the credit


@dataclass(frozen=True, slots=True)
class FillFact:
    """What the registry needs of one execution (from the broker or the lake)."""

    exec_id: str
    order_ref: str | None
    con_id: int
    quantity: float  # signed: + bought, - sold
    price: float
    ts: datetime
    contract: Contract | None = None  # known for fills from the broker, not from the lake

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
            fill.contract,
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
class OurFills:
    """Our new fills (``orderRef`` ``tl:<strategy_id>:...``) per strategy."""

    net: Mapping[str, Mapping[int, float]]  # strategy -> con_id -> signed quantity
    first: Mapping[str, datetime]
    last: Mapping[str, datetime]
    purposes: Mapping[str, frozenset[OrderPurpose]]
    of_strategy: Mapping[str, list[FillFact]]  # new and past fills (for the credit)

    @classmethod
    def of(cls, new_fills: Sequence[FillFact], past_fills: Sequence[FillFact]) -> OurFills:
        net: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        first: dict[str, datetime] = {}
        last: dict[str, datetime] = {}
        purposes: dict[str, set[OrderPurpose]] = defaultdict(set)
        of_strategy: dict[str, list[FillFact]] = defaultdict(list)
        for f in sorted(new_fills, key=lambda f: (f.ts, f.exec_id)):
            sid = f.strategy_id
            if sid is None:
                continue
            net[sid][f.con_id] += f.quantity
            first.setdefault(sid, f.ts)
            last[sid] = f.ts
            if f.purpose is not None:
                purposes[sid].add(f.purpose)
            of_strategy[sid].append(f)
        for f in past_fills:
            sid = f.strategy_id
            if sid in of_strategy and f.exec_id not in {x.exec_id for x in of_strategy[sid]}:
                of_strategy[sid].append(f)
        return cls(
            {sid: dict(q) for sid, q in net.items()},
            first,
            last,
            {sid: frozenset(purposes[sid]) for sid in net},
            dict(of_strategy),
        )

    def claim_order(self, book: Mapping[str, StrategyRecord]) -> list[str]:
        """Strategies whose fills the book may not reflect first (new, or written before
        their last fill), then by first fill."""

        def reflected(sid: str) -> bool:
            return sid in book and book[sid].updated_at >= self.last[sid]

        return sorted(self.net, key=lambda s: (reflected(s), self.first[s], s))

    def new_strategies(self, book: Mapping[str, StrategyRecord]) -> list[str]:
        """Strategies seen for the first time (in fills only), by first fill."""
        return sorted((s for s in self.net if s not in book), key=lambda s: (self.first[s], s))


def credit_from_fills(fills: Iterable[FillFact]) -> float | None:
    """Net premium per share per unit from a strategy's opening and roll fills (None if none)."""
    opening = [f for f in fills if f.purpose in OPENING]
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
