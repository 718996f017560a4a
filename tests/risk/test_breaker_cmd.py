"""`tradelib breaker status | reset` against a real lake."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradelib.cli.breaker_cmd import app
from tradelib.config import TradingConfig
from tradelib.domain import utc
from tradelib.lake import Lake
from tradelib.risk import BreakerTrigger
from tradelib.stores.risk import lake_breaker

from .conftest import account

LONG_AGO = utc(2020, 3, 16, 15)

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TRADELIB_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)


def test_status_of_a_lake_that_never_tripped(lake: Lake) -> None:
    result = runner.invoke(app, ["status", "--lake", lake.root])
    assert result.exit_code == 0, result.output
    assert "state:    CLOSED" in result.output
    assert "never tripped" in result.output


def test_status_shows_the_trip_and_reset_by_hand_closes_it(lake: Lake) -> None:
    # trip "today" on the wall clock so the daily-loss rule keeps it open
    from datetime import UTC, datetime

    lake_breaker(TradingConfig(), lake).check_account(account(day_pnl=-2500.0), datetime.now(UTC))
    shown = runner.invoke(app, ["status", "--lake", lake.root])
    assert shown.exit_code == 0, shown.output
    assert "state:    OPEN" in shown.output
    assert "trigger:  daily_loss" in shown.output
    assert "lost $2,500.00 today" in shown.output
    assert "closes:" in shown.output

    reset = runner.invoke(app, ["reset", "--by", "alice", "--lake", lake.root])
    assert reset.exit_code == 0, reset.output
    assert "breaker reset by alice" in reset.output and "was open" in reset.output

    after = runner.invoke(app, ["status", "--lake", lake.root])
    assert "state:    CLOSED" in after.output
    assert "trigger:  manual" in after.output
    assert "reset by: alice" in after.output
    latest = lake_breaker(TradingConfig(), Lake(lake.root)).history()[-1]
    assert latest.trigger is BreakerTrigger.MANUAL and latest.reset_by == "alice"


def test_an_old_trip_shows_as_closed_by_rule(lake: Lake) -> None:
    breaker = lake_breaker(TradingConfig(), lake)
    for _ in range(3):
        breaker.record_failure(LONG_AGO)
    result = runner.invoke(app, ["status", "--lake", lake.root])
    assert "state:    CLOSED" in result.output and "trigger:  cooldown" in result.output


def test_reset_needs_a_name(lake: Lake) -> None:
    assert runner.invoke(app, ["reset", "--lake", lake.root]).exit_code != 0
    blank = runner.invoke(app, ["reset", "--by", " ", "--lake", lake.root])
    assert blank.exit_code == 2 and "needs a name" in blank.output
