"""What every monitoring query shares: UTC and New York dates, the newest partition, ages."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

from tradelib.dashboards.common import newest_in_log
from tradelib.domain import NEW_YORK
from tradelib.lake import Lake

RECENT_ROWS = 12  # rows in a "recent" panel


def utc(ts: datetime) -> datetime:
    """``ts`` in UTC (a naive time is taken as UTC)."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def ny_date(ts: datetime) -> date:
    """The New York date of ``ts``: the session day it belongs to."""
    return utc(ts).astimezone(NEW_YORK).date()


def newest_date(lake: Lake, table: str) -> date | None:
    """The newest ``date`` partition of a date-partitioned table (None when empty).

    Read from the Delta log: scanning a month of small files for it would cost
    more than the query that follows.
    """
    value = newest_in_log(lake, table, "date")
    return value if isinstance(value, date) else None


def age_minutes(now: datetime, column: str) -> pl.Expr:
    """The ``age_min`` column: minutes from ``column`` to ``now``."""
    return ((pl.lit(utc(now)) - pl.col(column)).dt.total_seconds() / 60.0).alias("age_min")
