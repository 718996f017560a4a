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
        notebook_days=2,  # both days through the scheduler: each leaves a replayable record
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


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_replaying_each_scheduled_day_from_the_lake_decides_exactly_what_the_jobs_did(
    month: tuple[Path, MonthSummary], capsys: pytest.CaptureFixture[str]
) -> None:
    """Replay parity (issue 15): the day's jobs again over its market tape, from its start."""
    from tradelib.backtest.replay import replay_day
    from tradelib.cli import main
    from tradelib.stores.replay import replayable_days

    tmp, summary = month
    lake = Lake(tmp / "lake")
    assert replayable_days(lake) == summary.days
    traded = 0
    for day in summary.days:
        result = replay_day(lake, day)
        assert result.parity, "\n".join(result.lines())
        assert result.jobs == [s.job for s in day_slots(MarketHours(), day)]
        assert result.day_rows["decisions"] > 0
        traded += result.day_rows["orders"] + result.day_rows["executions"]
        assert result.answers_asked > 0
    assert traded > 0, "the replayed days placed and filled orders"

    # The same through the command line: exit 0 and the verdict printed.
    with pytest.raises(SystemExit) as info:
        main(
            [
                "backtest",
                "--source",
                "lake",
                "--day",
                str(summary.days[0]),
                "--lake",
                str(tmp / "lake"),
                "-q",
            ]
        )
    out = capsys.readouterr().out
    assert info.value.code in (0, None) and "100% parity" in out


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_replay_under_another_rule_is_told_apart_from_the_live_day(
    month: tuple[Path, MonthSummary],
) -> None:
    """Parity bites: with one underlying fewer, the entry day no longer matches."""
    from tradelib.backtest.replay import ReplayError, replay_day
    from tradelib.stores.replay import read_checkpoint

    tmp, summary = month
    lake = Lake(tmp / "lake")
    day = summary.days[0]
    live_cfg = TradingConfig.model_validate_json(read_checkpoint(lake, day).config_json)
    held = live_cfg.strategies.underlyings
    other = live_cfg.with_overrides({"strategies.underlyings": list(held[:-1])})
    try:
        result = replay_day(lake, day, cfg=other)
    except ReplayError as exc:  # or it asked the market something the day never asked
        assert "market tape has no answer" in str(exc)
    else:
        assert not result.parity
        assert result.comparison is not None
        strategies = next(t for t in result.comparison.tables if t.table == "strategies")
        assert strategies.only_a, "the live day's strategy on the dropped underlying is missing"
