"""Which days a market source serves and when it quotes each: one implementation for all sources.

The simulated market, the historical-bars source and the recorded-chains source
answer ``trading_days(start, end)`` and ``quote_time(day)`` alike: days default
to the source's own range, a range reaching outside it raises the source's own
error, and quotes are taken at the session open (intraday sources) or a fixed
time before the close (one snapshot a day).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

from tradelib.markethours import MarketHours

# Builds the error for a range ``lo..hi`` that reaches outside the source's days.
OutOfRange = Callable[[date, date], Exception]


class SourceDays:
    """The days ``first..last`` a source serves on ``hours``, and when each day's quotes are taken.

    ``days`` lists the served days when they are not every session of the
    calendar (a chain file may miss some); ``before_close`` None quotes at the
    open, else that long before the close.
    """

    def __init__(
        self,
        hours: MarketHours,
        first: date,
        last: date,
        out_of_range: OutOfRange,
        *,
        days: Sequence[date] | None = None,
        before_close: timedelta | None = None,
    ) -> None:
        self.hours = hours
        self.first = first
        self.last = last
        self._out_of_range = out_of_range
        self._days = None if days is None else sorted(days)
        self._before_close = before_close

    def check(self, lo: date, hi: date) -> None:
        """Raise the source's error unless ``lo..hi`` lies within ``first..last``."""
        if lo < self.first or hi > self.last:
            raise self._out_of_range(lo, hi)

    def trading_days(self, start: date | None = None, end: date | None = None) -> list[date]:
        """Return the served days in ``[start, end]`` (default: all of them)."""
        lo = self.first if start is None else start
        hi = self.last if end is None else end
        if hi < lo:
            raise ValueError(f"end {hi} is before start {lo}")
        self.check(lo, hi)
        if self._days is None:
            return self.hours.trading_days(lo, hi)
        return self._days[bisect.bisect_left(self._days, lo) : bisect.bisect_right(self._days, hi)]

    def quote_time(self, day: date) -> datetime:
        """Return when ``day``'s quotes are taken: the open, or ``before_close`` before the close."""
        self.check(day, day)
        open_, close = self.hours.session_bounds(day)
        return open_ if self._before_close is None else close - self._before_close
