"""The sweep report notebook served by Voila in Chromium, over a sweep stored in a test lake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tradelib.config import TradingConfig
from tradelib.lake import Lake
from tradelib.sweep import build_grid, run_sweep

SWEEP = {
    "sweep_id": "browser-sweep",
    "grid": {"profit_targets.fixed": [0.3, 0.5, 0.7], "strategies.target_delta": [0.12]},
    "seeds": [4],
    "markets": [{"source": "sim", "days": 4, "end": "2026-11-25"}],
    "split": {"held_out_fraction": 0.5},
    "cycles_per_day": 2,
}


@pytest.fixture(scope="module")
def sweep_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake holding one stored sweep: 3 take-profit targets, in-sample and held-out runs."""
    root = tmp_path_factory.mktemp("sweep-report") / "lake"
    result = run_sweep(build_grid(SWEEP, base=TradingConfig()), lake=Lake(root), workers=0)
    assert result.complete
    return root


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(400)
def test_voila_serves_the_sweep_report_and_follows_the_metric(
    voila_app: Any, page: Any, sweep_lake: Path
) -> None:
    url = voila_app("notebooks/research/sweep_report.ipynb", lake=sweep_lake)
    page.goto(url)
    page.get_by_text("Sweep report").first.wait_for()
    page.get_by_text("browser-sweep: 6 points, 6 stored").first.wait_for()
    # two-day runs have no Sharpe yet: the report opens on total return instead
    pair = "profit_targets.fixed x strategies.target_delta"
    page.get_by_text(f"total return by {pair} (in-sample)").first.wait_for()
    page.get_by_text("in-sample vs held-out total return").first.wait_for()
    page.get_by_text("Best points' equity, side by side").first.wait_for()
    page.get_by_text("Parameter sensitivity").first.wait_for()
    # the metric drives every panel
    page.locator(".widget-dropdown select").nth(1).select_option(label="max drawdown")
    page.get_by_text(f"max drawdown by {pair} (in-sample)").first.wait_for()
    page.get_by_text("in-sample vs held-out max drawdown").first.wait_for()
