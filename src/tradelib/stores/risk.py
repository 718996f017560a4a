"""Breaker events and risk rejections in the lake (the risk package stays pure).

Column names come from the table specs (``tradelib.lake.schemas``); rows are
upserted on their ids, so writing the same event or rejection twice stores it once.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import polars as pl

from tradelib.config import TradingConfig
from tradelib.domain.time import ensure_utc
from tradelib.lake import Lake, TableName
from tradelib.risk.book import LimitUse
from tradelib.risk.breaker import BreakerEvent, BreakerState, BreakerTrigger, CircuitBreaker
from tradelib.risk.limits import RiskVerdict

EVENTS = TableName.CIRCUIT_BREAKER_EVENTS
REJECTIONS = TableName.RISK_REJECTIONS
USE = TableName.RISK_LIMIT_USE


def _event_row(event: BreakerEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "ts": event.ts,
        "state": event.state.value,
        "trigger": event.trigger.value,
        "reason": event.reason,
        "value": event.value,
        "limit": event.limit,
        "reset_by": event.reset_by,
    }


def _event(row: dict[str, Any]) -> BreakerEvent:
    return BreakerEvent(
        event_id=row["event_id"],
        ts=row["ts"],
        state=BreakerState(row["state"]),
        trigger=BreakerTrigger(row["trigger"]),
        reason=row["reason"],
        value=row["value"],
        limit=row["limit"],
        reset_by=row["reset_by"],
    )


def lake_breaker(cfg: TradingConfig, lake: Lake) -> CircuitBreaker:
    """The circuit breaker of ``cfg``, persisted in ``lake`` and alerting on every trip and reset."""
    from tradelib.alerts import Alerter, breaker_alert, emit  # alerts load only when a job runs

    alerter = Alerter.from_config(cfg, lake)

    def alert(event: BreakerEvent) -> None:
        emit(breaker_alert(event), alerter=alerter)  # never raises

    return CircuitBreaker(cfg.risk.circuit_breaker, LakeBreakerStore(lake), alert)


class LakeBreakerStore:
    """Breaker events in the lake's ``circuit_breaker_events`` table (latest row = state)."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def __repr__(self) -> str:
        return f"LakeBreakerStore({self.lake!r})"

    def latest(self) -> BreakerEvent | None:
        rows = self.lake.read(EVENTS).sort("ts", descending=True).head(1).collect().to_dicts()
        return _event(rows[0]) if rows else None

    def append(self, event: BreakerEvent) -> None:
        self.lake.upsert(EVENTS, [_event_row(event)])

    def history(self) -> list[BreakerEvent]:
        return [_event(r) for r in self.lake.read(EVENTS).sort("ts").collect().to_dicts()]


def rejection_id(candidate_id: str, check: str) -> str:
    """A stable id: the same candidate refused by the same check is one row."""
    return "rj-" + hashlib.sha1(f"{candidate_id}|{check}".encode()).hexdigest()[:16]


def rejection_rows(
    verdict: RiskVerdict,
    *,
    candidate_id: str,
    strategy_type: str,
    ts: datetime,
    underlying: str | None = None,
) -> list[dict[str, object]]:
    """The ``risk_rejections`` rows of ``verdict`` (none when it approved)."""
    if verdict.approved:
        return []
    stamp = ensure_utc(ts, "ts")
    return [
        {
            "rejection_id": rejection_id(candidate_id, r.check),
            "ts": stamp,
            "strategy_type": strategy_type,
            "underlying": r.underlying if r.underlying and "," not in r.underlying else underlying,
            "check": r.check,
            "reason": r.reason,
            "value": r.value if r.value != float("inf") else None,
            "limit": r.limit,
        }
        for r in verdict.rejections
    ]


def store_rejection_rows(lake: Lake, rows: list[dict[str, object]]) -> int:
    """Store rows from :func:`rejection_rows` in one write (re-runs add nothing)."""
    if rows:
        lake.upsert(REJECTIONS, rows)
    return len(rows)


def record_rejections(
    lake: Lake,
    verdict: RiskVerdict,
    *,
    candidate_id: str,
    strategy_type: str,
    ts: datetime,
    underlying: str | None = None,
) -> int:
    """Store every rejection of ``verdict`` in ``risk_rejections``; return how many.

    ``candidate_id`` identifies the proposed entry (e.g. its strategy id): a
    re-run that refuses the same candidate for the same reason adds no row.
    Callers refusing many candidates at once should batch with
    :func:`rejection_rows` + :func:`store_rejection_rows` (one commit, not one each).
    """
    rows = rejection_rows(
        verdict,
        candidate_id=candidate_id,
        strategy_type=strategy_type,
        ts=ts,
        underlying=underlying,
    )
    return store_rejection_rows(lake, rows)


def read_rejections(lake: Lake) -> pl.DataFrame:
    """Every stored rejection, newest first."""
    return lake.read(REJECTIONS).sort("ts", descending=True).collect()


def record_limit_use(lake: Lake, uses: Sequence[LimitUse], ts: datetime) -> int:
    """Store one cycle's limit use (idempotent per cycle time and limit); rows written."""
    at = ensure_utc(ts, "ts")
    rows = [
        {
            "ts": at,
            "limit": u.limit,
            "measured": u.measured if math.isfinite(u.measured) else None,
            "threshold": u.threshold,
            "detail": u.detail,
        }
        for u in uses
    ]
    if not rows:
        return 0
    stats = lake.upsert(USE, rows)
    return stats.inserted + stats.updated


def latest_limit_use(lake: Lake, at_or_before: datetime) -> pl.DataFrame:
    """The newest cycle's limit use at or before a time (empty when none was stored)."""
    at = ensure_utc(at_or_before, "at_or_before")
    frame = lake.read(USE, filter=pl.col("ts") <= at)
    return frame.filter(pl.col("ts") == pl.col("ts").max()).sort("limit").collect()
