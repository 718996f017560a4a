"""Epoch-second helpers and time constants the simulated market's modules share."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

from tradelib.markethours import NEW_YORK

YEAR_S = 365.0 * 86_400.0  # ACT/365, as tradelib.pricing expects
MIN_T_YEARS = 60.0 / YEAR_S  # price an expiring option as if a minute were left
DAY_S = 86_400


def _epoch(ts: datetime) -> int:
    return math.floor(ts.timestamp())


def _dt(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def _ny_date(seconds: int) -> date:
    return _dt(seconds).astimezone(NEW_YORK).date()
