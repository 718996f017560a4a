"""Mapping from domain values to lake rows (one place, beside nothing else).

The lake's declared schemas (``tradelib.lake.schemas``) validate every row
written, so a column renamed there fails loudly here in the tests.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from tradelib.domain import AccountSnapshot, Position, Quote, TradingMode
from tradelib.domain.time import ensure_utc

Row = dict[str, Any]


def _num(value: float | None) -> float | None:
    """NaN/inf become null in the lake (a missing value, not a number)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _count(value: float | None) -> int | None:
    num = _num(value)
    return None if num is None else round(num)


def account_row(snapshot: AccountSnapshot, mode: TradingMode) -> Row:
    return {
        "ts": snapshot.ts,
        "account_masked": snapshot.account,
        "mode": mode.value,
        "net_liquidation": snapshot.net_liquidation,
        "cash": snapshot.cash,
        "buying_power": _num(snapshot.buying_power),
        "excess_liquidity": _num(snapshot.excess_liquidity),
        "init_margin": _num(snapshot.init_margin),
        "maint_margin": _num(snapshot.maint_margin),
        "day_pnl": _num(snapshot.day_pnl),
        "unrealized_pnl": _num(snapshot.unrealized_pnl),
        "realized_pnl": _num(snapshot.realized_pnl),
    }


def position_rows(
    positions: Iterable[Position],
    snapshot_ts: datetime,
    strategy_of: Mapping[int, str] | None = None,
) -> list[Row]:
    """One row per position; ``strategy_of`` maps con_id to a strategy id when known."""
    ts = ensure_utc(snapshot_ts, "snapshot_ts")
    rows: list[Row] = []
    for p in positions:
        c = p.contract
        rows.append(
            {
                "snapshot_ts": ts,
                "con_id": c.con_id,
                "symbol": c.local_symbol or c.key,
                "sec_type": c.sec_type.value,
                "underlying": c.symbol,
                "right": c.right.value if c.right is not None else None,
                "strike": c.strike,
                "expiry": c.expiry,
                "multiplier": c.multiplier,
                "quantity": p.quantity,
                "avg_cost": p.avg_cost,
                "market_price": _num(p.market_price),
                "market_value": _num(p.market_value),
                "unrealized_pnl": _num(p.unrealized_pnl),
                "strategy_id": (strategy_of or {}).get(c.con_id or -1),
            }
        )
    return rows


def option_snapshot_rows(quotes: Iterable[Quote], ts: datetime) -> list[Row]:
    """Option quotes (with greeks when present) as ``option_snapshots`` rows stamped ``ts``."""
    stamp = ensure_utc(ts, "ts")
    rows: list[Row] = []
    for q in quotes:
        c = q.contract
        if not c.is_option:
            continue
        g = q.greeks
        rows.append(
            {
                "ts": stamp,
                "underlying": c.symbol,
                "expiry": c.expiry,
                "strike": c.strike,
                "right": c.right.value if c.right is not None else None,
                "bid": _num(q.bid),
                "ask": _num(q.ask),
                "last": _num(q.last),
                "iv": _num(g.iv) if g else None,
                "delta": _num(g.delta) if g else None,
                "gamma": _num(g.gamma) if g else None,
                "theta": _num(g.theta) if g else None,
                "vega": _num(g.vega) if g else None,
                "underlying_price": _num(q.underlying_price),
                "open_interest": _count(q.open_interest),
            }
        )
    return rows
