"""The order journal: every order's intent and state in the lake's ``orders`` table,
its fills in ``executions``.

An order is journaled (status ``pending``) *before* it is sent, every state
change is upserted on its ``order_ref``, and fills are upserted on their
``exec_id``; so after a crash the journal tells a new process which orders
exist and a re-run never duplicates a row.

Prices are the domain's signed net prices per unit (negative = credit);
``action`` is SELL for a credit and BUY for a debit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import polars as pl

from tradelib.domain import (
    Fill,
    Leg,
    OrderIntent,
    OrderPurpose,
    OrderState,
    OrderStatus,
    OrderType,
    parse_order_ref,
)
from tradelib.domain.contracts import contract_from_dict, contract_to_dict
from tradelib.domain.time import ensure_utc
from tradelib.lake import Lake, TableName

ORDERS = TableName.ORDERS
EXECUTIONS = TableName.EXECUTIONS


def legs_json(legs: Sequence[Leg]) -> str:
    """The legs of an order as JSON: each contract's fields, its key and its signed ratio."""
    out = [
        {"ratio": leg.ratio, "key": leg.contract.key, **contract_to_dict(leg.contract)}
        for leg in legs
    ]
    return json.dumps(out, separators=(",", ":"))


def legs_from_json(text: str) -> tuple[Leg, ...]:
    """The legs of a journaled order (what ``legs_json`` wrote)."""
    return tuple(Leg(contract_from_dict(d), int(d["ratio"])) for d in json.loads(text))


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One order as the journal knows it (one row of ``orders``)."""

    order_ref: str
    strategy_id: str
    purpose: OrderPurpose
    seq: int
    status: OrderStatus
    order_type: OrderType
    limit_price: float | None
    quantity: int
    filled_quantity: float
    avg_fill_price: float | None
    legs_json: str
    created_at: datetime
    updated_at: datetime
    reason: str = ""
    broker_order_id: int | None = None
    perm_id: int | None = None
    error_code: int | None = None

    @classmethod
    def pending(cls, intent: OrderIntent, seq: int, reason: str = "") -> JournalEntry:
        """The entry for ``intent`` before it is sent."""
        return cls(
            order_ref=intent.order_ref,
            strategy_id=intent.strategy_id,
            purpose=intent.purpose,
            seq=seq,
            status=OrderStatus.PENDING,
            order_type=intent.order_type,
            limit_price=intent.limit_price,
            quantity=intent.quantity,
            filled_quantity=0.0,
            avg_fill_price=None,
            legs_json=legs_json(intent.legs),
            created_at=intent.created_at,
            updated_at=intent.created_at,
            reason=reason,
        )

    @property
    def is_live(self) -> bool:
        return self.status in (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)

    def with_state(self, state: OrderState, now: datetime) -> JournalEntry:
        """This entry updated from the broker's view (our own reason is kept if we set one)."""
        avg = state.avg_fill_price if math.isfinite(state.avg_fill_price) else None
        return replace(
            self,
            status=state.status,
            filled_quantity=float(state.filled_quantity),
            avg_fill_price=avg,
            broker_order_id=state.broker_order_id,
            perm_id=state.perm_id,
            error_code=state.error_code,
            reason=self.reason or state.reason,
            updated_at=ensure_utc(state.updated_at or now),
        )

    def to_row(self) -> dict[str, Any]:
        return {
            "order_ref": self.order_ref,
            "strategy_id": self.strategy_id,
            "intent": self.purpose.value,
            "status": self.status.value,
            "order_type": self.order_type.value,
            "action": "SELL" if (self.limit_price or 0.0) < 0 else "BUY",
            "limit_price": self.limit_price,
            "quantity": float(self.quantity),
            "filled_quantity": self.filled_quantity,
            "avg_fill_price": self.avg_fill_price,
            "legs_json": self.legs_json,
            "broker_order_id": self.broker_order_id,
            "perm_id": self.perm_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "reason": self.reason or None,
            "error_code": self.error_code,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> JournalEntry | None:
        """The entry of one ``orders`` row; None for orders that are not ours."""
        parsed = parse_order_ref(row["order_ref"])
        if parsed is None:
            return None
        return cls(
            order_ref=row["order_ref"],
            strategy_id=parsed.strategy_id,
            purpose=parsed.purpose,
            seq=parsed.seq,
            status=OrderStatus(row["status"]),
            order_type=OrderType(row["order_type"]),
            limit_price=row["limit_price"],
            quantity=round(row["quantity"]),
            filled_quantity=float(row["filled_quantity"]),
            avg_fill_price=row["avg_fill_price"],
            legs_json=row["legs_json"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            reason=row["reason"] or "",
            broker_order_id=row["broker_order_id"],
            perm_id=row["perm_id"],
            error_code=row["error_code"],
        )


def fill_row(fill: Fill) -> dict[str, Any]:
    c = fill.contract
    return {
        "exec_id": fill.exec_id,
        "order_ref": fill.order_ref,
        "con_id": c.con_id or 0,
        "symbol": c.local_symbol or c.key,
        "side": "BOT" if fill.quantity > 0 else "SLD",
        "quantity": abs(fill.quantity),
        "price": fill.price,
        "commission": fill.commission,
        "ts": fill.ts,
    }


class OrderJournal:
    """Orders and fills of the executor, in the lake."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def __repr__(self) -> str:
        return f"OrderJournal({self.lake!r})"

    def entries(
        self, strategy_id: str, purpose: OrderPurpose, seqs: range | None = None
    ) -> list[JournalEntry]:
        """Our orders for ``strategy_id`` and ``purpose`` (within ``seqs``), by sequence."""
        rows = self.lake.read(ORDERS, filter=pl.col("strategy_id") == strategy_id).collect()
        out = []
        for row in rows.to_dicts():
            entry = JournalEntry.from_row(row)
            if entry is None or entry.purpose is not purpose:
                continue
            if seqs is None or entry.seq in seqs:
                out.append(entry)
        return sorted(out, key=lambda e: e.seq)

    def write(self, entry: JournalEntry) -> JournalEntry:
        """Upsert ``entry`` on its order_ref."""
        self.lake.upsert(ORDERS, [entry.to_row()])
        return entry

    def exec_ids(self, order_refs: Iterable[str]) -> set[str]:
        """Exec ids already stored for ``order_refs``."""
        refs = list(order_refs)
        if not refs:
            return set()
        frame = self.lake.read(
            EXECUTIONS, columns=["exec_id"], filter=pl.col("order_ref").is_in(refs)
        ).collect()
        return set(frame["exec_id"].to_list())

    def record_fills(self, fills: Sequence[Fill]) -> int:
        """Store the fills not yet stored (dedupe by exec_id); return how many were new."""
        if not fills:
            return 0
        known = self.exec_ids({f.order_ref for f in fills})
        new = [f for f in fills if f.exec_id not in known]
        if new:
            self.lake.upsert(EXECUTIONS, [fill_row(f) for f in new])
        return len(new)
