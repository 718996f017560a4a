"""The due-job logic, pure: tasks + last starts + now + the XNYS calendar -> due jobs."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tradelib.markethours import MarketHours
from tradelib.scheduler import Task, decide, due_jobs

from .conftest import et

HOURS = MarketHours("XNYS")
NY = ZoneInfo("America/New_York")
SYNC = Task("sync", every_minutes=5, market_hours_only=True, timeout_minutes=5)
ENTRY = Task("entry", every_minutes=30, market_hours_only=True, timeout_minutes=10)
VARIANCE = Task("variance", every_minutes=1440, market_hours_only=False, timeout_minutes=10)


def simulate(
    task: Task, start: datetime, end: datetime, last: datetime | None = None
) -> list[datetime]:
    """Tick every minute from ``start`` to ``end``; a due job starts at once. Return the starts."""
    starts: list[datetime] = []
    now = start
    while now <= end:
        if decide(task, starts[-1] if starts else last, now, HOURS, NY).due:
            starts.append(now)
        now += timedelta(minutes=1)
    return starts


def test_market_hours_job_waits_for_the_open_and_runs_on_it() -> None:
    before = decide(SYNC, None, et(24, 9, 29), HOURS, NY)
    assert not before.due
    assert before.reason == "market closed"
    assert before.next_at == et(24, 9, 30)
    at_open = decide(SYNC, et(23, 15, 55), et(24, 9, 30), HOURS, NY)
    assert at_open.due
    assert at_open.slot == et(24, 9, 30)


def test_a_job_runs_once_per_slot_then_again_after_its_interval() -> None:
    assert not decide(SYNC, et(24, 9, 30), et(24, 9, 34), HOURS, NY).due
    assert decide(SYNC, et(24, 9, 30), et(24, 9, 35), HOURS, NY).due


def test_a_late_tick_runs_the_missed_slot_once_then_falls_back_in_step() -> None:
    late = et(24, 9, 37) + timedelta(seconds=40)
    assert decide(SYNC, et(24, 9, 30), late, HOURS, NY).due
    assert not decide(SYNC, late, et(24, 9, 39), HOURS, NY).due
    assert decide(SYNC, late, et(24, 9, 40), HOURS, NY).due


def test_a_regular_day_runs_entry_every_half_hour_from_the_open_to_the_close() -> None:
    starts = simulate(ENTRY, et(24, 9, 0), et(24, 16, 30))
    assert starts[0] == et(24, 9, 30)
    assert starts[-1] == et(24, 15, 30)
    assert len(starts) == 13
    assert all(b - a == timedelta(minutes=30) for a, b in itertools.pairwise(starts))


def test_the_close_stops_a_job_that_is_still_due() -> None:
    # sync last ran at 15:55; at 16:00 its next slot has come, but so has the close
    closed = decide(SYNC, et(24, 15, 55), et(24, 16, 0), HOURS, NY)
    assert not closed.due
    assert closed.reason == "market closed"
    assert closed.next_at == et(25, 9, 30)
    assert decide(SYNC, et(24, 15, 50), et(24, 15, 59), HOURS, NY).due


def test_the_early_close_after_thanksgiving_ends_the_day_at_1pm() -> None:
    starts = simulate(ENTRY, et(27, 9, 0), et(27, 16, 30))
    assert starts[-1] == et(27, 12, 30)
    assert len(starts) == 7
    sync_starts = simulate(SYNC, et(27, 12, 0), et(27, 16, 0))
    assert sync_starts[-1] == et(27, 12, 55)
    after = decide(SYNC, et(27, 12, 55), et(27, 13, 0), HOURS, NY)
    assert not after.due
    assert after.next_at == et(30, 9, 30)  # the next session is Monday's


def test_thanksgiving_runs_no_market_hours_job_but_the_daily_jobs_still_run() -> None:
    assert simulate(SYNC, et(26, 0, 0), et(26, 23, 59)) == []
    assert simulate(VARIANCE, et(26, 0, 0), et(26, 23, 59)) == [et(26, 0, 0)]


def test_the_weekend_runs_daily_jobs_at_new_york_midnight_only() -> None:
    tasks = [SYNC, ENTRY, VARIANCE]
    saturday_midnight = et(28, 0, 0)
    assert due_jobs(tasks, {"variance": et(27, 0, 0)}, saturday_midnight, HOURS, NY) == ["variance"]
    assert due_jobs(tasks, {"variance": saturday_midnight}, et(28, 11, 0), HOURS, NY) == []
    assert simulate(SYNC, et(28, 0, 0), et(29, 23, 59)) == []


def test_daily_jobs_follow_local_midnight_across_the_dst_change() -> None:
    # 2026-11-01: New York falls back from EDT to EST; midnight moves from 04:00 to 05:00 UTC
    start = datetime(2026, 10, 30, 12, 0, tzinfo=NY)
    starts = simulate(VARIANCE, start, start + timedelta(days=4), last=start)
    assert [s.astimezone(NY).strftime("%m-%d %H:%M") for s in starts] == [
        "10-31 00:00",
        "11-01 00:00",
        "11-02 00:00",
        "11-03 00:00",
    ]
    assert [s.astimezone(UTC).hour for s in starts] == [4, 4, 5, 5]


def test_a_shorter_interval_set_at_runtime_takes_effect_at_the_next_tick() -> None:
    last = et(24, 10, 5)
    slower = Task("sync", every_minutes=15, market_hours_only=True, timeout_minutes=5)
    assert not decide(slower, last, et(24, 10, 7), HOURS, NY).due
    assert not decide(slower, last, et(24, 10, 14), HOURS, NY).due
    assert decide(slower, last, et(24, 10, 15), HOURS, NY).due
    faster = Task("sync", every_minutes=1, market_hours_only=True, timeout_minutes=5)
    assert decide(faster, last, et(24, 10, 6), HOURS, NY).due


def test_a_market_hours_job_can_become_an_any_time_job() -> None:
    anytime = Task("sync", every_minutes=60, market_hours_only=False, timeout_minutes=5)
    at_night = decide(anytime, et(24, 22, 0), et(24, 23, 0), HOURS, NY)
    assert at_night.due
    assert at_night.next_at == et(25, 0, 0)


def test_a_disabled_job_is_never_due() -> None:
    off = Task("sync", every_minutes=5, market_hours_only=True, timeout_minutes=5, enabled=False)
    decision = decide(off, None, et(24, 10, 0), HOURS, NY)
    assert not decision.due
    assert decision.reason == "disabled"
    assert decision.next_at is None


def test_due_jobs_keep_the_task_order_and_refuse_a_naive_time() -> None:
    assert due_jobs([VARIANCE, SYNC, ENTRY], {}, et(24, 10, 0), HOURS, NY) == [
        "variance",
        "sync",
        "entry",
    ]
    with pytest.raises(ValueError, match="now"):
        decide(SYNC, None, datetime(2026, 11, 24, 15, 0), HOURS, NY)
