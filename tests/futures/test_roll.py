"""The front-month rule: quarterly third Fridays, rolled 8 calendar days before expiry."""

from __future__ import annotations

from datetime import date

from tradelib.futures.roll import (
    front_month_expiries,
    future_candidates,
    quarterly_expiry,
    should_hold,
    third_friday,
)
from tradelib.markethours import MarketHours

HOURS = MarketHours()


def test_quarterly_futures_expire_on_the_third_friday() -> None:
    assert third_friday(2026, 12) == date(2026, 12, 18)
    assert quarterly_expiry(2027, 3, HOURS) == date(2027, 3, 19)


def test_a_holiday_friday_moves_the_expiry_to_the_day_before() -> None:
    # 2026-06-19 is the third Friday of June and Juneteenth (markets closed)
    assert third_friday(2026, 6) == date(2026, 6, 19)
    assert quarterly_expiry(2026, 6, HOURS) == date(2026, 6, 18)


def test_the_front_month_is_held_until_eight_days_before_expiry() -> None:
    assert front_month_expiries(date(2026, 12, 9), 8, HOURS)[0] == date(2026, 12, 18)
    assert front_month_expiries(date(2026, 12, 10), 8, HOURS)[0] == date(2027, 3, 19)
    assert should_hold(date(2026, 12, 18), date(2026, 12, 9), 8)
    assert not should_hold(date(2026, 12, 18), date(2026, 12, 10), 8)


def test_candidates_name_the_front_and_the_next_quarter_with_the_root_multiplier() -> None:
    front, following = future_candidates("ES", date(2026, 11, 24), 8, HOURS)
    assert (front.expiry, following.expiry) == (date(2026, 12, 18), date(2027, 3, 19))
    assert front.symbol == "ES" and front.multiplier == 50.0
