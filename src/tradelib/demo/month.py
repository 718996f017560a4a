"""The full demo: a month of simulated trading days through the real jobs.

Every trading day runs the jobs the scheduler would run (sync after the open,
entry, monitoring several times a day, sync after the close, variance), and
the futures collector's data is backfilled for the analysis window. To fit a
month into a few minutes, all days but the last call the job functions
in-process against one simulated broker (the same functions the notebooks
call) over a lake in memory, written to the lake in one go when they end;
the last day runs every job as its papermill notebook through the
scheduler's runner, leaving the executed notebooks in ``runs/`` and the runs in
``job_runs``, exactly as cron would. The simulated account is saved between
the two halves, as it is between any two job processes.

The demo owns the simulated account file (``simulation.state_path``) and its
lake: a run id (seed, days, end) is kept in ``_demo_run.json`` at the lake's
root. Running the demo again over the same days once it completed writes
nothing; a run that was killed (or one over other days) starts over from a
fresh account *and* an emptied lake, never mixing two runs. A lake holding data
the demo did not write is refused (``fresh=True`` / ``--fresh`` empties it).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from tradelib import alerts
from tradelib.backtest.engine import JobSlot, run_day
from tradelib.book import check_book, raise_on_violations
from tradelib.broker.factory import sim_state_path
from tradelib.broker.port import Broker
from tradelib.broker.sim import SimBroker
from tradelib.broker.sim_state import load_sim_state, save_sim_broker, sim_session
from tradelib.config import TradingConfig
from tradelib.domain.time import NEW_YORK
from tradelib.errors import DemoLakeError
from tradelib.jobs.context import JobContext, tape_sink
from tradelib.jobs.snapshot import (
    ChainWindow,
    record_account,
    record_option_chain,
    record_positions,
)
from tradelib.lake import TABLES, Lake
from tradelib.lake.memory import MemoryLake
from tradelib.markethours import MarketHours
from tradelib.sim import SimMarketConfig, SimulatedMarket
from tradelib.stores.replay import finish_checkpoint, write_checkpoint

if TYPE_CHECKING:
    from tradelib.scheduler.runner import Runner

Progress = Callable[[str], None]

# (job, minutes after the open; negative = minutes after the close)
DAY_PLAN: tuple[tuple[str, int], ...] = (
    ("sync", 10),
    ("entry", 30),
    ("monitoring", 60),
    ("monitoring", 150),
    ("monitoring", 240),
    ("monitoring", -60),
    ("monitoring", -10),
    ("sync", 0),  # at the close: records what expired or was assigned
    ("variance", 0),
)
_AFTER_CLOSE = {"sync": 10, "variance": 20}


def day_slots(hours: MarketHours, day: date) -> list[JobSlot]:
    """When each job of ``DAY_PLAN`` runs on ``day`` (early closes respected)."""
    open_, close = hours.session_bounds(day)
    slots: list[JobSlot] = []
    seen_sync = False
    for job, minutes in DAY_PLAN:
        if job in _AFTER_CLOSE and (job != "sync" or seen_sync):
            at = close + timedelta(minutes=_AFTER_CLOSE[job])
        elif minutes >= 0:
            at = open_ + timedelta(minutes=minutes)
        else:
            at = close + timedelta(minutes=minutes)
        seen_sync = seen_sync or job == "sync"
        if job in ("entry", "monitoring") and not open_ <= at < close:
            continue  # an early close: no market-hours job after it
        if slots and at <= slots[-1].at:
            continue
        slots.append(JobSlot(job, at))
    return slots


@dataclass(slots=True)
class MonthSummary:
    days: list[date] = field(default_factory=list)
    lake_uri: str = ""
    runs_dir: str = ""
    jobs_in_process: int = 0
    notebooks_run: int = 0
    notebooks_failed: list[str] = field(default_factory=list)
    entered: int = 0
    closed: int = 0
    net_liq_start: float = math.nan
    net_liq_end: float = math.nan
    open_strategies: int = 0
    cash_start: float = math.nan
    already_complete: bool = False  # the same run was in the lake: nothing written
    book_checks: int = 0  # days whose book invariants were checked (each with zero violations)
    futures_lines: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def lines(self) -> list[str]:
        first, last = (self.days[0], self.days[-1]) if self.days else ("-", "-")
        if self.already_complete:
            return [
                f"the demo over {first} .. {last} is already complete in {self.lake_uri}: "
                "nothing new written (pass --fresh to run it again from scratch)"
            ]
        out = [
            f"simulated {len(self.days)} trading days {first} .. {last} -> lake {self.lake_uri}",
            f"  jobs run in-process: {self.jobs_in_process}; as papermill notebooks: "
            f"{self.notebooks_run} (executed notebooks in {self.runs_dir})",
            f"  strategies entered: {self.entered}, closed: {self.closed}, "
            f"open now: {self.open_strategies}",
            f"  net liquidation: {self.net_liq_start:,.2f} -> {self.net_liq_end:,.2f}",
            f"  book invariants checked after {self.book_checks} day(s): no violation",
        ]
        if self.notebooks_failed:
            out.append(f"  FAILED notebooks: {', '.join(self.notebooks_failed)}")
        out.extend(f"  {line.strip()}" for line in self.futures_lines)
        out.append(f"  finished in {self.elapsed_s:.0f}s")
        return out


def demo_days(hours: MarketHours, end: date, count: int) -> list[date]:
    """The last ``count`` trading days up to ``end`` (or the trading day before it)."""
    last = hours.trading_day_on_or_before(end)
    days = hours.trading_days(last - timedelta(days=2 * count + 10), last)
    return days[-count:]


def record_chains(cfg: TradingConfig, broker: Broker, lake: Lake) -> None:
    """Snapshot each underlying's chain (the closing marks the dashboards and research read)."""
    for underlying in cfg.strategies.underlyings:
        record_option_chain(broker, lake, underlying, ChainWindow())


