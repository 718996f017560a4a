"""Which futures contract is the front month: the roll rule, broker-neutral.

CME equity-index futures (ES, NQ, RTY) list quarterly contracts (March, June,
September, December) that expire on the third Friday of the month (the trading
day before it when that Friday is a holiday). We hold the nearest one until
``roll_days`` calendar days before its expiry, then move to the next quarter.
The broker stays the authority on the contract itself: these functions only
name the month to ask it for (``Broker.resolve`` returns the real expiry).
"""

from __future__ import annotations

from datetime import date, timedelta

from tradelib.domain import Contract
from tradelib.markethours import MarketHours

QUARTER_MONTHS = (3, 6, 9, 12)
# USD per index point; the broker fills in the real value when it resolves the contract.
MULTIPLIERS: dict[str, float] = {"ES": 50.0, "NQ": 20.0, "RTY": 50.0, "MES": 5.0, "MNQ": 2.0}


def third_friday(year: int, month: int) -> date:
    """Return the third Friday of ``month``."""
    first = date(year, month, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 14)


def quarterly_expiry(year: int, month: int, hours: MarketHours) -> date:
    """Return the expiry of the quarterly contract of ``month`` (holiday-adjusted third Friday)."""
    return hours.trading_day_on_or_before(third_friday(year, month))


def _next_quarter(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 3) if month == 12 else (year, month + 3)


def front_month_expiries(
    today: date, roll_days: int, hours: MarketHours, count: int = 2
) -> list[date]:
    """Return the expiries of the front contract on ``today`` and the ``count - 1`` after it.

    The front is the nearest quarterly contract expiring more than ``roll_days``
    calendar days after ``today``.
    """
    if roll_days < 0:
        raise ValueError(f"roll_days must be >= 0, got {roll_days}")
    year, month = today.year, QUARTER_MONTHS[(today.month - 1) // 3]
    out: list[date] = []
    while len(out) < count:
        expiry = quarterly_expiry(year, month, hours)
        if should_hold(expiry, today, roll_days):
            out.append(expiry)
        year, month = _next_quarter(year, month)
    return out


def should_hold(expiry: date, today: date, roll_days: int) -> bool:
    """Return True while a contract expiring on ``expiry`` is still the one to hold on ``today``."""
    return today + timedelta(days=roll_days) < expiry


def future_candidates(root: str, today: date, roll_days: int, hours: MarketHours) -> list[Contract]:
    """Return unresolved contracts to ask the broker for, front month first.

    The second candidate covers a broker that rolls a little earlier than we do.
    """
    multiplier = MULTIPLIERS.get(root, 1.0)
    return [
        Contract.future(root, expiry, multiplier)
        for expiry in front_month_expiries(today, roll_days, hours)
    ]
