"""Which jobs are due: a pure function of the tasks, their last starts, the time and the calendar.

Runs sit on a grid of ``every_minutes`` slots and a job is due when no run has
started in the current slot yet. The grid keeps a schedule regular however late
a tick fires (cron, a busy machine): a job that missed its slot runs once at the
next tick, then falls back in step, and a changed interval takes effect at once.

* ``market_hours_only`` jobs: slots start at each session's open (09:30 New York
  time, so a 30-minute job runs at 09:30, 10:00, ...) and only while the session
  is open, holidays and early closes included. A job still due when the session
  closes is skipped, never run after hours; its next slot is the next open.
* Other jobs: slots are aligned to wall-clock time in the scheduler's time zone
  from a Monday midnight, so a 60-minute job runs on the hour and a 1440-minute
  job at local midnight, every day including weekends and holidays.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Protocol

from tradelib.markethours import require_utc
from tradelib.scheduler.tasks import Task

# any-time slots count wall-clock minutes from here (a Monday, so weekly slots start on Mondays)
_EPOCH = datetime(2000, 1, 3)
_MINUTE = timedelta(minutes=1)


class SessionCalendar(Protocol):
    """The part of ``MarketHours`` the due logic needs."""

    def session_for(self, ts: datetime) -> date | None:
        """Return the session in progress at ``ts``, or None."""
        ...

    def session_bounds(self, day: date) -> tuple[datetime, datetime]:
        """Return the ``(open, close)`` of ``day``'s session."""
        ...

    def next_open(self, ts: datetime) -> datetime:
        """Return the first session open after ``ts``."""
        ...


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether one job is due now, why, and when it will next be."""

    job: str
    due: bool
    reason: str
    slot: datetime | None  # start of the current slot; None when closed or disabled
    next_at: datetime | None  # the next slot start; None when disabled


def _fmt(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _anytime_slot(every: int, now: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    local = now.astimezone(tz).replace(tzinfo=None)
    index = ((local - _EPOCH) // _MINUTE) // every
    start_local = _EPOCH + index * every * _MINUTE
    start = start_local.replace(tzinfo=tz).astimezone(UTC)
    following = (start_local + every * _MINUTE).replace(tzinfo=tz).astimezone(UTC)
    # a slot starting in a DST gap maps past ``now``; it began at the latest now
    return min(start, now), following


def decide(
    task: Task,
    last_start: datetime | None,
    now: datetime,
    hours: SessionCalendar,
    tz: tzinfo,
) -> Decision:
    """Return whether ``task`` is due at ``now`` given the start of its last run."""
    now = require_utc(now, "now")
    if not task.enabled:
        return Decision(task.job, False, "disabled", None, None)
    every = task.every_minutes * _MINUTE
    if task.market_hours_only:
        day = hours.session_for(now)
        if day is None:
            return Decision(task.job, False, "market closed", None, hours.next_open(now))
        session_open, close = hours.session_bounds(day)
        slot = session_open + ((now - session_open) // every) * every
        following = slot + every
        next_at = following if following < close else hours.next_open(now)
    else:
        slot, next_at = _anytime_slot(task.every_minutes, now, tz)
    if last_start is not None and require_utc(last_start, "last_start") >= slot:
        return Decision(task.job, False, f"already started at {_fmt(last_start)}", slot, next_at)
    return Decision(task.job, True, f"due: slot {_fmt(slot)} not started yet", slot, next_at)


def decide_all(
    tasks: Iterable[Task],
    last_starts: Mapping[str, datetime],
    now: datetime,
    hours: SessionCalendar,
    tz: tzinfo,
) -> list[Decision]:
    """Return one decision per task, in the tasks' order."""
    return [decide(task, last_starts.get(task.job), now, hours, tz) for task in tasks]


def due_jobs(
    tasks: Iterable[Task],
    last_starts: Mapping[str, datetime],
    now: datetime,
    hours: SessionCalendar,
    tz: tzinfo,
) -> list[str]:
    """Return the names of the jobs due at ``now``, in the tasks' order."""
    return [d.job for d in decide_all(tasks, last_starts, now, hours, tz) if d.due]
