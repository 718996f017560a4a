"""Trading days through the real jobs: the loop the demo and the backtest share.

One simulated day is what the scheduler would run on it: sync after the open,
entry, monitoring several times, sync after the close (expiries and
assignments are booked there), variance at night. Each job is the same
``run_<job>(ctx)`` the scheduled notebooks call; the broker is a ``SimBroker``
over a simulated or modelled market and the lake is whatever the caller gives
(a ``MemoryLake`` for a backtest, the workspace lake for the demo). After each
day the book invariants are checked and a violation stops the run, naming
the day, the strategy and the numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from tradelib.book import check_book, raise_on_violations
from tradelib.broker.port import Broker
from tradelib.jobs.context import JobContext
from tradelib.jobs.entry import run_entry
from tradelib.jobs.monitoring import MonitoringWorkflow
from tradelib.jobs.snapshot import record_account, record_positions
from tradelib.jobs.sync import run_sync
from tradelib.jobs.variance import run_variance
from tradelib.markethours import MarketHours

JOBS = ("sync", "entry", "monitoring", "variance")
_AFTER_CLOSE = {"sync": 10, "variance": 20}  # minutes after the close


@dataclass(frozen=True, slots=True)
class JobSlot:
    """One job at one time of a simulated day."""

    job: str
    at: datetime


def day_slots(
    hours: MarketHours,
    day: date,
    *,
    monitoring_cycles: int = 5,
    sync_after_open_min: int = 10,
    entry_after_open_min: int = 30,
) -> list[JobSlot]:
    """When each job runs on ``day``: ``monitoring_cycles`` cycles spread over the session.

    Monitoring runs from an hour after the entry to ten minutes before the
    close (early closes respected), the first sync after the open, the second
    and the variance job after the close.
    """
    if monitoring_cycles < 1:
        raise ValueError(f"monitoring_cycles must be >= 1, got {monitoring_cycles}")
    open_, close = hours.session_bounds(day)
    slots = [
        JobSlot("sync", open_ + timedelta(minutes=sync_after_open_min)),
        JobSlot("entry", open_ + timedelta(minutes=entry_after_open_min)),
    ]
    first = open_ + timedelta(minutes=entry_after_open_min + 30)
    last = close - timedelta(minutes=10)
    if monitoring_cycles == 1 or last <= first:
        times = [min(first, last)]
    else:
        step = (last - first) / (monitoring_cycles - 1)
        times = [first + step * i for i in range(monitoring_cycles)]
    slots += [JobSlot("monitoring", t.replace(microsecond=0)) for t in times if open_ < t < close]
    slots += [JobSlot(job, close + timedelta(minutes=m)) for job, m in _AFTER_CLOSE.items()]
    return sorted(slots, key=lambda s: s.at)


@dataclass(frozen=True, slots=True)
class DayResult:
    """What one simulated day did."""

    day: date
    entered: int
    closed: int
    jobs: int
    net_liquidation: float
    cash: float
    init_margin: float
    day_pnl: float
    positions: int


def run_job(
    job: str, ctx: JobContext, at: datetime, monitor: MonitoringWorkflow
) -> tuple[int, int]:
    """Run ``job`` at ``at`` (the simulated market moves there first); (entered, closed)."""
    broker = ctx.broker
    gap = (at - broker.now()).total_seconds()
    if gap > 0:
        broker.wait(gap)
    entered = closed = 0
    if job == "sync":
        run_sync(ctx, at=at)
    elif job == "entry":
        entered = len(run_entry(ctx, at=at).entered)
    elif job == "monitoring":
        closed = len(monitor.run_cycle(at).closed)  # one workflow a day: streams persist
    elif job == "variance":
        run_variance(ctx, at=at)
    else:
        raise ValueError(f"unknown job {job!r}; known: {', '.join(JOBS)}")
    record_account(broker, ctx.lake)
    record_positions(broker, ctx.lake, broker.now())
    return entered, closed


def run_day(
    ctx: JobContext,
    day: date,
    slots: list[JobSlot],
    *,
    starting_cash: float | None,
    check: bool = True,
) -> DayResult:
    """Run ``slots`` on ``day`` through the jobs, then check the book invariants."""
    monitor = MonitoringWorkflow.from_config(ctx.cfg, ctx.broker, ctx.lake, hours=ctx.hours)
    entered = closed = 0
    try:
        for slot in slots:
            e, c = run_job(slot.job, ctx, slot.at, monitor)
            entered, closed = entered + e, closed + c
    finally:
        monitor.close()
    if check:
        raise_on_violations(check_book(ctx.broker, ctx.lake, day=day, starting_cash=starting_cash))
    account = ctx.broker.account()
    return DayResult(
        day,
        entered,
        closed,
        len(slots),
        account.net_liquidation,
        account.cash,
        account.init_margin if math.isfinite(account.init_margin) else 0.0,
        account.day_pnl if math.isfinite(account.day_pnl) else 0.0,
        len(ctx.broker.positions()),
    )


DayHook = Callable[[DayResult, Broker], None]
