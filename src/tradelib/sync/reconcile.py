"""Compare the lake's book with the broker's answer (pure): every difference becomes an event.

The lake's book is the legs of the strategies the ``strategies`` table holds
open (the registry wrote them from the broker at the last successful sync);
the ``positions`` table keeps each sync's snapshot as history. The broker is
the truth; a difference is only *recorded* here, never argued with.

A change in a contract's quantity is explained when our own fills since the
last sync (``orderRef`` ``tl:...``) add up to it. Anything else is an event:
``opened_outside``, ``closed_outside``, ``quantity_mismatch``, ``expired``
(an option gone after its expiry close), ``assigned`` (stock appearing where
options just expired); open orders the lake does not know are
``unknown_order``, lake orders the broker no longer knows ``order_missing``.

Event ids are a hash of what was compared (kind, contract, both quantities and
the lake book's version), so re-running the same sync records nothing new.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from tradelib.domain import Contract, OrderState, Position, SecType
from tradelib.domain.time import ensure_utc
from tradelib.sync.model import QTY_EPS, StrategyRecord
from tradelib.sync.registry import FillFact


class ReconKind(StrEnum):
    """What kind of difference between the lake and the broker an event records."""

    OPENED_OUTSIDE = "opened_outside"
    CLOSED_OUTSIDE = "closed_outside"
    QUANTITY_MISMATCH = "quantity_mismatch"
    EXPIRED = "expired"
    ASSIGNED = "assigned"
    UNKNOWN_ORDER = "unknown_order"
    ORDER_MISSING = "order_missing"
    ANOMALY = "anomaly"  # the broker's answer cannot be trusted: the sync stopped


@dataclass(frozen=True, slots=True)
class ReconEvent:
    """One recorded difference (a ``reconciliation_events`` row)."""

    event_id: str
    ts: datetime
    kind: ReconKind
    detail: str
    con_id: int | None = None
    symbol: str | None = None
    lake_quantity: float | None = None
    broker_quantity: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ts", ensure_utc(self.ts, "ReconEvent.ts"))


def event_id(kind: ReconKind, *parts: object) -> str:
    """A deterministic event id from the kind and what was compared."""
    text = "|".join([kind.value, *(str(p) for p in parts)])
    return "rec-" + hashlib.sha1(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class BookLine:
    """The lake's total holding of one contract across open strategies."""

    contract: Contract
    quantity: float


def lake_book(records: Iterable[StrategyRecord]) -> dict[int, BookLine]:
    """Sum the legs of the open strategies per con_id."""
    book: dict[int, BookLine] = {}
    for rec in records:
        if not rec.is_open:
            continue
        for leg in rec.legs:
            line = book.get(leg.con_id)
            qty = leg.quantity + (line.quantity if line else 0.0)
            book[leg.con_id] = BookLine(leg.contract, qty)
    return book


def _net(fills: Iterable[FillFact], ours: bool) -> dict[int, float]:
    out: dict[int, float] = defaultdict(float)
    for f in fills:
        if (f.strategy_id is not None) == ours:
            out[f.con_id] += f.quantity
    return out


def _symbol(c: Contract) -> str:
    return c.local_symbol or c.key


def _expired(c: Contract, expired_through: date) -> bool:
    return c.sec_type is SecType.OPTION and c.expiry is not None and c.expiry <= expired_through


