"""`tradelib config check`: prints the effective config with secrets masked, or the
problems on stderr with exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tradelib.cli.config_cmd import app
from tradelib.config import TradingConfig, load_config

runner = CliRunner()


def test_check_prints_the_effective_config_with_the_account_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADELIB_IB_ACCOUNT", "DU1234567")
    path = tmp_path / "c.yaml"
    path.write_text("ib: {mode: paper}\nrisk: {max_portfolio_delta: 300}\n", encoding="utf-8")
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 0, result.output
    assert "DU1234567" not in result.output
    assert "DU*****67" in result.stdout
    printed = yaml.safe_load(result.stdout)
    assert printed["ib"]["mode"] == "paper"
    assert printed["risk"]["max_portfolio_delta"] == 300


def test_check_output_loads_back_to_the_same_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADELIB_IB_ACCOUNT", "DU1234567")
    result = runner.invoke(app, ["check"])  # nothing found: built-in defaults
    assert result.exit_code == 0
    assert "# source: built-in defaults" in result.stdout
    echoed = tmp_path / "echo.yaml"
    echoed.write_text(result.stdout, encoding="utf-8")
    assert load_config(echoed, env={}) == TradingConfig()


def test_check_reports_every_problem_on_stderr_with_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("risk: {max_portfolio_delta: -5}\nib: {account: DU1234567}\n", encoding="utf-8")
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "risk.max_portfolio_delta: must be > 0, got -5" in result.stderr
    assert "ib.account: must not be set in the config" in result.stderr
    assert "DU1234567" not in result.stderr


def test_check_of_a_missing_file_exits_2_naming_it(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "nope.yaml" in result.stderr


def test_check_notes_a_live_config_that_this_environment_would_refuse(tmp_path: Path) -> None:
    path = tmp_path / "live.yaml"
    path.write_text("ib: {mode: live, allow_live: true, port: 7496}\n", encoding="utf-8")
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 0
    assert "live trading refused" in result.stdout
    assert "TRADELIB_ALLOW_LIVE is not '1'" in result.stdout
