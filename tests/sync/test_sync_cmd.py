"""`tradelib sync`: one sync of the configured account; a stopped sync exits 1."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import yaml
from typer.testing import CliRunner

from tradelib.cli import app
from tradelib.domain import Contract, Right, StrategyType
from tradelib.lake import Lake
from tradelib.stores.sync import SyncStore
from tradelib.sync import HeldLeg, StrategyRecord

from .helpers import START

runner = CliRunner()


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "trading_config.yaml"
    data = {
        "storage": {"lake_uri": str(tmp_path / "lake")},
        "simulation": {"state_path": str(tmp_path / "sim.pkl"), "start_date": "2026-11-24"},
    }
    path.write_text(yaml.safe_dump(data))
    return path


def test_sync_of_a_flat_account_succeeds(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sync", "--config", str(_config(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "sync ok" in result.output and "positions 0" in result.output


def test_a_flat_broker_answer_against_an_open_book_exits_1(tmp_path: Path) -> None:
    config = _config(tmp_path)
    put = Contract.option("SPY", date(2026, 12, 18), 500, Right.PUT, con_id=7)
    record = StrategyRecord("s1", StrategyType.SHORT_PUT, "SPY", (HeldLeg(put, -1),), START, START)
    SyncStore(Lake(tmp_path / "lake")).save_strategies([record])

    result = runner.invoke(app, ["sync", "--config", str(config)])

    assert result.exit_code == 1
    assert "stopped" in result.output and "no positions" in result.output
