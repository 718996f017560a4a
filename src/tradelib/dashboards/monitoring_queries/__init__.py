"""The monitoring dashboard's queries: pure functions ``(lake, now, ...) -> pl.DataFrame``.

Each panel is filled by one query (tested without a browser); every table an
engineer has not written yet reads as an empty frame with the declared schema,
so each panel shows a clear "no data yet" instead.

``now`` is the wall-clock time of the refresh. Queries show the newest data in
the lake whatever its time (a simulated day may run ahead of the clock); ``now``

One module per group of panels: ``account`` (the account and performance since
inception), ``book`` (legs, strategies, decisions), ``risk`` (limit use,
rejections, breaches, breaker, market-data lines) and ``activity`` (orders,
fills, jobs, regime, predictions); ``base`` holds what they share. Every query
is importable from here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import polars as pl

from tradelib.dashboards.monitoring_queries.account import (
    account_summary,
    closed_trades,
    equity_curve,
    equity_since_inception,
    pnl_by_week,
    realized_pnl_by,
)
from tradelib.dashboards.monitoring_queries.activity import (
    FAILED_STATUSES,
    current_regime,
    job_health,
    prediction_summary,
    predictions_vs_actuals,
    recent_fills,
    recent_orders,
)
from tradelib.dashboards.monitoring_queries.base import RECENT_ROWS
from tradelib.dashboards.monitoring_queries.book import (
    DECISIONS_LOOKBACK,
    latest_decisions,
    open_legs,
    open_strategies,
)
from tradelib.dashboards.monitoring_queries.risk import (
    WARN_USE,
    book_breaches,
    breaker_state,
    recent_rejections,
    risk_limit_use,
    slot_use,
)
from tradelib.lake import Lake

__all__ = [
    "DECISIONS_LOOKBACK",
    "FAILED_STATUSES",
    "QUERIES",
    "RECENT_ROWS",
    "WARN_USE",
    "Query",
    "account_summary",
    "book_breaches",
    "breaker_state",
    "closed_trades",
    "current_regime",
    "equity_curve",
    "equity_since_inception",
    "job_health",
    "latest_decisions",
    "open_legs",
    "open_strategies",
    "pnl_by_week",
    "prediction_summary",
    "predictions_vs_actuals",
    "realized_pnl_by",
    "recent_fills",
    "recent_orders",
    "recent_rejections",
    "risk_limit_use",
    "slot_use",
]

Query = Callable[[Lake, datetime], pl.DataFrame]

QUERIES: dict[str, Query] = {
    "account": account_summary,
    "equity": equity_curve,
    "legs": open_legs,
    "strategies": open_strategies,
    "rejections": recent_rejections,
    "breaches": book_breaches,
    "breaker": breaker_state,
    "slots": slot_use,
    "orders": recent_orders,
    "fills": recent_fills,
    "jobs": job_health,
    "regime": current_regime,
    "predictions": predictions_vs_actuals,
    "inception": equity_since_inception,
    "trades": closed_trades,
}
"""Every panel query by name (``risk_limit_use`` also needs the config)."""
