"""The demo day end to end: real SimBroker, real Delta tables in a temp folder."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable
from typer.testing import CliRunner

from tradelib.config import TradingConfig
from tradelib.demo.day import DemoSummary, run_demo
from tradelib.domain import OrderStatus
from tradelib.lake import Lake

pytestmark = pytest.mark.slow  # demo days through the real jobs

DAY = date(2026, 11, 24)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoSummary]:
    root = tmp_path_factory.mktemp("lake")
    summary = run_demo(TradingConfig(), lake=Lake(root), day=DAY, progress=lambda _m: None)
    return root, summary


def test_demo_opens_one_filled_spread_per_underlying(demo_run: tuple[Path, DemoSummary]) -> None:
    _, summary = demo_run
    assert summary.day == DAY
    assert sorted(s.underlying for s in summary.opened) == ["IWM", "QQQ", "SPY"]
    for spread in summary.opened:
        assert spread.status is OrderStatus.FILLED
        assert spread.long_strike < spread.short_strike
        assert 30 <= (spread.expiry - DAY).days <= 45
        assert spread.credit > 0


def test_demo_tables_are_readable_by_plain_deltalake_and_polars(
    demo_run: tuple[Path, DemoSummary],
) -> None:
    root, summary = demo_run
    accounts = pl.read_delta(str(root / "account_snapshots"))
    assert accounts.height == summary.snapshots >= 12  # every 30 min from 09:45 to the close
    assert accounts["ts"].dt.date().unique().to_list() == [DAY]
    assert (accounts["net_liquidation"] > 90_000).all()
    assert accounts["mode"].unique().to_list() == ["sim"]

    positions = pl.read_delta(str(root / "positions"))
    assert positions.height == summary.position_rows == summary.snapshots * 6
    latest = positions.filter(pl.col("snapshot_ts") == pl.col("snapshot_ts").max())
    assert sorted(latest["quantity"].to_list()) == [-1.0] * 3 + [1.0] * 3
    assert set(latest["underlying"]) == {"SPY", "QQQ", "IWM"}

    chains = pl.read_delta(str(root / "option_snapshots"))
    per_underlying = dict(chains.group_by("underlying").len().iter_rows())
    assert per_underlying == summary.option_rows
    assert chains["ts"].n_unique() == 1  # one snapshot per underlying, taken together
    assert (chains["bid"].drop_nulls() <= chains["ask"].drop_nulls()).all()
    assert DeltaTable(str(root / "option_snapshots")).version() >= 0


def test_rerunning_the_same_day_duplicates_nothing(demo_run: tuple[Path, DemoSummary]) -> None:
    root, _ = demo_run
    before = {
        t: pl.read_delta(str(root / t)).height
        for t in ("account_snapshots", "positions", "option_snapshots")
    }
    run_demo(TradingConfig(), lake=Lake(root), day=DAY, progress=lambda _m: None)
    after = {t: pl.read_delta(str(root / t)).height for t in before}
    assert after == before


def test_demo_command_prints_a_summary(tmp_path: Path) -> None:
    from tradelib.cli import app

    result = CliRunner().invoke(
        app, ["demo", "--days", "1", "--lake", str(tmp_path / "lake"), "--day", "2026-11-23", "-q"]
    )
    assert result.exit_code == 0, result.output
    assert "simulated day 2026-11-23" in result.output
    assert "account snapshots: 13" in result.output
    assert pl.read_delta(str(tmp_path / "lake" / "positions")).height > 0


def test_demo_refuses_a_non_sim_config(tmp_path: Path) -> None:
    from tradelib.cli import app

    cfg = tmp_path / "paper.yaml"
    cfg.write_text("ib:\n  mode: paper\n")
    result = CliRunner().invoke(
        app, ["demo", "--config", str(cfg), "--lake", str(tmp_path / "lake")]
    )
    assert result.exit_code != 0
    assert "simulated market only" in result.output
    assert not (tmp_path / "lake").exists()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_demo_through_ib_async_and_the_simulated_gateway(tmp_path: Path) -> None:
    summary = run_demo(
        TradingConfig(), lake=Lake(tmp_path), day=DAY, broker_kind="ib", progress=lambda _m: None
    )
    assert summary.broker == "ib"
    assert [s.status for s in summary.opened] == [OrderStatus.FILLED] * 3
    positions = pl.read_delta(str(tmp_path / "positions"))
    latest = positions.filter(pl.col("snapshot_ts") == pl.col("snapshot_ts").max())
    assert sorted(latest["quantity"].to_list()) == [-1.0] * 3 + [1.0] * 3
    assert (latest["con_id"] > 0).all()  # resolved by the gateway's contract details
    chains = pl.read_delta(str(tmp_path / "option_snapshots"))
    assert set(chains["underlying"]) == {"SPY", "QQQ", "IWM"}
    assert (
        chains["delta"].drop_nulls().len() > 0.9 * chains.height
    )  # greeks from IB's option computations
