"""A backtest runs the real jobs day by day in memory, checks the book, and keeps its results."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from tradelib.backtest.engine import day_slots, run_day
from tradelib.backtest.run import BacktestResult, run_backtest
from tradelib.book.compare import compare_lakes
from tradelib.broker.sim import SimBroker
from tradelib.cli import app
from tradelib.config import TradingConfig
from tradelib.errors import BacktestError, BookInvariantError
from tradelib.jobs.context import JobContext
from tradelib.lake import Lake, TableName
from tradelib.lake.memory import MemoryLake
from tradelib.markethours import MarketHours
from tradelib.sim import SimMarketConfig, SimulatedMarket

END = date(2026, 11, 27)  # the Friday after Thanksgiving: an early close in the range
CFG = TradingConfig()
HOURS = MarketHours(CFG.scheduler.calendar)


@pytest.fixture(scope="module")
def three_days(tmp_path_factory: pytest.TempPathFactory) -> tuple[BacktestResult, Lake]:
    results = Lake(tmp_path_factory.mktemp("bt") / "lake")
    return run_backtest(CFG, days=3, end=END, results=results, run_id="bt-test"), results


def test_every_day_runs_the_jobs_and_the_book_stays_whole(
    three_days: tuple[BacktestResult, Lake],
) -> None:
    result, _ = three_days
    assert [d.day for d in result.days] == [date(2026, 11, 24), date(2026, 11, 25), END]
    # sync, entry, the monitoring cycles inside the session, sync and variance after the close
    assert [d.jobs for d in result.days] == [
        len(day_slots(HOURS, d.day, monitoring_cycles=5)) for d in result.days
    ]
    assert sum(d.entered for d in result.days) == result.trades.height > 0
    first = result.days[0]
    assert first.net_liquidation == pytest.approx(
        result.equity.filter(pl.col("day") == first.day)["net_liquidation"][0]
    )


def test_the_early_close_day_has_no_job_after_the_close_bell() -> None:
    slots = day_slots(HOURS, END, monitoring_cycles=5)
    _, close = HOURS.session_bounds(END)
    trading = [s for s in slots if s.job in ("entry", "monitoring")]
    assert trading and all(s.at < close for s in trading)
    assert [s.job for s in slots if s.at > close] == ["sync", "variance"]


def test_results_are_written_once_per_run_and_a_stored_run_id_is_refused(
    three_days: tuple[BacktestResult, Lake],
) -> None:
    result, lake = three_days
    runs = lake.read(TableName.BACKTEST_RUNS).collect()
    assert runs["run_id"].to_list() == ["bt-test"]
    row = runs.row(0, named=True)
    assert row["modelled"] is True and row["seed"] == CFG.simulation.seed
    assert (row["start"], row["end"], row["days"]) == (date(2026, 11, 24), END, 3)
    assert len(row["config_hash"]) == 16 and '"alerts"' in row["config_json"]
    trades = lake.read(TableName.BACKTEST_TRADES).collect()
    assert trades.height == result.trades.height
    assert set(trades["run_id"]) == {"bt-test"}
    equity = lake.read(TableName.BACKTEST_EQUITY).collect().sort("day")
    assert equity["net_liquidation"].to_list() == [d.net_liquidation for d in result.days]
    assert (equity["drawdown"] >= 0).all() and (equity["margin_use"] >= 0).all()
    with pytest.raises(BacktestError, match="already in"):
        run_backtest(CFG, days=1, end=END, results=lake, run_id="bt-test")


def test_trades_carry_the_entry_prediction_and_realized_pnl_only_when_closed(
    three_days: tuple[BacktestResult, Lake],
) -> None:
    trades = three_days[0].trades
    assert trades["predicted_pnl"].null_count() == 0  # every entry made a prediction
    open_ = trades.filter(pl.col("status") == "open")
    assert open_["pnl"].null_count() == open_.height
    assert (trades["commissions"] > 0).all()


def test_a_cash_mismatch_stops_the_day_naming_the_numbers() -> None:
    market = SimulatedMarket(
        SimMarketConfig(seed=3, start=HOURS.session_bounds(END)[0] - timedelta(minutes=5)),
        calendar=HOURS,
    )
    broker = SimBroker.from_config(CFG, market=market)
    broker.connect()
    ctx = JobContext.of(broker, MemoryLake("cash"), CFG, HOURS)
    start = broker.account().cash
    with pytest.raises(BookInvariantError, match="cash"):
        run_day(ctx, END, day_slots(HOURS, END, monitoring_cycles=1), starting_cash=start + 1.0)


@pytest.mark.slow
def test_the_in_memory_lake_books_exactly_what_the_disk_lake_books(tmp_path: Path) -> None:
    """Same seed, same day, same jobs: the memory lake and a Delta lake hold the same book."""
    lakes: list[Lake] = []
    for lake in (MemoryLake("parity"), Lake(tmp_path / "disk")):
        market = SimulatedMarket(
            SimMarketConfig(seed=11, start=HOURS.session_bounds(END)[0] - timedelta(minutes=5)),
            calendar=HOURS,
        )
        broker = SimBroker.from_config(CFG, market=market)
        broker.connect()
        ctx = JobContext.of(broker, lake, CFG, HOURS)
        start = broker.account().cash
        run_day(ctx, END, day_slots(HOURS, END, monitoring_cycles=2), starting_cash=start)
        lakes.append(lake)
    comparison = compare_lakes(lakes[0], lakes[1])
    assert comparison.same, "\n".join(comparison.lines())
    assert next(t for t in comparison.tables if t.table == "orders").rows_a > 0


def test_the_cli_prints_the_run_id_and_refuses_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    lake = str(tmp_path / "lake")
    ok = runner.invoke(
        app,
        [
            "backtest",
            "--days",
            "1",
            "--end",
            "2026-11-25",
            "--lake",
            lake,
            "--run-id",
            "cli-1",
            "-q",
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert "run id: cli-1" in ok.output and "book invariants held" in ok.output
    again = runner.invoke(
        app,
        [
            "backtest",
            "--days",
            "1",
            "--end",
            "2026-11-25",
            "--lake",
            lake,
            "--run-id",
            "cli-1",
            "-q",
        ],
    )
    assert again.exit_code == 2 and "already in" in again.output
    bad = runner.invoke(app, ["backtest", "--days", "0"])
    assert bad.exit_code == 2
    src = runner.invoke(app, ["backtest", "--source", "nowhere"])
    assert src.exit_code == 2


DATA = Path(__file__).parent / "data"


def test_a_historical_run_models_its_quotes_and_says_so(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    result = run_backtest(CFG, history=DATA, start=date(2023, 12, 20), results=lake)
    assert result.source == "history" and result.modelled
    assert result.days[0].day == date(2023, 12, 20)
    assert result.days[-1].day == date(2023, 12, 29)  # the data's last day
    assert "MODELLED option quotes" in result.lines()[0]
    # buy-and-hold is the benchmark file's own closes over the same days
    equity = result.equity.sort("day")
    assert equity["benchmark_close"].null_count() == 0
    run = lake.read(TableName.BACKTEST_RUNS).collect().row(0, named=True)
    assert run["source"] == "history" and run["modelled"] is True
    assert run["source_name"].startswith("history(IWM,QQQ,SPY; VIX")


def test_historical_input_errors_name_the_problem() -> None:
    runner = CliRunner()
    outside = runner.invoke(
        app, ["backtest", "--source", "history", "--history", str(DATA), "--start", "2019-01-02"]
    )
    assert outside.exit_code == 2
    assert "data available 2021-01-04..2023-12-29" in outside.output
    stray = runner.invoke(app, ["backtest", "--history", str(DATA)])
    assert stray.exit_code == 2 and "--history is for --source history" in stray.output
    start_on_sim = runner.invoke(app, ["backtest", "--start", "2024-01-02"])
    assert start_on_sim.exit_code == 2 and "--start is for --source history" in start_on_sim.output
