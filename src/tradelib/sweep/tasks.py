"""What a worker runs for one point: a backtest, returned compact (nothing written there).

``run_point`` is a plain importable function over picklable values, so a dask
worker (a fresh process, possibly on another machine with the same code and the
same history folders) can run it; the driver writes what comes back.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from tradelib.config import TradingConfig


@dataclass(frozen=True, slots=True)
class PointTask:
    """One backtest to run: its config, market range and seed."""

    run_id: str
    cfg: TradingConfig
    seed: int
    days: int | None
    start: date | None
    end: date | None
    history: str | None  # a history folder (absolute); None = the simulated market
    cycles_per_day: int
    history_lake: str | None = None  # or the lake holding the bars (a worker opens it)
    history_version: int | None = None  # the bars' table version every point of a run reads


@dataclass(frozen=True, slots=True)
class PointOutcome:
    """A finished point: what the backtest tables need, and where and how long it ran."""

    run_id: str
    source: str
    source_name: str
    modelled: bool
    seed: int | None
    days: list[date]
    trades: pl.DataFrame
    equity: pl.DataFrame
    stats: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0
    worker: str = ""  # host:pid


def run_point(task: PointTask) -> PointOutcome:
    """Run the point's backtest in memory and return its compact result."""
    from tradelib.backtest.run import HistoryLake, run_backtest
    from tradelib.lake import Lake
    from tradelib.lake.workspace import job_lake

    history: Path | Lake | HistoryLake | None = Path(task.history) if task.history else None
    if task.history_lake:
        # credentials: the worker's environment
        history = HistoryLake(job_lake(task.cfg, task.history_lake), task.history_version)
    result = run_backtest(
        task.cfg,
        days=task.days,
        start=task.start,
        end=task.end,
        seed=task.seed,
        history=history,
        cycles_per_day=task.cycles_per_day,
        run_id=task.run_id,
        results=None,
    )
    return PointOutcome(
        run_id=result.run_id,
        source=result.source,
        source_name=result.source_name,
        modelled=result.modelled,
        seed=result.seed,
        days=[d.day for d in result.days],
        trades=result.trades,
        equity=result.equity,
        stats=result.stats,
        wall_s=result.wall_s,
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )


def warm_up() -> str:
    """Import the backtest stack in a worker before the first point (returns host:pid)."""
    import tradelib.backtest.run  # noqa: F401

    return f"{socket.gethostname()}:{os.getpid()}"