MARKER = "_demo_run.json"


def demo_run_id(seed: int, days: list[date]) -> str:
    return f"demo-seed{seed}-{days[0]:%Y%m%d}-{days[-1]:%Y%m%d}-{len(days)}d"


def _marker(lake: Lake) -> Path:
    return Path(lake.root) / MARKER


def prepare_demo_lake(lake: Lake, run_id: str, *, fresh: bool = False) -> bool:
    """Make ``lake`` ready for run ``run_id``; True when that run is already complete there.

    A lake the demo wrote (its marker present) with another run, or the same run
    left incomplete by a crash, is emptied; an empty lake is taken as it is.
    """
    if not lake.is_local:
        return False  # an object-store lake: the demo only appends idempotently there
    marker = _marker(lake)
    seen = json.loads(marker.read_text()) if marker.exists() else None
    if not fresh and seen is not None and seen.get("run_id") == run_id and seen.get("complete"):
        return True
    held = [n for n in (str(t) for t in TABLES) if lake.exists(n)]
    if held and seen is None and not fresh:
        raise DemoLakeError(root=lake.root, tables=", ".join(sorted(held)[:5]))
    lake.drop_all()
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"run_id": run_id, "complete": False}))
    return False


def _mark_complete(lake: Lake, run_id: str) -> None:
    if lake.is_local:
        _marker(lake).write_text(json.dumps({"run_id": run_id, "complete": True}))


def _check_book(broker: Broker, lake: Lake, day: date, summary: MonthSummary) -> None:
    """The book invariants after ``day``: a violation stops the demo, naming it."""
    report = check_book(broker, lake, day=day, starting_cash=summary.cash_start)
    raise_on_violations(report)
    summary.book_checks += 1


def _count_notebook_days(lake: Lake, since: datetime, summary: MonthSummary) -> None:
    """Add what the scheduled (notebook) days entered and closed, as the lake records it."""
    if not lake.exists("strategies"):
        return
    rows = lake.read("strategies", columns=["opened_at", "closed_at"]).collect()
    summary.entered += rows.filter(pl.col("opened_at") >= since).height
    summary.closed += rows.filter(pl.col("closed_at") >= since).height


def run_demo_month(
    cfg: TradingConfig,
    *,
    root: Path,
    lake: Lake,
    days: int = 21,
    end: date | None = None,
    notebook_days: int = 1,
    config_path: Path | None = None,
    progress: Progress = print,
    fresh: bool = False,
) -> MonthSummary:
    """Simulate ``days`` trading days ending on ``end`` (default today) through the real jobs.

    Restartable: see the module doc (``fresh`` empties a lake the demo did not write).
    """
    from tradelib.demo.futures import run_futures_demo
    from tradelib.scheduler.runner import Runner

    started = time.perf_counter()
    hours = MarketHours(cfg.scheduler.calendar)
    today = end or datetime.now(NEW_YORK).date()
    sim_days = demo_days(hours, today, days)
    summary = MonthSummary(
        days=sim_days, lake_uri=str(lake.root), runs_dir=str(root / cfg.storage.runs_dir)
    )
    run_id = demo_run_id(cfg.simulation.seed, sim_days)
    if prepare_demo_lake(lake, run_id, fresh=fresh):
        summary.already_complete = True
        return summary
    alerts.configure(cfg, lake)
    split = len(sim_days) - notebook_days
    in_process, by_notebook = sim_days[:split], sim_days[split:]
    state = sim_state_path(cfg, root)
    progress(
        f"demo: {len(sim_days)} simulated trading days {sim_days[0]} .. {sim_days[-1]} "
        f"(seed {cfg.simulation.seed}); the last {notebook_days} through papermill notebooks"
    )
    _in_process_days(cfg, lake, hours, in_process, sim_days[0], state, run_id, summary, progress)

    runner = Runner(cfg, root=root, config_path=config_path, lake=lake, hours=hours)
    for day in by_notebook:
        _notebook_day(cfg, lake, hours, runner, day, state, summary, progress)
    if by_notebook:
        _count_notebook_days(lake, hours.session_bounds(by_notebook[0])[0], summary)
    _, last_close = hours.session_bounds(sim_days[-1])
    runner.run_job("maintenance", now=last_close + timedelta(minutes=40))
    summary.notebooks_run += 1

    with sim_session(state, lambda: None) as sim:
        record_chains(cfg, sim, lake)
        summary.net_liq_end = sim.account().net_liquidation
    summary.open_strategies = (
        lake.read("strategies").filter(status="open").select("strategy_id").collect().height
        if lake.exists("strategies")
        else 0
    )
    progress("  backfilling the futures collector's week of 1-s bars")
    futures = run_futures_demo(cfg, lake, end_day=sim_days[-1], progress=lambda _m: None)
    summary.futures_lines = futures.lines()
    _mark_complete(lake, run_id)
    summary.elapsed_s = time.perf_counter() - started
    return summary


