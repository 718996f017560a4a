"""Prediction rows for scenarios: a closed prediction in one line, as the lake stores it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from tradelib.domain import utc
from tradelib.lake import TABLES

NOW = utc(2026, 12, 24, 15)  # the review time most scenarios use
SCHEMA = TABLES["predictions"].polars_schema
_seq = iter(range(1_000_000))


def closed(
    strategy: str = "iron_condor",
    *,
    miss: float = 0.0,
    regime: str | None = "normal",
    predicted: float = 100.0,
    max_loss: float = 1000.0,
    pop: float | None = 0.7,
    closed_at: datetime | None = None,
    held_days: float = 10.0,
    actual: float | None = None,
) -> dict[str, Any]:
    """A prediction closed at ``closed_at`` (default ``NOW``) whose actual P&L misses the
    prediction by ``miss`` x max risk (or is ``actual``)."""
    end = closed_at or NOW
    start = end - timedelta(days=held_days)
    pnl = predicted + miss * max_loss if actual is None else actual
    n = next(_seq)
    return {
        "prediction_id": f"pred-t{n}",
        "strategy_id": f"t{n}",
        "strategy_type": strategy,
        "underlying": "SPY",
        "regime": regime,
        "skew_ratio": 1.1,
        "predicted_pnl": predicted,
        "prob_profit": pop,
        "max_loss": max_loss,
        "weight_used": 1.0,
        "entered_at": start,
        "actual_pnl": pnl,
        "days_held": held_days,
        "exit_rule": "dte_exit",
        "closed_at": end,
        "updated_at": end,
    }


def frame(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """The rows as a frame with the ``predictions`` table's schema."""
    return pl.DataFrame(list(rows), schema=SCHEMA) if rows else pl.DataFrame(schema=SCHEMA)


def many(
    n: int, strategy: str, miss: float, *, alternate: bool = False, **kw: Any
) -> list[dict[str, Any]]:
    """``n`` closed predictions of ``strategy`` missing by ``miss`` x max risk (sign
    alternating when ``alternate``), closed one hour apart up to ``NOW``."""
    return [
        closed(
            strategy,
            miss=-miss if alternate and i % 2 else miss,
            closed_at=NOW - timedelta(hours=i),
            **kw,
        )
        for i in range(n)
    ]
