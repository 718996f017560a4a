"""Clocks: wall time is UTC-aware; the simulated clock moves forward only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tradelib.clock import Clock, SimClock, WallClock

START = datetime(2026, 11, 24, 14, 45, tzinfo=UTC)


class FakeWall:
    """A monotonic-seconds source the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_wall_clock_is_timezone_aware_utc() -> None:
    now = WallClock().now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert isinstance(WallClock(), Clock)


def test_stopped_sim_clock_moves_only_when_told() -> None:
    wall = FakeWall()
    clock = SimClock(START, wall=wall)
    wall.t += 3600
    assert clock.now() == START
    clock.advance(90)
    assert clock.now() == START + timedelta(seconds=90)
    clock.set(START + timedelta(hours=2))
    assert clock.now() == START + timedelta(hours=2)
    assert isinstance(clock, Clock)


def test_sim_clock_never_goes_backwards() -> None:
    clock = SimClock(START)
    clock.advance(60)
    with pytest.raises(ValueError, match="never goes backwards"):
        clock.set(START)
    with pytest.raises(ValueError, match="seconds must be >= 0"):
        clock.advance(-1)


def test_running_sim_clock_follows_wall_time_times_speed() -> None:
    wall = FakeWall()
    clock = SimClock(START, speed=390.0, running=True, wall=wall)
    wall.t += 60.0  # one wall minute plays a whole 6.5-hour session
    assert clock.now() == START + timedelta(hours=6.5)
    clock.advance(30)
    wall.t += 1.0
    assert clock.now() == START + timedelta(hours=6.5, seconds=30 + 390)


def test_running_sim_clock_holds_still_if_the_wall_source_steps_back() -> None:
    wall = FakeWall()
    clock = SimClock(START, speed=10.0, running=True, wall=wall)
    wall.t += 5.0
    seen = clock.now()
    wall.t -= 3.0
    assert clock.now() == seen


def test_stop_freezes_and_start_resumes_from_the_frozen_time() -> None:
    wall = FakeWall()
    clock = SimClock(START, speed=2.0, running=True, wall=wall)
    wall.t += 10.0
    clock.stop()
    wall.t += 100.0
    assert clock.now() == START + timedelta(seconds=20)
    clock.start()
    wall.t += 1.0
    assert clock.now() == START + timedelta(seconds=22)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="start must be timezone-aware"):
        SimClock(datetime(2026, 11, 24, 14, 45))
    with pytest.raises(ValueError, match="speed must be > 0"):
        SimClock(START, speed=0.0)
    with pytest.raises(ValueError, match="ts must be timezone-aware"):
        SimClock(START).set(datetime(2026, 11, 25))
