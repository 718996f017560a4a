"""The simulated market's dividend schedule: quarterly ex-dates of the index ETFs.

SPY, QQQ and IWM go ex-dividend on the third Friday of March, June,
September and December (as the real ETFs roughly do); the amounts are
typical recent quarterly payouts. Other symbols (VIX, futures) pay none.
"""

from __future__ import annotations

from datetime import date, timedelta

from tradelib.domain.market import Dividend

QUARTERLY_AMOUNT: dict[str, float] = {"SPY": 1.75, "QQQ": 0.70, "IWM": 0.65}
EX_MONTHS: tuple[int, ...] = (3, 6, 9, 12)
_FRIDAY = 4


def third_friday(year: int, month: int) -> date:
    """The third Friday of ``month``."""
    first = date(year, month, 1)
    return first + timedelta(days=(_FRIDAY - first.weekday()) % 7 + 14)


def ex_dates(symbol: str, start: date, end: date) -> list[Dividend]:
    """Every dividend of ``symbol`` with an ex-date in ``[start, end]``, in date order."""
    amount = QUARTERLY_AMOUNT.get(symbol.strip().upper())
    if amount is None or end < start:
        return []
    out: list[Dividend] = []
    for year in range(start.year, end.year + 1):
        for month in EX_MONTHS:
            day = third_friday(year, month)
            if start <= day <= end:
                out.append(Dividend(symbol.strip().upper(), day, amount))
    return out


def next_dividend(symbol: str, day: date) -> Dividend | None:
    """The first dividend of ``symbol`` going ex on or after ``day`` (None if it pays none)."""
    upcoming = ex_dates(symbol, day, day + timedelta(days=130))
    return upcoming[0] if upcoming else None
