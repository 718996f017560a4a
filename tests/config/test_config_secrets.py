"""Secrets come from the environment only and never show up in any display; live
trading needs both opt-ins."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from tradelib.config import InvalidConfigError, TradingConfig, load_config
from tradelib.config.storage import StorageConfig
from tradelib.errors import ConfigError, LiveTradingNotAllowed
from tradelib.secrets import install_log_masking, registered_secrets

ACCOUNT = "DU1234567"


def test_account_in_the_yaml_is_rejected_naming_the_env_var(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"ib:\n  account: {ACCOUNT}\n", encoding="utf-8")
    with pytest.raises(InvalidConfigError) as info:
        load_config(path, env={})
    assert info.value.problems == (
        "ib.account: must not be set in the config; "
        "set the TRADELIB_IB_ACCOUNT environment variable instead",
    )
    assert ACCOUNT not in str(info.value)


def test_account_cannot_be_smuggled_in_through_overrides() -> None:
    with pytest.raises(ConfigError, match="TRADELIB_IB_ACCOUNT"):
        TradingConfig().with_overrides({"ib.account": ACCOUNT})
    with pytest.raises(ConfigError, match="TRADELIB_IB_ACCOUNT"):
        TradingConfig().with_overrides({"ib": {"account": ACCOUNT}})


def test_env_account_is_loaded_but_never_displayed() -> None:
    config = load_config(env={"TRADELIB_IB_ACCOUNT": ACCOUNT})
    assert config.ib.account_id() == ACCOUNT
    displays = [
        repr(config),
        str(config),
        repr(config.ib),
        str(config.model_dump()),
        config.model_dump_json(),
        yaml.safe_dump(config.model_dump(mode="json")),
    ]
    for shown in displays:
        assert ACCOUNT not in shown
    assert ACCOUNT in registered_secrets()  # so logs mask it too


def test_env_account_is_masked_in_logs_of_a_loaded_config(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = load_config(env={"TRADELIB_IB_ACCOUNT": "ACC-PRIVATE-99"})
    logger = logging.getLogger("tradelib.test.config")
    install_log_masking(logger)
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info("connecting as %s", config.ib.account_id())
    assert "ACC-PRIVATE-99" not in caplog.text
    assert "connecting as" in caplog.text


@pytest.mark.parametrize(
    ("allow_live", "env_flag", "missing"),
    [
        (False, None, ["ib.allow_live is false", "TRADELIB_ALLOW_LIVE is not '1'"]),
        (True, None, ["TRADELIB_ALLOW_LIVE is not '1'"]),
        (False, "1", ["ib.allow_live is false"]),
        (True, "yes", ["TRADELIB_ALLOW_LIVE is not '1'"]),
    ],
)
def test_live_is_refused_without_both_opt_ins(
    allow_live: bool, env_flag: str | None, missing: list[str]
) -> None:
    config = TradingConfig().with_overrides({"ib.mode": "live", "ib.allow_live": allow_live})
    env = {} if env_flag is None else {"TRADELIB_ALLOW_LIVE": env_flag}
    with pytest.raises(LiveTradingNotAllowed) as info:
        config.ensure_live_allowed(env)
    assert f"({' and '.join(missing)})" in str(info.value)


def test_live_with_both_opt_ins_passes() -> None:
    config = TradingConfig().with_overrides({"ib.mode": "live", "ib.allow_live": True})
    assert config.ib.mode == "live"
    assert config.ensure_live_allowed({"TRADELIB_ALLOW_LIVE": "1"}) is None  # no refusal
    # ... and the same live config is refused the moment the environment's opt-in goes.
    with pytest.raises(LiveTradingNotAllowed, match="TRADELIB_ALLOW_LIVE is not '1'"):
        config.ensure_live_allowed({"TRADELIB_ALLOW_LIVE": "0"})


@pytest.mark.parametrize("mode", ["sim", "paper", "readonly"])
def test_modes_other_than_live_need_no_opt_in(mode: str) -> None:
    config = TradingConfig().with_overrides({"ib.mode": mode, "ib.allow_live": False})
    assert config.ib.mode == mode
    # Neither opt-in is given, yet nothing is refused: only live needs them.
    assert config.ensure_live_allowed({}) is None
    assert config.ensure_live_allowed({"TRADELIB_ALLOW_LIVE": "no"}) is None


def test_live_opt_in_reads_the_process_environment_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = TradingConfig().with_overrides({"ib.mode": "live", "ib.allow_live": True})
    with pytest.raises(LiveTradingNotAllowed):
        config.ensure_live_allowed()
    monkeypatch.setenv("TRADELIB_ALLOW_LIVE", "1")
    config.ensure_live_allowed()


S3_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG",
    "AWS_REGION": "us-east-1",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
    "AWS_ALLOW_HTTP": "true",
    "HOME": "/root",
    "TRADELIB_IB_ACCOUNT": ACCOUNT,
}


def test_s3_storage_options_come_from_the_environment_only() -> None:
    storage = StorageConfig(lake_uri="s3://bucket/lake")
    assert storage.storage_options(S3_ENV) == {
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_ALLOW_HTTP": "true",
    }
    assert storage.storage_options({}) == {}


def test_local_lake_needs_no_storage_options() -> None:
    assert StorageConfig().storage_options(S3_ENV) == {}
    assert StorageConfig(lake_uri="file:///srv/lake").storage_options(S3_ENV) == {}


def test_loading_registers_object_store_secrets_for_masking() -> None:
    config = load_config(env=S3_ENV)
    assert "wJalrXUtnFEMI/K7MDENG" in registered_secrets()
    assert "wJalrXUtnFEMI/K7MDENG" not in repr(config)
