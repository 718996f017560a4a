"""The backtest report: two stored runs side by side, in Python and in Voila in Chromium."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tradelib.backtest.report import BacktestRuns, monthly_returns, stats_table, trade_list
from tradelib.backtest.report_app import NONE, BacktestReportApp, report_lake
from tradelib.backtest.run import run_backtest
from tradelib.config import TradingConfig
from tradelib.lake import Lake

CFG = TradingConfig()
END = date(2026, 11, 25)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report") / "lake"
    lake = Lake(root)
    run_backtest(CFG, days=3, end=END, seed=7, results=lake, run_id="run-a")
    run_backtest(CFG, days=3, end=END, seed=8, results=lake, run_id="run-b")
    return root


def test_the_report_reads_each_run_back_and_compares_them(two_runs: Path) -> None:
    runs = BacktestRuns(Lake(two_runs))
    assert set(runs.runs()["run_id"]) == {"run-a", "run-b"}
    a, b = runs.load("run-a"), runs.load("run-b")
    table = stats_table(a, b)
    assert table.columns == ["statistic", "run-a", "run-b"]
    assert "total return" in table["statistic"].to_list()
    assert a.equity.height == 3 and a.equity["day"].to_list()[-1] == END
    months = monthly_returns(a)
    assert months["year"].to_list() == [2026] and "11" in months.columns
    expected = a.equity["net_liquidation"][-1] / a.equity["net_liquidation"][0] - 1.0
    assert months["11"][0] == pytest.approx(expected)  # one month: start to end of it
    closed = trade_list(a, status="closed")
    assert (closed["closed_at"].is_not_null()).all()
    with pytest.raises(KeyError, match="no backtest run 'nope'"):
        runs.load("nope")


def test_the_app_follows_the_run_the_comparison_and_the_filters(two_runs: Path) -> None:
    app = BacktestReportApp(Lake(two_runs), run_id="run-a")
    assert app.data is not None and app.data.run_id == "run-a"
    assert "run-b" not in app.stats.value
    app.compare_select.value = "run-b"
    assert "run-a" in app.stats.value and "run-b" in app.stats.value
    assert "modelled" in app.headline.value
    total = app.data.trades.height
    assert f"{total} trades" in app.trades.value
    app.status_select.value = "open"
    opened = app.data.trades.filter(pl.col("status") == "open").height
    assert f"<p>{opened} trades</p>" in app.trades.value
    app.compare_select.value = NONE
    assert "run-b" not in app.stats.value
    app.run_select.value = "run-b"
    assert app.data.run_id == "run-b"
    assert app.panes["equity"].figure is not None


def test_an_empty_lake_gets_two_simulated_runs_and_says_so(tmp_path: Path) -> None:
    lake, where = report_lake(Lake(tmp_path / "empty"), CFG, demo_days=2)
    assert "ran two 2-day simulated backtests" in where
    assert BacktestRuns(lake).runs().height == 2


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_voila_serves_the_report_and_compares_two_runs(
    voila_app: Any, page: Any, two_runs: Path
) -> None:
    url = voila_app("notebooks/research/backtest_report.ipynb", lake=two_runs)
    page.goto(url)
    page.get_by_text("Backtest report").first.wait_for()
    page.get_by_text("Option quotes were modelled").first.wait_for()
    page.get_by_text("total return").first.wait_for()
    page.get_by_text("Equity and drawdown").first.wait_for()
    # the newest run first, alone; then the other one beside it
    page.locator("table.tl-table th", has_text="run-b").first.wait_for()
    assert page.locator("table.tl-table th", has_text="run-a").count() == 0
    page.locator(".widget-dropdown select").nth(1).select_option("run-a")
    page.locator("table.tl-table th", has_text="run-a").first.wait_for()
    page.get_by_text("Monthly returns").first.wait_for()
