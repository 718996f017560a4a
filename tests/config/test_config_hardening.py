"""Issue 17: nonsense that used to be accepted, and files that used to crash the loader,
are rejected with one line naming the dotted key (or the file), never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tradelib.cli.config_cmd import app
from tradelib.config import InvalidConfigError, TradingConfig, load_config
from tradelib.errors import ConfigError

runner = CliRunner()
INF = float("inf")


def _nested(key: str, value: Any) -> dict[str, Any]:
    data: dict[str, Any] = {}
    node = data
    # the job-name part may itself hold dots ('../../etc/x')
    parts = key.split(".", 2) if isinstance(value, dict) else key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return data


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("risk.circuit_breaker.daily_loss_limit", INF),
        ("risk.circuit_breaker.daily_loss_limit", 1e308),
        ("rules.stop_loss_multiple", INF),
        ("market_data.max_quote_age_s", INF),  # would switch staleness off
        ("market_data.max_quote_age_s", float("nan")),
        ("risk.max_portfolio_delta", 1e308),
        ("ib.connect_timeout_s", INF),
        ("ib.port", True),  # was port 1
        ("ib.host", " "),
        ("ib.host", "127.0.0.1 "),
        ("ib.connect_retries", 10**30),
        ("scheduler.tasks.sync.every_minutes", 10**20),
        ("simulation.seed", -1),
        ("simulation.state_path", ""),
        ("simulation.state_path", "data/\x00x"),
        ("scheduler.tasks.nosuchjob", {"every_minutes": 5}),
        ("scheduler.tasks.../../etc/x", {"every_minutes": 5}),
        ("scheduler.calendar", "NOPE"),
        ("ib.allow_live", "yes"),
        ("ib.allow_live", 1),
        ("profit_targets.dynamic_enabled", "no"),
        ("rules.enabled.stop_loss", 0),
        ("scheduler.tasks.entry.enabled", "true"),
        ("strategies.underlyings", ["SPY", "spy; rm"]),
        ("storage.commit_retries", 10**6),
        ("storage.expected_writers", 0),
    ],
)
def test_nonsense_that_was_accepted_is_rejected_naming_the_key(key: str, value: Any) -> None:
    with pytest.raises(InvalidConfigError) as info:
        TradingConfig.from_mapping(_nested(key, value))
    assert len(info.value.problems) == 1
    (line,) = info.value.problems
    assert line.startswith(key), line
    assert "\n" not in line


def test_entry_quantity_above_the_per_order_cap_is_rejected() -> None:
    with pytest.raises(InvalidConfigError) as info:
        TradingConfig.from_mapping({"strategies": {"entry_quantity": 50}})
    (line,) = info.value.problems
    assert line.startswith("strategies.entry_quantity")
    assert "trading_limits.max_contracts_per_order" in line


def test_cross_field_rule_inside_a_section_names_the_dotted_key() -> None:
    with pytest.raises(InvalidConfigError) as info:
        TradingConfig.from_mapping({"rules": {"roll_tested_delta": 0.45}})
    assert info.value.problems[0].startswith("rules.roll_tested_delta: ")


def test_a_known_calendar_outside_the_common_set_is_looked_up() -> None:
    assert TradingConfig.from_mapping({"scheduler": {"calendar": "XLON"}}).scheduler.calendar == (
        "XLON"
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xfe\x00garbage\x80", "not a UTF-8 text file"),
        (b"ib:\n  port: 7497\x00\n", "NUL"),
        (b"a: " + b"[" * 20_000 + b"]" * 20_000 + b"\n", ""),
        (b"ib:\n  port: " + b"9" * 5000 + b"\n", ""),
        (b"simulation:\n  start_date: 2026-13-45\n", "invalid value"),
    ],
    ids=["binary", "nul", "deep-nesting", "5000-digit-int", "bad-date"],
)
def test_files_that_crashed_the_loader_fail_with_one_clean_line(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert expected in str(info.value)
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


def test_a_start_date_given_as_text_is_still_a_date() -> None:
    config = TradingConfig().with_overrides({"simulation.start_date": "2026-11-24"})
    assert str(config.simulation.start_date) == "2026-11-24"
    with pytest.raises(InvalidConfigError, match=r"simulation\.start_date"):
        TradingConfig().with_overrides({"simulation.start_date": "2026-13-45"})
