"""Where the config comes from, and how a broken file is reported."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tradelib.config import (
    InvalidConfigError,
    TradingConfig,
    load_config,
    resolve_config_path,
    workspace_root,
)
from tradelib.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_anywhere_means_pure_defaults(tmp_path: Path) -> None:
    assert resolve_config_path(env={}) is None
    assert load_config(env={}) == TradingConfig()
    assert workspace_root() == tmp_path.resolve()


def test_config_is_found_by_walking_up_from_a_notebook_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "config" / "trading_config.yaml", "risk:\n  max_portfolio_delta: 250\n")
    notebooks = tmp_path / "notebooks" / "research"
    notebooks.mkdir(parents=True)
    monkeypatch.chdir(notebooks)
    assert load_config(env={}).risk.max_portfolio_delta == 250
    assert workspace_root() == tmp_path.resolve()


def test_env_var_beats_the_walk_and_an_explicit_path_beats_both(tmp_path: Path) -> None:
    write(tmp_path / "config" / "trading_config.yaml", "risk: {max_portfolio_delta: 250}\n")
    from_env = write(tmp_path / "env.yaml", "risk: {max_portfolio_delta: 260}\n")
    explicit = write(tmp_path / "explicit.yaml", "risk: {max_portfolio_delta: 270}\n")
    env = {"TRADELIB_CONFIG": str(from_env)}
    assert load_config(env=env).risk.max_portfolio_delta == 260
    assert load_config(explicit, env=env).risk.max_portfolio_delta == 270
    assert load_config(str(explicit), env={}).risk.max_portfolio_delta == 270


def test_process_environment_is_the_default_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "x.yaml", "ib: {mode: paper}\n")
    monkeypatch.setenv("TRADELIB_CONFIG", str(path))
    assert load_config().ib.mode == "paper"


def test_empty_file_is_defaults(tmp_path: Path) -> None:
    path = write(tmp_path / "empty.yaml", "# nothing set yet\n")
    assert load_config(path, env={}) == TradingConfig()


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=f"config file not found: {missing}"):
        load_config(missing, env={})
    with pytest.raises(ConfigError, match="not found"):
        load_config(env={"TRADELIB_CONFIG": str(missing)})


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.yaml", "risk:\n  max_portfolio_delta: 1\n  x: [1, 2\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(path) in str(info.value)
    assert "line 4" in str(info.value)


def test_duplicate_keys_are_an_error_not_a_silent_last_wins(tmp_path: Path) -> None:
    path = write(tmp_path / "dup.yaml", "risk: {}\nib: {}\nrisk: {}\n")
    with pytest.raises(ConfigError, match=r"line 3.*duplicate key 'risk'"):
        load_config(path, env={})


@pytest.mark.parametrize("text", ["- risk\n- ib\n", "just a string\n", "42\n"])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "list.yaml", text)
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(path, env={})


def test_bad_values_in_a_file_name_the_file_and_every_key(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad.yaml",
        "risk:\n  max_portfolio_delta: -5\nprofit_targets:\n  regime:\n    crsh: 0.4\n",
    )
    with pytest.raises(InvalidConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert str(path) in message
    assert "risk.max_portfolio_delta: must be > 0, got -5" in message
    assert "profit_targets.regime.crsh: unknown key 'crsh' (did you mean 'crash'?)" in message


def test_relative_local_lake_resolves_against_the_workspace(tmp_path: Path) -> None:
    write(tmp_path / "config" / "trading_config.yaml", "")
    config = load_config(env={})
    root = workspace_root()
    assert config.storage.is_local
    assert config.storage.resolved_uri(root) == os.fspath(tmp_path.resolve() / "data" / "lake")
    absolute = config.with_overrides({"storage.lake_uri": "/srv/lake"})
    assert absolute.storage.resolved_uri(root) == "/srv/lake"
    s3 = config.with_overrides({"storage.lake_uri": "s3://bucket/lake"})
    assert s3.storage.resolved_uri(root) == "s3://bucket/lake"
