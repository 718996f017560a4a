"""A bad config fails with one line per bad key, by dotted path, saying what is wrong."""

from __future__ import annotations

from typing import Any

import pytest

from tradelib.config import InvalidConfigError, TradingConfig
from tradelib.errors import ConfigError


def problems(data: dict[str, Any]) -> tuple[str, ...]:
    with pytest.raises(InvalidConfigError) as info:
        TradingConfig.from_mapping(data)
    assert isinstance(info.value, ConfigError)
    return info.value.problems


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"rsk": {}}, "rsk: unknown key 'rsk' (did you mean 'risk'?)"),
        (
            {"profit_targets": {"regime": {"crsh": 0.4}}},
            "profit_targets.regime.crsh: unknown key 'crsh' (did you mean 'crash'?)",
        ),
        (
            {"risk": {"circuit_breaker": {"daily_los_limit": 1.0}}},
            "risk.circuit_breaker.daily_los_limit: unknown key 'daily_los_limit' "
            "(did you mean 'daily_loss_limit'?)",
        ),
        (
            {"scheduler": {"tasks": {"entry": {"every_minuts": 3}}}},
            "scheduler.tasks.entry.every_minuts: unknown key 'every_minuts' "
            "(did you mean 'every_minutes'?)",
        ),
        (
            {"variance_analysis": {"strategy_weights": {"iron_condr": 0.8}}},
            "variance_analysis.strategy_weights.iron_condr: unknown key 'iron_condr' "
            "(did you mean 'iron_condor'?)",
        ),
        ({"ib": {"zzz": 1}}, "ib.zzz: unknown key 'zzz'"),
    ],
)
def test_unknown_keys_are_named_at_any_depth_with_a_suggestion(
    data: dict[str, Any], expected: str
) -> None:
    assert problems(data) == (expected,)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"ib": {"port": "abc"}}, "ib.port: expected an integer, got 'abc'"),
        (
            {"risk": {"max_margin_use": "lots"}},
            "risk.max_margin_use: expected a number, got 'lots'",
        ),
        ({"profit_targets": {"dynamic_enabled": "maybe"}}, "profit_targets.dynamic_enabled: "),
        ({"risk": "high"}, "risk: expected a mapping, got 'high'"),
        ({"strategies": {"underlyings": "SPY"}}, "strategies.underlyings: expected a list"),
        (
            {"ib": {"mode": "lve"}},
            "ib.mode: must be one of sim, paper, live, readonly; got 'lve' (did you mean 'live'?)",
        ),
        (
            {"strategies": {"enabled": ["short_put", "iron_condr"]}},
            "strategies.enabled[1]: must be one of short_put, put_credit_spread, "
            "call_credit_spread, iron_condor, short_strangle; got 'iron_condr' "
            "(did you mean 'iron_condor'?)",
        ),
        ({"simulation": {"start_date": "soon"}}, "simulation.start_date: expected a date"),
    ],
)
def test_wrong_types_say_what_was_expected_and_what_was_given(
    data: dict[str, Any], expected: str
) -> None:
    (line,) = problems(data)
    assert line.startswith(expected)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"risk": {"max_portfolio_delta": -5}}, "risk.max_portfolio_delta: must be > 0, got -5"),
        ({"risk": {"max_portfolio_delta": 0}}, "risk.max_portfolio_delta: must be > 0, got 0"),
        ({"trading_limits": {"max_positions": -1}}, "trading_limits.max_positions: must be >= 0"),
        (
            {"trading_limits": {"max_contracts_per_order": 0}},
            "trading_limits.max_contracts_per_order: must be > 0, got 0",
        ),
        ({"profit_targets": {"fixed": 1.5}}, "profit_targets.fixed: must be <= 1, got 1.5"),
        (
            {"strategies": {"dte_min": 50}},
            "strategies.dte_max: must be >= strategies.dte_min (50), got 45",
        ),
        (
            {"market_data": {"reserved_lines": 100}},
            "market_data.reserved_lines: must be < market_data.line_budget (100), got 100",
        ),
        (
            {"market_data": {"line_budget": 8}},
            "market_data.reserved_lines: must be < market_data.line_budget (8), got 10",
        ),
        (
            {"strategies": {"underlyings": ["SPY", "DIA"]}},
            "strategies.wing_widths: no wing width for strategies.underlyings ['DIA']",
        ),
        ({"ib": {"client_ids": {"futures": 1}}}, "ib.client_ids: client ids must be distinct"),
        ({"ib": {"port": 70000}}, "ib.port: must be <= 65535"),
        ({"scheduler": {"timezone": "Mars/Base"}}, "scheduler.timezone: unknown time zone"),
        ({"storage": {"lake_uri": "ftp://host/lake"}}, "storage.lake_uri: unsupported URI scheme"),
        (
            {"storage": {"lake_uri": "s3://key:secret@bucket/lake"}},
            "storage.lake_uri: credentials must not be embedded",
        ),
        (
            {"strategies": {"skew": {"high_call": 1.3}}},
            "strategies.skew.high_call: high_call (1.3) must be <",
        ),
    ],
)
def test_validators_reject_inconsistent_or_out_of_range_values(
    data: dict[str, Any], expected: str
) -> None:
    (line,) = problems(data)
    assert line.startswith(expected)


