"""The full demo, shortened to two trading days: in-process jobs, then the scheduler's papermill runs."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
import yaml

from tradelib.config import TradingConfig, workspace_root
from tradelib.demo.month import MonthSummary, day_slots, demo_days, run_demo_month
from tradelib.lake import Lake
from tradelib.markethours import MarketHours

END = date(2026, 11, 24)


def test_day_plan_respects_early_closes_and_holidays() -> None:
    hours = MarketHours()
    full = day_slots(hours, date(2026, 11, 24))
    assert [s.job for s in full] == [
        "sync", "entry", "monitoring", "monitoring", "monitoring", "monitoring", "monitoring", "sync", "variance",
    ]  # fmt: skip
    early = day_slots(hours, date(2026, 11, 27))  # closes 13:00 New York
    _, close = hours.session_bounds(date(2026, 11, 27))
    assert all(s.at < close for s in early if s.job in ("entry", "monitoring"))
    assert [s.at for s in early] == sorted(s.at for s in early)
    assert demo_days(hours, date(2026, 11, 26), 2) == [date(2026, 11, 24), date(2026, 11, 25)]


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, MonthSummary]:
    tmp = tmp_path_factory.mktemp("demo")
    cfg = TradingConfig().with_overrides(
        {
            "storage.lake_uri": str(tmp / "lake"),
            "storage.runs_dir": str(tmp / "runs"),
            "simulation.state_path": str(tmp / "sim" / "broker.pkl"),
        }
    )
    config_path = tmp / "trading_config.yaml"
    config_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude={"ib": {"account"}})))
    summary = run_demo_month(
        cfg,
        root=workspace_root(),
        lake=Lake(tmp / "lake"),
        days=2,
        end=END,
        config_path=config_path,
        progress=lambda _m: None,
    )
    return tmp, summary


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_demo_days_trade_and_leave_notebooks_and_job_runs(
    month: tuple[Path, MonthSummary],
) -> None:
    tmp, summary = month
    assert summary.days == [date(2026, 11, 23), END]
    assert summary.notebooks_failed == []
    assert summary.entered > 0
    lake = Lake(tmp / "lake")
    strategies = lake.read("strategies").collect()
    assert strategies.filter(pl.col("status") == "open").height == summary.open_strategies > 0
    runs = lake.read("job_runs").collect()
    assert set(runs["job"]) == {"sync", "entry", "monitoring", "variance", "maintenance"}
    assert (runs["status"] == "success").all()
    archived = sorted((tmp / "runs").rglob("*.ipynb"))
    assert len(archived) == summary.notebooks_run
    decisions = lake.read("decisions").collect()
    assert decisions.height > 0 and decisions["reason"].str.len_chars().min() > 0
    assert lake.read("predictions").collect().height >= summary.entered
    assert lake.read("account_snapshots").collect().height >= 2 * 9
    assert lake.read("futures_bars").select("symbol").unique().collect().height == 6


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_month_of_trading_keeps_the_book_whole_every_day(tmp_path: Path) -> None:
    """21 trading days in-process with the book invariants checked after each (any
    violation raises BookInvariantError naming day, strategy and numbers)."""
    from tradelib.book.summary import summarize

    cfg = TradingConfig().with_overrides(
        {
            "storage.lake_uri": str(tmp_path / "lake"),
            "storage.runs_dir": str(tmp_path / "runs"),
            "simulation.state_path": str(tmp_path / "sim" / "broker.pkl"),
        }
    )
    lake = Lake(tmp_path / "lake")
    summary = run_demo_month(
        cfg,
        root=workspace_root(),
        lake=lake,
        days=21,
        end=END,
        notebook_days=0,
        progress=lambda _m: None,
    )

    assert summary.book_checks == 21
    book = summarize(lake)
    assert book.entered == summary.entered > 0
    assert sum(book.closed_by_reason.values()) > 0
    # The lake's last account snapshot is the account the demo ended with.
    assert book.net_liq_end is not None and abs(book.net_liq_end - summary.net_liq_end) < 0.01
