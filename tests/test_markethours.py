"""Exchange hours: holidays, early closes, futures hours, and refusing naive datetimes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import numpy as np
import pytest

from tradelib import markethours
from tradelib.markethours import NEW_YORK, MarketHours


def ny(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=NEW_YORK).astimezone(UTC)


@pytest.fixture(scope="module")
def hours() -> MarketHours:
    return MarketHours()


def test_thanksgiving_is_closed_and_the_day_after_closes_at_1300_new_york(
    hours: MarketHours,
) -> None:
    assert not hours.is_trading_day(date(2026, 11, 26))
    assert not hours.is_open(ny(2026, 11, 26, 11))
    open_, close = hours.session_bounds(date(2026, 11, 27))
    assert open_.astimezone(NEW_YORK).time() == time(9, 30)
    assert close.astimezone(NEW_YORK).time() == time(13, 0)
    assert hours.is_open(ny(2026, 11, 27, 12, 59))
    assert not hours.is_open(ny(2026, 11, 27, 13, 0))


def test_regular_session_is_0930_to_1600_with_close_exclusive(hours: MarketHours) -> None:
    assert not hours.is_open(ny(2026, 11, 24, 9, 29))
    assert hours.is_open(ny(2026, 11, 24, 9, 30))
    assert hours.session_for(ny(2026, 11, 24, 15, 59)) == date(2026, 11, 24)
    assert hours.session_for(ny(2026, 11, 24, 16, 0)) is None
    assert hours.session_for(ny(2026, 11, 28, 12)) is None  # Saturday


def test_good_friday_and_christmas_observed_are_holidays(hours: MarketHours) -> None:
    assert not hours.is_trading_day(date(2027, 3, 26))
    assert not hours.is_trading_day(date(2026, 12, 25))
    assert not hours.is_trading_day(date(2027, 12, 24))  # Christmas 2027 falls on a Saturday


def test_next_open_and_close_skip_weekend_and_holiday(hours: MarketHours) -> None:
    wed_evening = ny(2026, 11, 25, 17)
    assert hours.next_open(wed_evening) == ny(2026, 11, 27, 9, 30)
    assert hours.next_close(wed_evening) == ny(2026, 11, 27, 13, 0)
    assert hours.next_open(ny(2026, 11, 27, 10)) == ny(2026, 11, 30, 9, 30)
    assert hours.previous_close(ny(2026, 11, 30, 9)) == ny(2026, 11, 27, 13)


def test_trading_days_and_previous_trading_day(hours: MarketHours) -> None:
    assert hours.trading_days(date(2026, 11, 24), date(2026, 11, 30)) == [
        date(2026, 11, 24),
        date(2026, 11, 25),
        date(2026, 11, 27),
        date(2026, 11, 30),
    ]
    assert hours.previous_trading_day(date(2026, 11, 27)) == date(2026, 11, 25)
    assert hours.previous_trading_day(date(2026, 11, 30)) == date(2026, 11, 27)
    assert hours.next_trading_day(date(2026, 11, 25)) == date(2026, 11, 27)


def test_futures_trade_sunday_evening_to_friday_with_a_daily_halt(hours: MarketHours) -> None:
    assert not hours.futures_is_open(ny(2026, 11, 29, 17, 59))  # Sunday before the open
    assert hours.futures_is_open(ny(2026, 11, 29, 18, 0))
    assert hours.futures_is_open(ny(2026, 12, 1, 3, 0))  # overnight
    assert not hours.futures_is_open(ny(2026, 12, 1, 17, 30))  # daily halt
    assert hours.futures_is_open(ny(2026, 12, 1, 18, 0))
    assert hours.futures_is_open(ny(2026, 12, 4, 16, 59))
    assert not hours.futures_is_open(ny(2026, 12, 4, 17, 0))  # Friday close
    assert not hours.futures_is_open(ny(2026, 12, 5, 12, 0))  # Saturday


def test_futures_are_closed_on_a_full_holiday_and_reopen_that_evening(hours: MarketHours) -> None:
    assert not hours.futures_is_open(ny(2026, 11, 25, 20))  # trade date = Thanksgiving
    assert not hours.futures_is_open(ny(2026, 11, 26, 10))
    assert hours.futures_is_open(ny(2026, 11, 26, 18))  # trade date = Friday
    intervals = hours.futures_open_intervals(ny(2026, 11, 25, 16), ny(2026, 11, 27, 16))
    assert intervals == [
        (ny(2026, 11, 25, 16), ny(2026, 11, 25, 17)),
        (ny(2026, 11, 26, 18), ny(2026, 11, 27, 16)),
    ]


def test_naive_datetimes_and_datetimes_as_days_are_refused_by_name(hours: MarketHours) -> None:
    with pytest.raises(ValueError, match="ts must be timezone-aware"):
        hours.is_open(datetime(2026, 11, 24, 15))
    with pytest.raises(ValueError, match="ts must be timezone-aware"):
        hours.futures_is_open(datetime(2026, 11, 24, 15))
    with pytest.raises(ValueError, match=r"day must be a datetime\.date"):
        hours.is_trading_day(datetime(2026, 11, 24, tzinfo=UTC))
    with pytest.raises(ValueError, match="not a trading day"):
        hours.session_bounds(date(2026, 11, 26))
    with pytest.raises(ValueError, match="unknown exchange calendar"):
        MarketHours("NOPE")


def test_non_utc_aware_inputs_are_accepted_and_answers_are_utc(hours: MarketHours) -> None:
    local = datetime(2026, 11, 24, 10, 0, tzinfo=NEW_YORK)
    assert hours.is_open(local)
    assert hours.next_close(local).tzinfo == UTC


# --- the sessions kept on disk between processes ---------------------------------------------


def _fresh_sessions(monkeypatch: pytest.MonkeyPatch, where: Path) -> None:
    monkeypatch.setenv("TRADELIB_CACHE_DIR", str(where))
    markethours._load_calendar.cache_clear()
    markethours._load_sessions.cache_clear()


def test_the_sessions_a_process_built_are_read_back_identical_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fresh_sessions(monkeypatch, tmp_path)
    built = markethours._load_calendar("XNYS", date(2024, 1, 1), date(2026, 12, 31))
    (kept,) = tmp_path.glob("calendar*-XNYS-2024-01-01-2026-12-31-xcals*.npz")
    markethours._load_calendar.cache_clear()
    monkeypatch.setattr(  # the next process never builds the calendar
        markethours, "_write_sessions", lambda *_: pytest.fail("rebuilt a kept calendar")
    )
    read = markethours._load_calendar("XNYS", date(2024, 1, 1), date(2026, 12, 31))
    for a, b in zip(built, read, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    hours = MarketHours("XNYS", first_day=date(2024, 1, 1), last_day=date(2026, 12, 31))
    assert hours.is_trading_day(date(2026, 11, 27)) and not hours.is_trading_day(date(2026, 11, 26))
    assert kept.stat().st_size > 0
    markethours._load_calendar.cache_clear()
    markethours._load_sessions.cache_clear()


def test_a_damaged_kept_calendar_is_rebuilt_and_an_unwritable_cache_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fresh_sessions(monkeypatch, tmp_path)
    good = markethours._load_calendar("XNYS", date(2025, 1, 1), date(2025, 12, 31))
    (kept,) = tmp_path.glob("calendar*-XNYS-2025-*.npz")
    whole = kept.read_bytes()
    for damaged in (b"not a numpy archive", b"", whole[: len(whole) // 2]):
        kept.write_bytes(damaged)  # garbage, empty (a crash), truncated
        markethours._load_calendar.cache_clear()
        again = markethours._load_calendar("XNYS", date(2025, 1, 1), date(2025, 12, 31))
        assert all(np.array_equal(a, b) for a, b in zip(good, again, strict=True))
        assert markethours._read_sessions(kept) is not None  # rewritten whole
    assert [p.name for p in tmp_path.iterdir()] == [kept.name]  # no temporary file left

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    _fresh_sessions(monkeypatch, blocked / "cache")  # a directory under a file: unwritable
    third = markethours._load_calendar("XNYS", date(2025, 1, 1), date(2025, 12, 31))
    assert all(np.array_equal(a, b) for a, b in zip(good, third, strict=True))
    markethours._load_calendar.cache_clear()
    markethours._load_sessions.cache_clear()
