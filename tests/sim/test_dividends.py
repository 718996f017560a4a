"""The simulated dividend schedule: quarterly ex-dates on third Fridays."""

from __future__ import annotations

from datetime import date

from tradelib.domain.market import Dividend
from tradelib.sim.dividends import ex_dates, next_dividend, third_friday


def test_ex_dates_are_the_third_fridays_of_the_quarter_end_months() -> None:
    assert third_friday(2026, 12) == date(2026, 12, 18)
    days = [d.ex_date for d in ex_dates("SPY", date(2026, 1, 1), date(2026, 12, 31))]
    assert days == [date(2026, 3, 20), date(2026, 6, 19), date(2026, 9, 18), date(2026, 12, 18)]


def test_the_next_dividend_is_on_or_after_the_day_and_vix_pays_none() -> None:
    assert next_dividend("SPY", date(2026, 11, 24)) == Dividend("SPY", date(2026, 12, 18), 1.75)
    assert next_dividend("qqq", date(2026, 12, 18)) == Dividend("QQQ", date(2026, 12, 18), 0.70)
    assert next_dividend("VIX", date(2026, 11, 24)) is None
