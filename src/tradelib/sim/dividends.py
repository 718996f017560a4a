"""Quarterly cash dividends of the simulated underlyings (ex-dates and amounts).

Shaped like the real schedules: SPY goes ex on the third Friday of March, June,
September and December; QQQ on the Monday after it; IWM on the Wednesday before
it. Amounts are typical recent quarterly payouts per share. Dates that fall on an
exchange holiday move to the next trading day when a calendar is given.
"""

from __future__ import annotations

from datetime import date, timedelta

from tradelib.domain import Dividend
from tradelib.markethours import MarketHours

_MONTHS = (3, 6, 9, 12)
# symbol -> (days from the month's third Friday to the ex-date, dollars per share)
SCHEDULE: dict[str, tuple[int, float]] = {
    "SPY": (0, 1.75),
    "QQQ": (3, 0.70),
    "IWM": (-2, 0.65),
}


def third_friday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 14)


def ex_dates(symbol: str, year: int, hours: MarketHours | None = None) -> list[date]:
    """``symbol``'s ex-dividend dates in ``year`` (empty: it pays none)."""
    if symbol not in SCHEDULE:
        return []
    offset, _ = SCHEDULE[symbol]
    out = []
    for month in _MONTHS:
        day = third_friday(year, month) + timedelta(days=offset)
        if hours is not None:
            try:
                while not hours.is_trading_day(day):
                    day += timedelta(days=1)
            except ValueError:  # outside the calendar's range: keep the plain weekday
                pass
        out.append(day)
    return out


def next_dividend(symbol: str, day: date, hours: MarketHours | None = None) -> Dividend | None:
    """The first dividend of ``symbol`` going ex on or after ``day`` (None: it pays none)."""
    if symbol not in SCHEDULE:
        return None
    amount = SCHEDULE[symbol][1]
    for year in (day.year, day.year + 1):
        for ex in ex_dates(symbol, year, hours):
            if ex >= day:
                return Dividend(symbol, ex, amount)
    return None
