"""The sync's lake adapter: strategy records, orders, executions and events to and from rows.

Writes are idempotent: strategies, orders and events are upserted on their
merge keys (and only rows that changed are written); executions are appended
once per exec id; a positions snapshot is appended under a transaction id
made from its timestamp, so the same snapshot is never written twice.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import polars as pl

from tradelib.domain import (
    Fill,
    OrderState,
    OrderStatus,
    Position,
    StrategyType,
    order_ref_prefix,
    parse_order_ref,
)
from tradelib.domain.contracts import contract_from_dict, contract_to_dict
from tradelib.errors import ContractError
from tradelib.lake import Lake, TableName
from tradelib.records import position_rows
from tradelib.sync.model import CloseReason, HeldLeg, StrategyRecord, StrategyStatus
from tradelib.sync.reconcile import ReconEvent, order_key
from tradelib.sync.registry import FillFact

Row = dict[str, Any]
_TERMINAL = [s.value for s in OrderStatus if s.is_terminal]


# --- contracts and legs as JSON ------------------------------------------------------------
def legs_json(legs: Sequence[HeldLeg]) -> str:
    """Held legs as the ``strategies`` table keeps them: contract fields and signed quantity."""
    return json.dumps(
        [{**contract_to_dict(leg.contract), "quantity": leg.quantity} for leg in legs]
    )


def legs_from_json(text: str) -> tuple[HeldLeg, ...]:
    """The held legs ``legs_json`` wrote."""
    return tuple(HeldLeg(contract_from_dict(d), float(d["quantity"])) for d in json.loads(text))


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _cents(value: float | None) -> float | None:
    """Dollars as stored: finite, in cents (None otherwise)."""
    finite = _finite(value)
    return None if finite is None else round(finite, 2)


# --- strategies ---------------------------------------------------------------------------------
def strategy_row(rec: StrategyRecord) -> Row:
    """The ``strategies`` row of ``rec`` (max profit/loss in dollars, when legs are held)."""
    max_profit = max_loss = None
    breakevens = None
    if rec.legs and rec.credit is not None:
        s = rec.to_strategy()
        try:
            max_profit, max_loss = _cents(s.max_profit), _cents(s.max_loss)
            breakevens = json.dumps(list(s.breakevens))
        except ContractError:  # a shape the payoff maths cannot value (an index leg)
            max_profit = max_loss = breakevens = None
    return {
        "strategy_id": rec.strategy_id,
        "strategy_type": rec.strategy_type.value,
        "underlying": rec.underlying,
        "status": rec.status.value,
        "opened_at": rec.opened_at,
        "closed_at": rec.closed_at,
        "legs_json": legs_json(rec.legs),
        "quantity": float(rec.units if rec.legs and rec.is_open else 0),  # closed: holds none
        "credit": None if (c := _finite(rec.credit)) is None else round(c, 4),
        "max_profit": max_profit,
        "max_loss": max_loss,
        "breakevens_json": breakevens,
        "inferred": rec.inferred,
        "prediction_id": rec.prediction_id,
        "updated_at": rec.updated_at,
        "close_reason": rec.close_reason.value if rec.close_reason else None,
        "linked_strategy_id": rec.linked_strategy_id,
    }


def strategy_from_row(row: Mapping[str, Any]) -> StrategyRecord:
    reason = row.get("close_reason")
    return StrategyRecord(
        strategy_id=row["strategy_id"],
        strategy_type=StrategyType(row["strategy_type"]),
        underlying=row["underlying"],
        legs=legs_from_json(row["legs_json"]),
        opened_at=row["opened_at"],
        updated_at=row["updated_at"],
        status=StrategyStatus(row["status"]),
        credit=row.get("credit"),
        inferred=bool(row["inferred"]),
        closed_at=row.get("closed_at"),
        close_reason=CloseReason(reason) if reason else None,
        linked_strategy_id=row.get("linked_strategy_id"),
        prediction_id=row.get("prediction_id"),
    )


# --- executions, orders, events --------------------------------------------------------------
def fill_from_row(row: Mapping[str, Any]) -> FillFact:
    sign = 1.0 if row["side"] == "BOT" else -1.0
    return FillFact(
        row["exec_id"],
        row.get("order_ref"),
        int(row["con_id"]),
        sign * abs(float(row["quantity"])),
        float(row["price"]),
        row["ts"],
    )


def execution_rows(fills: Iterable[Fill], synced_at: datetime | None = None) -> list[Row]:
    return [
        {
            "exec_id": f.exec_id,
            "order_ref": f.order_ref or None,
            "con_id": f.contract.con_id,
            "symbol": f.contract.local_symbol or f.contract.key,
            "side": "BOT" if f.quantity > 0 else "SLD",
            "quantity": abs(f.quantity),
            "price": f.price,
            "commission": _finite(f.commission),
            "ts": f.ts,
            "synced_at": synced_at,
        }
        for f in fills
    ]


def order_row(state: OrderState, known: Mapping[str, Any] | None, now: datetime) -> Row:
    """The ``orders`` row for ``state``: the lake's row updated, or one made up from the broker's view."""
    ref = order_key(state)
    base: dict[str, Any]
    if known is not None:
        base = dict(known)
    else:
        parsed = parse_order_ref(state.order_ref)
        limit = state.limit_price
        base = {
            "order_ref": ref,
            "strategy_id": parsed.strategy_id if parsed else None,
            "intent": parsed.purpose.value if parsed else "unknown",
            "order_type": "LMT" if limit is not None else "MKT",
            # Net price convention: a positive limit pays (BUY), a negative one receives.
            "action": "SELL" if limit is not None and limit < 0 else "BUY",
            "legs_json": "[]",
            "created_at": state.updated_at or now,
        }
    base.update(
        {
            "status": state.status.value,
            "quantity": float(state.quantity),
            "filled_quantity": float(state.filled_quantity),
            "avg_fill_price": _finite(state.avg_fill_price),
            "limit_price": state.limit_price
            if state.limit_price is not None
            else base.get("limit_price"),
            "broker_order_id": state.broker_order_id,
            "perm_id": state.perm_id,
            "updated_at": state.updated_at or now,
            "reason": state.reason or base.get("reason") or None,
            "error_code": state.error_code,
        }
    )
    if known is None:
        base["reason"] = base["reason"] or "first seen at the broker by sync"
    return base


_ORDER_FIELDS = ("status", "filled_quantity", "avg_fill_price", "broker_order_id", "perm_id")


def order_changed(new: Mapping[str, Any], old: Mapping[str, Any] | None) -> bool:
    if old is None:
        return True
    return any(new.get(k) != old.get(k) for k in _ORDER_FIELDS)


def event_rows(events: Iterable[ReconEvent]) -> list[Row]:
    return [
        {
            "event_id": e.event_id,
            "ts": e.ts,
            "kind": e.kind.value,
            "con_id": e.con_id,
            "symbol": e.symbol,
            "lake_quantity": e.lake_quantity,
            "broker_quantity": e.broker_quantity,
            "detail": e.detail,
        }
        for e in events
    ]


def _txn(kind: str, ts: datetime, *parts: str) -> str:
    return ":".join(("sync", kind, ts.strftime("%Y%m%dT%H%M%S.%f"), *parts))


class SyncStore:
    """What the sync reads from and writes to the lake."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    # --- reads ------------------------------------------------------------------------------
    def open_strategies(self) -> list[StrategyRecord]:
        """Strategies the lake holds open: the lake's current book."""
        frame = self.lake.read(TableName.STRATEGIES, filter=pl.col("status") == "open").collect()
        return [strategy_from_row(r) for r in frame.iter_rows(named=True)]

    def last_snapshot_ts(self) -> datetime | None:
        """When the last positions snapshot was taken (None before the first)."""
        frame = self.lake.read(TableName.POSITIONS, columns=["snapshot_ts"]).select(
            pl.col("snapshot_ts").max()
        )
        latest: datetime | None = frame.collect().item()
        return latest

    def book_version(self) -> str:
        """A marker of the lake's book: the last time any strategy row changed."""
        frame = self.lake.read(TableName.STRATEGIES, columns=["updated_at"]).select(
            pl.col("updated_at").max()
        )
        latest = frame.collect().item()
        return "empty" if latest is None else latest.isoformat()

    def synced_exec_ids(self, exec_ids: Sequence[str]) -> set[str]:
        """Those of ``exec_ids`` an earlier sync accounted for (the executor stores fills as
        they happen: stored is not the same as synced)."""
        if not exec_ids:
            return set()
        frame = self.lake.read(
            TableName.EXECUTIONS,
            columns=["exec_id"],
            filter=pl.col("exec_id").is_in(list(exec_ids)) & pl.col("synced_at").is_not_null(),
        ).collect()
        return set(frame["exec_id"].to_list())

    def past_fills(self, strategy_ids: Iterable[str]) -> list[FillFact]:
        """Our fills already in the lake for ``strategy_ids`` (for their credit)."""
        prefixes = [order_ref_prefix(sid) for sid in strategy_ids]
        if not prefixes:
            return []
        ref = pl.col("order_ref")
        cond = pl.any_horizontal([ref.str.starts_with(p) for p in prefixes])
        frame = self.lake.read(TableName.EXECUTIONS, filter=ref.is_not_null() & cond).collect()
        return [fill_from_row(r) for r in frame.iter_rows(named=True)]

    def orders(self, refs: Sequence[str]) -> dict[str, Row]:
        """The lake's rows for ``refs`` (those it has)."""
        if not refs:
            return {}
        frame = self.lake.read(
            TableName.ORDERS, filter=pl.col("order_ref").is_in(list(refs))
        ).collect()
        return {r["order_ref"]: r for r in frame.iter_rows(named=True)}

    def working_orders(self) -> dict[str, Row]:
        """Lake orders not yet in a terminal state."""
        frame = self.lake.read(
            TableName.ORDERS, filter=~pl.col("status").is_in(_TERMINAL)
        ).collect()
        return {r["order_ref"]: r for r in frame.iter_rows(named=True)}

    def has_events(self, event_ids: Sequence[str]) -> set[str]:
        if not event_ids:
            return set()
        frame = self.lake.read(
            TableName.RECONCILIATION_EVENTS,
            columns=["event_id"],
            filter=pl.col("event_id").is_in(list(event_ids)),
        ).collect()
        return set(frame["event_id"].to_list())

    # --- writes -----------------------------------------------------------------------------
    def save_strategies(self, records: Sequence[StrategyRecord]) -> int:
        if not records:
            return 0
        stats = self.lake.upsert(TableName.STRATEGIES, [strategy_row(r) for r in records])
        return stats.inserted + stats.updated

    def save_positions(
        self, positions: Sequence[Position], ts: datetime, strategy_of: Mapping[int, str]
    ) -> int:
        rows = position_rows(positions, ts, strategy_of)
        if not rows:
            return 0
        return self.lake.append(TableName.POSITIONS, rows, txn_id=_txn("positions", ts))

    def save_orders(self, rows: Sequence[Row]) -> int:
        if not rows:
            return 0
        stats = self.lake.upsert(TableName.ORDERS, list(rows))
        return stats.inserted + stats.updated

    def save_executions(self, fills: Sequence[Fill], ts: datetime) -> int:
        """Store fills no sync accounted for yet, marked synced at ``ts`` (rows the executor
        stored already are updated with the broker's view)."""
        if not fills:
            return 0
        stats = self.lake.upsert(TableName.EXECUTIONS, execution_rows(fills, synced_at=ts))
        return stats.inserted + stats.updated

    def save_events(self, events: Sequence[ReconEvent]) -> int:
        """Write events the lake does not hold yet; return how many."""
        held = self.has_events([e.event_id for e in events])
        fresh = [e for e in events if e.event_id not in held]
        if not fresh:
            return 0
        stats = self.lake.upsert(TableName.RECONCILIATION_EVENTS, event_rows(fresh))
        return stats.inserted
