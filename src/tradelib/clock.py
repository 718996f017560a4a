"""Clocks: the one place that reads wall time, and a simulated clock that can run fast.

Everything else takes a ``Clock`` (or a timestamp) so that tests and simulations
control time. Every ``now()`` is a timezone-aware UTC datetime.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from tradelib.markethours import require_utc


@runtime_checkable
class Clock(Protocol):
    """Anything that tells the current time as a timezone-aware UTC datetime."""

    def now(self) -> datetime:
        """Return the current time (UTC)."""
        ...


class WallClock:
    """The real time of this machine."""

    def now(self) -> datetime:
        """Return the wall-clock time (UTC)."""
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "WallClock()"


class SimClock:
    """A simulated clock that never goes backwards.

    Stopped, it moves only by ``advance``/``set``. Running, it follows the wall
    clock multiplied by ``speed`` from the moment it started (``speed=390``
    plays a 6.5-hour session in a minute). ``wall`` is the monotonic seconds
    source, injectable for tests.
    """

    def __init__(
        self,
        start: datetime,
        speed: float = 1.0,
        running: bool = False,
        *,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed!r}")
        self._speed = float(speed)
        self._wall = wall
        self._anchor = require_utc(start, "start")
        self._anchor_wall = wall()
        self._running = bool(running)
        self._last = self._anchor

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"SimClock({self.now().isoformat()}, speed={self._speed:g}, {state})"

    @property
    def speed(self) -> float:
        """Simulated seconds per wall-clock second while running."""
        return self._speed

    @property
    def running(self) -> bool:
        """Whether the clock follows the wall clock."""
        return self._running

    def now(self) -> datetime:
        """Return the simulated time (UTC)."""
        if self._running:
            elapsed = max(0.0, self._wall() - self._anchor_wall) * self._speed
            current = self._anchor + timedelta(seconds=elapsed)
            # Guard against a wall source that steps back (or float rounding).
            self._last = max(self._last, current)
        return self._last

    def _rebase(self, ts: datetime) -> None:
        self._anchor = ts
        self._anchor_wall = self._wall()
        self._last = ts

    def start(self) -> None:
        """Start following the wall clock (from the current simulated time)."""
        if not self._running:
            self._rebase(self.now())
            self._running = True

    def stop(self) -> None:
        """Freeze the clock at the current simulated time."""
        if self._running:
            self._rebase(self.now())
            self._running = False

    def advance(self, seconds: float) -> datetime:
        """Move forward by ``seconds`` (>= 0) and return the new time."""
        if not seconds >= 0:
            raise ValueError(
                f"seconds must be >= 0 (the clock never goes backwards), got {seconds!r}"
            )
        self._rebase(self.now() + timedelta(seconds=seconds))
        return self._last

    def set(self, ts: datetime) -> datetime:
        """Jump to ``ts``; raise ``ValueError`` if it is before the current time."""
        target = require_utc(ts, "ts")
        current = self.now()
        if target < current:
            raise ValueError(
                f"ts {target.isoformat()} is before the clock's current time "
                f"{current.isoformat()}; the clock never goes backwards"
            )
        self._rebase(target)
        return target
