"""Checks of the book as the lake holds it: risk-limit breaches and the daily-loss warning.

``check_book`` is one call for a job that has just written account and
positions (monitoring, sync): it measures limit use like the dashboard and
raises one alert per breached limit and one when the day's loss passes
``alerts.daily_loss_warning_fraction`` of the breaker's limit. Dedup keys
(limit name, New York date) keep a breach that lasts all day to one alert
per dedup window.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from tradelib.alerts.dispatch import Alerter, emit
from tradelib.alerts.events import daily_loss_alert, limit_breach_alert
from tradelib.alerts.model import Alert, AlertRecord

if TYPE_CHECKING:
    from tradelib.config import TradingConfig
    from tradelib.lake import Lake


def book_alerts(lake: Lake, cfg: TradingConfig, now: datetime) -> list[Alert]:
    """Return the alerts the book in ``lake`` calls for at ``now`` (pure reads, nothing sent)."""
    from tradelib.dashboards.monitoring_queries import risk_limit_use

    limits = risk_limit_use(lake, now, cfg)
    alerts: list[Alert] = []
    for row in limits.iter_rows(named=True):
        if row["check"] == "daily loss":
            warn = daily_loss_alert(
                row["value"] or 0.0,
                row["limit"],
                cfg.alerts.daily_loss_warning_fraction,
                now,
            )
            if warn is not None:
                alerts.append(warn)
        elif row["status"] == "breach" and row["value"] is not None:
            alerts.append(
                limit_breach_alert(row["check"], row["value"], row["limit"], now, row["detail"])
            )
    return alerts


def check_book(
    lake: Lake, cfg: TradingConfig, now: datetime, alerter: Alerter | None = None
) -> list[AlertRecord]:
    """Raise the alerts ``book_alerts`` finds (never raises: a failed check is logged)."""
    import logging

    try:
        found = book_alerts(lake, cfg, now)
    except Exception:
        logging.getLogger(__name__).exception("alerts: checking the book failed")
        return []
    target = alerter or Alerter.from_config(cfg, lake)
    return [r for a in found if (r := emit(a, alerter=target)) is not None]