def diff_positions(
    book: Mapping[int, BookLine],
    positions: Sequence[Position],
    new_fills: Sequence[FillFact],
    *,
    now: datetime,
    expired_through: date,
    book_version: str,
) -> list[ReconEvent]:
    """Events for every contract whose quantity changed without our fills to explain it."""
    broker: dict[int, BookLine] = {}
    for p in positions:
        if p.contract.con_id is None:
            continue
        prev = broker.get(p.contract.con_id)
        broker[p.contract.con_id] = BookLine(
            p.contract, p.quantity + (prev.quantity if prev else 0)
        )
    ours, others = _net(new_fills, True), _net(new_fills, False)
    gone_at_expiry = {
        line.contract.symbol
        for cid, line in book.items()
        if _expired(line.contract, expired_through) and abs(_qty(broker, cid)) <= QTY_EPS
    }
    events: list[ReconEvent] = []
    for cid in sorted(set(book) | set(broker)):
        lake_q, broker_q = _qty(book, cid), _qty(broker, cid)
        delta = broker_q - lake_q
        if abs(delta) <= QTY_EPS or abs(delta - ours.get(cid, 0.0)) <= QTY_EPS:
            continue
        contract = (broker.get(cid) or book[cid]).contract
        if abs(lake_q) <= QTY_EPS:
            assigned = contract.sec_type is SecType.STOCK and contract.symbol in gone_at_expiry
            kind = ReconKind.ASSIGNED if assigned else ReconKind.OPENED_OUTSIDE
        elif abs(broker_q) <= QTY_EPS:
            expired = _expired(contract, expired_through)
            kind = ReconKind.EXPIRED if expired else ReconKind.CLOSED_OUTSIDE
        else:
            kind = ReconKind.QUANTITY_MISMATCH
        detail = (
            f"{contract.key}: lake {lake_q:g}, broker {broker_q:g}; "
            f"our fills {ours.get(cid, 0.0):g}, other fills {others.get(cid, 0.0):g}"
        )
        if kind is ReconKind.EXPIRED:
            detail += f"; expired {contract.expiry}"
        events.append(
            ReconEvent(
                event_id=event_id(kind, cid, f"{lake_q:g}", f"{broker_q:g}", book_version),
                ts=now,
                kind=kind,
                detail=detail,
                con_id=cid,
                symbol=_symbol(contract),
                lake_quantity=lake_q,
                broker_quantity=broker_q,
            )
        )
    return events


def _qty(lines: Mapping[int, BookLine], cid: int) -> float:
    line = lines.get(cid)
    return 0.0 if line is None else line.quantity


def empty_answer_problem(
    book: Mapping[int, BookLine],
    positions: Sequence[Position],
    fills: Sequence[FillFact],
    expired_through: date,
) -> str | None:
    """Why an empty position list cannot be trusted, or None when it can.

    An empty answer is believed when the lake holds nothing, or when every
    lake leg is accounted for: expired, or closed by fills (ours or by hand)
    the broker reported. Otherwise it looks like a broken answer (a gateway
    that has not loaded the account yet), and marking everything closed would
    be wrong.
    """
    if positions or not book:
        return None
    net = _net(fills, True)
    for cid, q in _net(fills, False).items():
        net[cid] += q
    unexplained = [
        line
        for cid, line in book.items()
        if not _expired(line.contract, expired_through)
        and abs(line.quantity + net.get(cid, 0.0)) > QTY_EPS
    ]
    if not unexplained:
        return None
    return (
        f"the broker reported no positions while the lake holds {len(book)} open leg(s); "
        f"{len(unexplained)} of them not explained by fills or expiry "
        f"(e.g. {unexplained[0].contract.key} {unexplained[0].quantity:g})"
    )


def anomaly_event(cause: str, detail: str, now: datetime, book_version: str) -> ReconEvent:
    """The event recorded when a sync stops instead of trusting the broker's answer."""
    return ReconEvent(
        event_id=event_id(ReconKind.ANOMALY, cause, book_version),
        ts=now,
        kind=ReconKind.ANOMALY,
        detail=f"{cause}: {detail}",
    )


def order_key(order: OrderState) -> str:
    """The order's reference, or a stand-in from the broker's ids for orders placed by hand."""
    if order.order_ref:
        return order.order_ref
    return f"broker:{order.perm_id or order.broker_order_id or 0}"


def unknown_orders(
    open_orders: Sequence[OrderState], known_refs: Iterable[str], now: datetime
) -> list[ReconEvent]:
    """Events for working orders at the broker that the lake has never seen."""
    known = set(known_refs)
    return [
        ReconEvent(
            event_id=event_id(ReconKind.UNKNOWN_ORDER, order_key(o)),
            ts=now,
            kind=ReconKind.UNKNOWN_ORDER,
            detail=(
                f"order {order_key(o)} ({o.status.value}, {o.quantity} @ {o.limit_price}) "
                "is working at the broker but unknown to the lake"
            ),
        )
        for o in open_orders
        if order_key(o) not in known
    ]


def missing_orders(missing: Sequence[str], now: datetime) -> list[ReconEvent]:
    """Events for lake orders (sent, not terminal) the broker does not know at all."""
    return [
        ReconEvent(
            event_id=event_id(ReconKind.ORDER_MISSING, ref),
            ts=now,
            kind=ReconKind.ORDER_MISSING,
            detail=f"order {ref} is working in the lake but unknown to the broker",
        )
        for ref in missing
    ]