def test_every_problem_in_a_file_is_reported_at_once() -> None:
    found = problems(
        {
            "risk": {"max_portfolio_delta": -5},
            "profit_targets": {"regime": {"crsh": 0.4}},
            "ib": {"port": "x"},
        }
    )
    assert len(found) == 3
    assert {p.split(":")[0] for p in found} == {
        "risk.max_portfolio_delta",
        "profit_targets.regime.crsh",
        "ib.port",
    }


def test_named_dict_entries_merge_over_their_defaults() -> None:
    config = TradingConfig.from_mapping(
        {
            "scheduler": {"tasks": {"entry": {"every_minutes": 15}}},
            "strategies": {"underlyings": ["SPY", "DIA"], "wing_widths": {"DIA": 2}},
            "rules": {"enabled": {"roll_opportunity": False}},
        }
    )
    entry = config.scheduler.tasks["entry"]
    assert (entry.every_minutes, entry.timeout_minutes) == (15, 10)
    assert config.scheduler.tasks["sync"].every_minutes == 5
    assert set(config.scheduler.tasks) == {
        "sync",
        "entry",
        "monitoring",
        "variance",
        "maintenance",
        "daily_report",
    }
    assert config.strategies.wing_widths == {"SPY": 5, "QQQ": 5, "IWM": 3, "DIA": 2}
    assert not config.rules.is_enabled("roll_opportunity")
    assert config.rules.is_enabled("stop_loss")


class TestOverrides:
    def test_dotted_override_returns_a_new_validated_config(self) -> None:
        base = TradingConfig()
        changed = base.with_overrides(
            {"risk.max_portfolio_delta": 300, "scheduler.tasks.entry.every_minutes": 15}
        )
        assert changed.risk.max_portfolio_delta == 300
        assert changed.scheduler.tasks["entry"].every_minutes == 15
        assert base.risk.max_portfolio_delta == 500  # the original is untouched
        assert changed.risk.circuit_breaker == base.risk.circuit_breaker

    def test_bad_overrides_fail_in_the_same_style_and_change_nothing(self) -> None:
        base = TradingConfig()
        with pytest.raises(InvalidConfigError) as info:
            base.with_overrides({"risk.max_portfolio_delta": -5, "risk.max_portfolio_delt": 1})
        assert info.value.problems == (
            "risk.max_portfolio_delta: must be > 0, got -5",
            "risk.max_portfolio_delt: unknown key 'max_portfolio_delt' "
            "(did you mean 'max_portfolio_delta'?)",
        )
        assert "in overrides" in str(info.value)

    def test_override_below_a_value_is_refused(self) -> None:
        with pytest.raises(InvalidConfigError, match=r"risk\.max_portfolio_delta: is a value"):
            TradingConfig().with_overrides({"risk.max_portfolio_delta.x": 1})

    def test_override_keeps_the_env_account(self) -> None:
        config = TradingConfig().with_account("DU1234567")
        changed = config.with_overrides({"ib.mode": "paper"})
        assert changed.ib.account_id() == "DU1234567"
        assert changed.ib.mode == "paper"
