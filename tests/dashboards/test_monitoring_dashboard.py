"""The monitoring dashboard for real: Voila serving dashboards/monitoring.ipynb to Chromium,
and `tradelib dashboards` serving both dashboards.

The lake is the simulated demo day plus a row or more in every other table
(``build_monitoring_lake`` in test_monitoring_queries.py). Voila runs with a
paper-account id in TRADELIB_IB_ACCOUNT that a job error also mentions: the
page must only ever show it masked.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import polars as pl
import pytest

from tradelib.cli.dashboards_cmd import dashboard_urls, voila_command, voila_server_options
from tradelib.dashboards.common import REFRESH_ENV, money
from tradelib.dashboards.monitoring import account_summary
from tradelib.lake import Lake, TableName

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "dashboards/monitoring.ipynb"
NEW_NET_LIQ = 123_456.78


def _scenario() -> ModuleType:
    """The lake builder shared with the query tests (test modules are not a package here)."""
    path = Path(__file__).with_name("test_monitoring_queries.py")
    spec = importlib.util.spec_from_file_location("monitoring_scenario", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


scenario = _scenario()


@pytest.fixture(scope="module")
def monitoring_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("monitoring-browser") / "lake"
    scenario.build_monitoring_lake(root)
    return root


def _body_text(page: Any) -> str:
    text: str = page.inner_text("body")
    return text


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_the_dashboard_shows_the_demo_day_masked_and_refreshes_itself(
    voila_app: Callable[..., str], page: Any, monitoring_lake: Path
) -> None:
    url = voila_app(
        NOTEBOOK,
        lake=monitoring_lake,
        env={"TRADELIB_IB_ACCOUNT": scenario.ACCOUNT, REFRESH_ENV: "2"},
    )
    page.goto(url)
    page.get_by_text("Last refreshed").first.wait_for()
    page.get_by_text("Net liquidation on").first.wait_for()  # the plotly figure drew
    text = _body_text(page)

    account = account_summary(Lake(monitoring_lake), scenario.NOW).row(0, named=True)
    assert money(account["net_liquidation"]) in text
    for underlying in scenario.UNDERLYINGS:
        assert scenario.strategy_id(underlying) in text
        assert f"{underlying} {scenario.HOLD_REASON}" in text  # the latest decision's reason
    assert "Last run failed: entry" in text  # job health
    assert "sync\t" in text or "sync " in text
    assert "OPEN — new entries halted" in text  # breaker
    assert "Regime: normal" in text
    assert "concentration exceeded" in text  # a recent risk rejection
    assert "Predicted vs actual P&L (3 closed)" in text
    assert scenario.ACCOUNT not in text
    assert "DU*****67" in text
    assert scenario.ACCOUNT not in page.content()

    # a new account snapshot lands in the lake: no click, no reload, the 2-s timer shows it
    lake = Lake(monitoring_lake)
    newest = lake.read(TableName.ACCOUNT_SNAPSHOTS).collect().sort("ts").tail(1)
    later = newest.with_columns(
        (newest["ts"] + timedelta(minutes=5)).alias("ts"),
        pl.lit(NEW_NET_LIQ).alias("net_liquidation"),
    ).drop("date")
    lake.upsert(TableName.ACCOUNT_SNAPSHOTS, later)
    page.get_by_text(money(NEW_NET_LIQ)).first.wait_for(timeout=120_000)


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_preheated_kernels_serve_the_data_on_every_load(
    voila_app: Callable[..., str], page: Any, browser: Any, monitoring_lake: Path
) -> None:
    url = voila_app(
        NOTEBOOK,
        lake=monitoring_lake,
        env={"TRADELIB_IB_ACCOUNT": scenario.ACCOUNT},
        render=tuple(voila_server_options(preheat=True, pool_size=1)),
    )
    account = account_summary(Lake(monitoring_lake), scenario.NOW).row(0, named=True)
    for load in range(2):  # the default render mode once hung on a second load: not this one
        tab = page if load == 0 else browser.new_context().new_page()
        tab.set_default_timeout(120_000)
        tab.goto(url)
        tab.get_by_text("Last refreshed").first.wait_for()
        text = _body_text(tab)
        assert money(account["net_liquidation"]) in text
        assert "Performance since inception" in text
        assert scenario.ACCOUNT not in tab.content()
        tab.get_by_text("Net liquidation on").first.wait_for()  # the figure drew (mime renderer)


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_an_empty_lake_shows_no_data_yet_in_every_panel(
    voila_app: Callable[..., str], page: Any, tmp_path: Path
) -> None:
    url = voila_app(NOTEBOOK, lake=tmp_path / "empty-lake")
    page.goto(url)
    page.get_by_text("Last refreshed").first.wait_for()
    text = _body_text(page)
    for notice in (
        "Account snapshots: no data yet.",
        "Open strategies: no data yet.",
        "Risk rejections: no data yet.",
        "no breaker events yet",
        "Orders: no data yet.",
        "Fills: no data yet.",
        "Job runs: no data yet.",
        "Predictions: no data yet.",
    ):
        assert notice in text
    assert "failed" not in text


# --- tradelib dashboards -------------------------------------------------------------------------------
def test_the_command_serves_the_dashboards_folder_on_localhost_with_preheated_kernels() -> None:
    command = voila_command(ROOT / "dashboards", 8123)
    assert command[1] == str(ROOT / "dashboards")
    assert "--Voila.ip=127.0.0.1" in command and "--port=8123" in command
    assert "--preheat_kernel=True" in command and "--pool_size=1" in command
    assert "--progressive_rendering=True" not in command  # Voila refuses the two together
    fallback = voila_command(ROOT / "dashboards", 8123, pool_size=0)
    assert "--progressive_rendering=True" in fallback and "--preheat_kernel=True" not in fallback
    assert set(dashboard_urls(8123).values()) == {
        "http://127.0.0.1:8123/voila/render/monitoring.ipynb",
        "http://127.0.0.1:8123/voila/render/futures.ipynb",
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 60.0) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return int(response.status), response.read().decode("utf-8", "replace")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[int]:
    """`tradelib dashboards` running on a free port over an empty lake; stopped after."""
    port = _free_port()
    (tmp_path / "lake").mkdir()  # an explicit --lake must exist (a typo is refused)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    tradelib = str(Path(sys.executable).parent / "tradelib")
    log = (tmp_path / "dashboards.log").open("wb")
    process = subprocess.Popen(
        [tradelib, "dashboards", "--port", str(port), "--lake", str(tmp_path / "lake")],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "dashboards.log").read_text()
            try:
                _get(f"http://127.0.0.1:{port}/voila/tree", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "voila did not answer within 60 s"
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()  # the command became voila: this stops the server and its kernels
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_tradelib_dashboards_serves_both_dashboards(served: int) -> None:
    for name, url in dashboard_urls(served).items():
        status, body = _get(url.replace("8866", str(served)))
        assert status == 200, name
        assert "Traceback" not in body, name
