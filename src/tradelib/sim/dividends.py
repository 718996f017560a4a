"""Quarterly cash dividends of the simulated underlyings (ex-dates and amounts).

Shaped like the real schedules: SPY goes ex on the third Friday of March, June,
September and December; QQQ on the Monday after it; IWM on the Wednesday before
it. Amounts are typical recent quarterly payouts per share. Dates that fall on an
exchange holiday move to the next trading day when a calendar is given. Other
symbols (VIX, futures) pay none.
"""

from __future__ import annotations

from datetime import date, timedelta

from tradelib.domain.market import Dividend
from tradelib.markethours import MarketHours

EX_MONTHS: tuple[int, ...] = (3, 6, 9, 12)
# symbol -> (days from the month's third Friday to the ex-date, dollars per share)
SCHEDULE: dict[str, tuple[int, float]] = {
    "SPY": (0, 1.75),
    "QQQ": (3, 0.70),
    "IWM": (-2, 0.65),
}


def third_friday(year: int, month: int) -> date:
    """The third Friday of ``month``."""
    first = date(year, month, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 14)


def _on_a_trading_day(day: date, hours: MarketHours | None) -> date:
    if hours is None:
        return day
    try:
        while not hours.is_trading_day(day):
            day += timedelta(days=1)
    except ValueError:  # outside the calendar's range: keep the plain weekday
        pass
    return day


def ex_dates(
    symbol: str, start: date, end: date, hours: MarketHours | None = None
) -> list[Dividend]:
    """Every dividend of ``symbol`` going ex in ``[start, end]``, in date order."""
    key = symbol.strip().upper()
    if key not in SCHEDULE or end < start:
        return []
    offset, amount = SCHEDULE[key]
    out = []
    for year in range(start.year - 1, end.year + 1):
        for month in EX_MONTHS:
            day = _on_a_trading_day(third_friday(year, month) + timedelta(days=offset), hours)
            if start <= day <= end:
                out.append(Dividend(key, day, amount))
    return out


def next_dividend(symbol: str, day: date, hours: MarketHours | None = None) -> Dividend | None:
    """The first dividend of ``symbol`` going ex on or after ``day`` (None: it pays none)."""
    upcoming = ex_dates(symbol, day, day + timedelta(days=130), hours)
    return upcoming[0] if upcoming else None
