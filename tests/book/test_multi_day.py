"""A few simulated days through the real entry, monitoring and sync, with the book checked
after every sync: the fast companion of the slow week in tests/jobs/test_monitoring.py.

Each day: entry at 10:00, monitoring cycles later in the day, a sync after every one of
them, and after every sync the book invariants (tradelib.book) plus the two that matter
most spelled out here by hand: per contract the open strategies' legs add up to the
broker's position, and cash is the starting cash plus every fill's proceeds less its
commission.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from tradelib.book import check_book
from tradelib.broker.sim import SimBroker
from tradelib.config import TradingConfig
from tradelib.domain import SecType, new_york, utc
from tradelib.jobs.context import JobContext
from tradelib.jobs.entry import EntryWorkflow
from tradelib.jobs.monitoring import MonitoringWorkflow
from tradelib.jobs.sync import run_sync
from tradelib.lake import Lake
from tradelib.sim import SimMarketConfig, SimulatedMarket
from tradelib.stores.sync import strategy_from_row

START = utc(2026, 11, 24, 14, 45)  # Tuesday 09:45 New York
CASH = 1_000_000.0
DAYS = (24, 25)  # Tuesday and Wednesday before Thanksgiving, full sessions
CYCLES = ((11, 30), (12, 45))


def _cfg(root: Path) -> TradingConfig:
    return TradingConfig().with_overrides(
        {
            "storage.lake_uri": str(root / "lake"),
            "simulation.start_date": "2026-11-24",
            "strategies.underlyings": ["SPY"],
            "strategies.dte_max": 35,
            "trading_limits.max_new_entries_per_day": 2,
            # Low targets so that positions also close (and cash moves back) within the days.
            "profit_targets.fixed": 0.1,
            "profit_targets.regime": dict.fromkeys(
                ("crash", "high_vol", "normal", "low_vol", "trending", "range_bound"), 0.1
            ),
            "rules.stop_loss_multiple": 0.3,
            "risk.max_correlated_exposure": 0.95,
        }
    )


def _legs_by_contract(lake: Lake) -> dict[int, float]:
    held: dict[int, float] = defaultdict(float)
    rows = lake.read("strategies", filter=pl.col("status") == "open").collect().to_dicts()
    for row in rows:
        for leg in strategy_from_row(row).legs:
            held[leg.con_id] += leg.quantity
    return {cid: q for cid, q in held.items() if abs(q) > 1e-9}


def _broker_positions(broker: SimBroker) -> dict[int, float]:
    out: dict[int, float] = defaultdict(float)
    for p in broker.positions():
        assert p.contract.con_id is not None
        out[p.contract.con_id] += p.quantity
    return {cid: q for cid, q in out.items() if abs(q) > 1e-9}


def _expected_cash(broker: SimBroker) -> float:
    cash = CASH
    for f in broker.executions(since=START - timedelta(days=1)):
        assert f.contract.sec_type is not SecType.FUTURE
        cash -= f.quantity * f.price * f.contract.multiplier + f.commission
    return cash


def test_days_of_entries_exits_and_syncs_keep_the_book_whole(tmp_path: Path) -> None:
    broker = SimBroker(SimulatedMarket(SimMarketConfig(seed=7, start=START)), initial_cash=CASH)
    broker.connect()
    cfg = _cfg(tmp_path)
    lake = Lake(tmp_path / "lake")
    entry = EntryWorkflow.from_config(cfg, broker, lake)
    monitoring = MonitoringWorkflow.from_config(cfg, broker, lake)
    checks, entered, closed_by_us = 0, 0, 0

    def sync_and_check(label: str) -> None:
        nonlocal checks
        report = run_sync(JobContext.of(broker, lake))
        assert report.ok, (label, report)
        book = check_book(broker, lake, day=broker.now().date(), starting_cash=CASH)
        assert book.violations == (), (label, book.violations)
        assert _legs_by_contract(lake) == _broker_positions(broker), label
        assert broker.account().cash == pytest.approx(_expected_cash(broker), abs=0.01), label
        checks += 1

    for day in DAYS:
        at = new_york(2026, 11, day, 10, 0)
        broker.wait((at - broker.now()).total_seconds())
        entered += len(entry.run(broker.now()).entered)
        sync_and_check(f"day {day} after entry")
        for hh, mm in CYCLES:
            at = new_york(2026, 11, day, hh, mm)
            broker.wait((at - broker.now()).total_seconds())
            report = monitoring.run_cycle()
            closed_by_us += sum(
                1 for a in report.actions if a.outcome.value in ("closed", "rolled")
            )
            sync_and_check(f"day {day} {hh}:{mm:02d}")

    assert checks == len(DAYS) * (1 + len(CYCLES))
    assert entered >= 2, "the scenario should open positions on both days"
    assert closed_by_us >= 1, "the scenario should also close something through the executor"
    strategies = lake.read("strategies").collect()
    assert strategies.filter(pl.col("status") == "closed").height >= 1
