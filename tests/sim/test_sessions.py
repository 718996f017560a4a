"""SourceDays: the days a market source serves and when it quotes them."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tradelib.markethours import MarketHours
from tradelib.sim.sessions import SourceDays

HOURS = MarketHours()


def _outside(lo: date, hi: date) -> LookupError:
    return LookupError(f"{lo}..{hi}")


def test_every_session_in_range_by_default_and_the_sources_error_outside() -> None:
    days = SourceDays(HOURS, date(2026, 11, 2), date(2026, 11, 30), _outside)
    assert days.trading_days() == HOURS.trading_days(date(2026, 11, 2), date(2026, 11, 30))
    assert date(2026, 11, 26) not in days.trading_days()  # Thanksgiving
    with pytest.raises(LookupError):
        days.trading_days(date(2026, 10, 30), date(2026, 11, 5))
    with pytest.raises(ValueError, match="before start"):
        days.trading_days(date(2026, 11, 20), date(2026, 11, 10))


def test_a_listed_subset_of_days_and_a_snapshot_before_the_close() -> None:
    served = [date(2026, 11, 27), date(2026, 11, 3), date(2026, 11, 10)]
    days = SourceDays(
        HOURS,
        min(served),
        max(served),
        _outside,
        days=served,
        before_close=timedelta(minutes=15),
    )
    assert days.trading_days(date(2026, 11, 4), date(2026, 11, 27)) == [
        date(2026, 11, 10),
        date(2026, 11, 27),
    ]
    close = HOURS.session_bounds(date(2026, 11, 27))[1]  # an early close (13:00 New York)
    assert days.quote_time(date(2026, 11, 27)) == close - timedelta(minutes=15)
    with pytest.raises(LookupError):
        days.quote_time(date(2026, 12, 1))


def test_intraday_sources_quote_at_the_open() -> None:
    days = SourceDays(HOURS, date(2026, 11, 2), date(2026, 11, 30), _outside)
    assert days.quote_time(date(2026, 11, 3)) == HOURS.session_bounds(date(2026, 11, 3))[0]
