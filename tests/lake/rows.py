"""Realistic rows for the lake tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

T0 = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)


def order_row(ref: str, status: str = "submitted", **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "order_ref": ref,
        "strategy_id": "strat-1",
        "intent": "open",
        "status": status,
        "order_type": "LMT",
        "action": "SELL",
        "limit_price": 1.25,
        "quantity": 1,
        "filled_quantity": 0,
        "legs_json": "[]",
        "created_at": T0,
        "updated_at": T0,
    }
    row.update(changes)
    return row


def execution_row(exec_id: str, order_ref: str, price: float = 1.2) -> dict[str, Any]:
    return {
        "exec_id": exec_id,
        "order_ref": order_ref,
        "con_id": 1001,
        "symbol": "SPY",
        "side": "SLD",
        "quantity": 1.0,
        "price": price,
        "commission": 1.05,
        "ts": T0,
    }


def option_row(minute: int, strike: float = 500.0, bid: float = 1.0) -> dict[str, Any]:
    return {
        "ts": T0 + timedelta(minutes=minute),
        "underlying": "SPY",
        "expiry": date(2024, 4, 19),
        "strike": strike,
        "right": "P",
        "bid": bid,
        "ask": bid + 0.05,
        "iv": 0.18,
        "delta": -0.16,
    }
