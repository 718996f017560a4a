"""Risk panels: each portfolio limit's use, risk rejections and book breaches, the circuit
breaker's state and the market-data line use."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import polars as pl

from tradelib.config import TradingConfig
from tradelib.dashboards.monitoring_queries.account import account_summary
from tradelib.dashboards.monitoring_queries.base import RECENT_ROWS, age_minutes, ny_date
from tradelib.dashboards.monitoring_queries.book import open_legs, open_strategies
from tradelib.lake import Lake, TableName
from tradelib.stores.risk import latest_limit_use

WARN_USE = 0.8  # a limit used to this fraction or more is shown as a warning


def _limit_row(
    check: str, value: float | None, limit: float, unit: str, detail: str
) -> dict[str, Any]:
    use = None if value is None or limit <= 0 else value / limit
    if use is None or not math.isfinite(use):
        status = "unknown"
    elif use > 1.0:
        status = "breach"
    elif use >= WARN_USE:
        status = "warn"
    else:
        status = "ok"
    return {
        "check": check,
        "value": value,
        "limit": float(limit),
        "use": use,
        "status": status,
        "unit": unit,
        "detail": detail,
    }


# (risk limit name, panel label, unit) of the limits monitoring measures.
_MEASURED_LIMITS = (
    ("max_margin_use", "margin use", "fraction"),
    ("max_portfolio_delta", "portfolio delta", "shares"),
    ("max_underlying_concentration", "underlying concentration", "fraction"),
    ("max_correlated_exposure", "correlated exposure", "fraction"),
)


def _configured_limit(cfg: TradingConfig, limit: str) -> float | None:
    risk = cfg.risk
    value = {
        "max_margin_use": risk.max_margin_use,
        "max_portfolio_delta": risk.max_portfolio_delta,
        "max_underlying_concentration": risk.max_underlying_concentration,
        "max_correlated_exposure": risk.max_correlated_exposure,
    }.get(limit)
    return None if value is None else float(value)


def risk_limit_use(
    lake: Lake,
    now: datetime,
    cfg: TradingConfig | None = None,
    *,
    account: pl.DataFrame | None = None,
    legs: pl.DataFrame | None = None,
    strategies: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """How much of each portfolio limit the newest numbers in the lake use.

    The portfolio limits are not measured here: monitoring measures them each
    cycle with ``tradelib.risk.book.measure_book`` (beta-weighted delta,
    concentration and correlated exposure as shares of the risk budget, margin
    use) and stores them; this reads the newest cycle's. Counts (open
    strategies, today's entries) and the day's loss come from the lake's rows.
    ``account``, ``legs`` and ``strategies`` are the other queries' frames.
    """
    cfg = cfg or TradingConfig()
    account = account_summary(lake, now) if account is None else account
    legs = open_legs(lake, now) if legs is None else legs
    strategies = open_strategies(lake, now, legs=legs) if strategies is None else strategies
    today = ny_date(now)
    rows: list[dict[str, Any]] = []

    rows.append(
        _limit_row(
            "open strategies",
            float(strategies.height),
            cfg.trading_limits.max_positions,
            "count",
            "strategies open now",
        )
    )
    opened = strategies.get_column("opened_at").drop_nulls()
    entries = sum(1 for ts in opened.to_list() if ny_date(ts) == today)
    rows.append(
        _limit_row(
            "new entries today",
            float(entries),
            cfg.trading_limits.max_new_entries_per_day,
            "count",
            f"opened on {today} (New York)",
        )
    )
    measured = {r["limit"]: r for r in latest_limit_use(lake, now).iter_rows(named=True)}
    for limit, label, unit in _MEASURED_LIMITS:
        threshold = _configured_limit(cfg, limit)
        if threshold is None:
            continue
        row = measured.get(limit)
        value = row["measured"] if row is not None else None
        if value is not None and limit == "max_portfolio_delta":
            value = abs(value)
        detail = row["detail"] if row is not None else "not measured yet (no monitoring cycle)"
        rows.append(_limit_row(label, value, threshold, unit, detail))
    day_pnl = account.get_column("day_pnl")[0] if account.height else None
    loss = max(-float(day_pnl), 0.0) if day_pnl is not None else None
    rows.append(
        _limit_row(
            "daily loss",
            loss,
            cfg.risk.circuit_breaker.daily_loss_limit,
            "dollars",
            "today's loss vs the circuit-breaker limit ($)",
        )
    )
    return pl.DataFrame(
        rows,
        schema={
            "check": pl.String,
            "value": pl.Float64,
            "limit": pl.Float64,
            "use": pl.Float64,
            "status": pl.String,
            "unit": pl.String,
            "detail": pl.String,
        },
    )


def recent_rejections(lake: Lake, now: datetime, n: int = RECENT_ROWS) -> pl.DataFrame:
    """The newest risk rejections (candidates refused, with the reason)."""
    return lake.read(TableName.RISK_REJECTIONS).sort("ts", descending=True).head(n).collect()


def book_breaches(lake: Lake, now: datetime, n: int = RECENT_ROWS) -> pl.DataFrame:
    """The newest limit breaches of the existing book, as monitoring measured them."""
    return lake.read(TableName.LIMIT_BREACHES).sort("ts", descending=True).head(n).collect()


def breaker_state(lake: Lake, now: datetime) -> pl.DataFrame:
    """The newest circuit-breaker event (its ``state`` is the breaker's state); empty if none."""
    return (
        lake.read(TableName.CIRCUIT_BREAKER_EVENTS)
        .sort("ts")
        .tail(1)
        .with_columns(age_minutes(now, "ts"))
        .collect()
    )


def slot_use(lake: Lake, now: datetime) -> pl.DataFrame:
    """The newest market-data line use: streaming lines vs the option budget, and snapshots."""
    option_lines = pl.col("budget") - pl.col("reserved")
    return (
        lake.read(TableName.MARKET_DATA_SLOTS)
        .sort("ts")
        .tail(1)
        .with_columns(
            option_lines.alias("option_lines"),
            pl.when(option_lines > 0)
            .then(pl.col("streaming_lines") / option_lines)
            .otherwise(None)
            .alias("stream_use"),
            age_minutes(now, "ts"),
        )
        .collect()
    )