def _in_process_days(
    cfg: TradingConfig,
    lake: Lake,
    hours: MarketHours,
    days: list[date],
    first_day: date,
    state: Path,
    run_id: str,
    summary: MonthSummary,
    progress: Progress,
) -> None:
    """A fresh simulated account trades ``days`` in-process; the account is saved to ``state``.

    The days run on a lake in memory (same schemas and write rules; the backtest
    tests book one day both ways and compare) and land in the lake in one write per
    table: Delta commits per job were most of the demo's time. Alerts go to the
    configured channels (none by default: stored as suppressed), so the dashboards
    show what a human would have been told.
    """
    state.unlink(missing_ok=True)  # the demo starts a fresh simulated account
    first_open, _ = hours.session_bounds(first_day)
    market = SimulatedMarket(
        SimMarketConfig(seed=cfg.simulation.seed, start=first_open - timedelta(minutes=5)),
        calendar=hours,
    )
    broker = SimBroker.from_config(cfg, market=market)
    broker.connect()
    summary.net_liq_start = broker.account().net_liquidation
    summary.cash_start = broker.account().cash
    work = MemoryLake(run_id)
    alerts.configure(cfg, work)
    ctx = JobContext.of(broker, work, cfg, hours)
    for day in days:
        result = run_day(ctx, day, day_slots(hours, day), starting_cash=summary.cash_start)
        record_chains(cfg, broker, work)
        summary.book_checks += 1
        summary.jobs_in_process += result.jobs
        summary.entered += result.entered
        summary.closed += result.closed
        progress(
            f"  {day}  net liq {result.net_liquidation:>12,.2f}  day P&L {result.day_pnl:>+9,.2f}  "
            f"entered {result.entered}  closed {result.closed}  positions {result.positions}"
        )
    broker.disconnect()
    save_sim_broker(broker, state)
    written = work.copy_to(lake, [str(t) for t in TABLES if work.exists(str(t))])
    progress(f"  {sum(written.values()):,} rows of {len(written)} tables written to {lake.root}")
    alerts.configure(cfg, lake)


def _notebook_day(
    cfg: TradingConfig,
    lake: Lake,
    hours: MarketHours,
    runner: Runner,
    day: date,
    state: Path,
    summary: MonthSummary,
    progress: Progress,
) -> None:
    """Run ``day``'s jobs as the scheduler's papermill notebooks, leaving a replayable record.

    The checkpoint holds the account and the lake's versions at the day's start;
    each session's tape every answer the market gives the jobs (docs/replay.md).
    """
    slots = day_slots(hours, day)
    tape = tape_sink(lake, day) if cfg.simulation.record_tape else None
    if tape is not None:
        write_checkpoint(
            lake,
            day,
            ts=load_sim_state(state).market_now,
            broker_state=state.read_bytes(),
            slots=[(s.job, s.at) for s in slots],
            config_json=cfg.model_dump_json(),  # no secrets: those come from the environment
        )
    for slot in slots:
        with sim_session(state, lambda: None, advance_to=slot.at, tape=tape):
            pass  # the simulated market moves to the job's time, as the wall clock would
        record = runner.run_job(slot.job, now=slot.at)
        summary.notebooks_run += 1
        status = str(record.status)
        if status != "success":
            summary.notebooks_failed.append(f"{slot.job}@{slot.at:%H:%M} ({status})")
        with sim_session(state, lambda: None, tape=tape) as sim:
            record_account(sim, lake)
            record_positions(sim, lake, sim.now())
        progress(
            f"  {day} {slot.at.astimezone(NEW_YORK):%H:%M} ET  {slot.job:<10} notebook: {status}"
        )
    if tape is not None:
        finish_checkpoint(lake, day)
    with sim_session(state, lambda: None) as sim:
        _check_book(sim, lake, day, summary)
