"""The futures dashboard: its pieces in-process, then the real thing in Voila and Chromium."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tradelib.config import TradingConfig
from tradelib.dashboards.futures import (
    FuturesDashboard,
    build_view,
    coverage_figure,
    leadlag_figure,
    price_figure,
    status_html,
)
from tradelib.demo.futures import run_futures_demo
from tradelib.lake import Lake

pytestmark = pytest.mark.slow  # a week of simulated futures data per module

END_DAY = date(2026, 11, 24)


@pytest.fixture(scope="module")
def demo_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seven simulated trading days of ES/NQ/RTY and SPY/QQQ/IWM 1-s bars."""
    root = tmp_path_factory.mktemp("futures") / "lake"
    run_futures_demo(TradingConfig(), Lake(root), end_day=END_DAY, progress=lambda _m: None)
    return root


def test_a_week_of_demo_data_concludes_and_names_the_lead(demo_lake: Path) -> None:
    view = build_view(Lake(demo_lake), TradingConfig(), "ES")
    assert view is not None
    assert view.analysis.coverage.days_available == 7
    assert "Analysis concluded" in status_html(view, "ES")
    assert price_figure(view).layout.title.text == "ES futures vs SPY spot"
    assert "futures lead by 2 s" in leadlag_figure(view).layout.title.text
    assert "7 of 7 trading days" in coverage_figure(view).layout.title.text


def test_a_short_range_shows_the_not_enough_data_notice(demo_lake: Path) -> None:
    view = build_view(Lake(demo_lake), TradingConfig(), "NQ", days=3)
    assert view is not None
    notice = status_html(view, "NQ")
    assert "Not enough data to conclude" in notice
    assert f"{view.analysis.coverage.days_available} of 7 trading days" in notice
    assert "provisional" in leadlag_figure(view).layout.title.text


def test_an_empty_lake_says_there_is_no_data(tmp_path: Path) -> None:
    dashboard = FuturesDashboard(Lake(tmp_path / "empty"), TradingConfig())
    assert dashboard.view is None
    assert "No ES bars in the lake" in dashboard.status.value


def test_changing_the_symbol_redraws_and_reads_are_cached_for_30_s(demo_lake: Path) -> None:
    now = [0.0]
    dashboard = FuturesDashboard(Lake(demo_lake), TradingConfig(), clock=lambda: now[0])
    assert dashboard.figures["prices"].layout.title.text == "ES futures vs SPY spot"
    dashboard.symbol.value = "RTY"
    assert dashboard.figures["prices"].layout.title.text == "RTY futures vs IWM spot"
    misses = dashboard.cache.misses
    dashboard.symbol.value = "ES"  # seen 0 s ago: served from the cache
    assert dashboard.cache.misses == misses
    now[0] = 31.0
    dashboard.refresh()
    assert dashboard.cache.misses == misses + 1


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(180)
def test_voila_serves_the_dashboard_and_follows_the_symbol(
    voila_app: Any, page: Any, demo_lake: Path
) -> None:
    url = voila_app("dashboards/futures.ipynb", lake=demo_lake)
    page.goto(url)
    page.get_by_text("ES futures vs SPY spot").first.wait_for()
    assert page.get_by_text("Analysis concluded").count() >= 1
    assert page.get_by_text("Not enough data").count() == 0
    page.get_by_text("futures lead by 2 s").first.wait_for()
    page.get_by_text("Signal: ES → SPY").first.wait_for()

    page.locator(".widget-dropdown select").first.select_option("NQ")
    page.get_by_text("NQ futures vs QQQ spot").first.wait_for()
    page.get_by_text("NQ data coverage: 7 of 7 trading days needed").first.wait_for()
    assert page.get_by_text("ES futures vs SPY spot").count() == 0

    page.locator(".widget-dropdown select").nth(2).select_option("last 3 days")
    page.get_by_text("Not enough data to conclude").first.wait_for()
