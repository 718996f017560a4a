"""`tradelib breaker reset` alerts like a reset by rule: sent through the channels and stored."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradelib.alerts import read_alerts
from tradelib.cli.breaker_cmd import app
from tradelib.config import TradingConfig
from tradelib.lake import Lake
from tradelib.risk.breaker import BreakerTrigger
from tradelib.stores.risk import lake_breaker

from .conftest import WebhookSink

HOOK_ENV = "TEST_ALERT_HOOK_URL"
CONFIG = f"""
alerts:
  webhooks:
    - name: ops
      url_env: {HOOK_ENV}
"""


@pytest.fixture
def tripped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lake:
    monkeypatch.chdir(tmp_path)
    lake = Lake(tmp_path / "lake")
    lake_breaker(TradingConfig(), lake).trip(
        datetime.now(UTC), BreakerTrigger.CONSECUTIVE_FAILURES, "3 consecutive order failures"
    )
    return lake


def test_a_reset_by_hand_sends_and_stores_the_breaker_reset_alert(
    tripped: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, webhook_sink: WebhookSink
) -> None:
    config = tmp_path / "trading_config.yaml"
    config.write_text(CONFIG)
    monkeypatch.setenv("TRADELIB_CONFIG", str(config))
    monkeypatch.setenv(HOOK_ENV, webhook_sink.url)

    result = CliRunner().invoke(
        app, ["reset", "--by", "alice", "--reason", "checked", "--lake", tripped.root]
    )

    assert result.exit_code == 0, result.output
    (body,) = webhook_sink.bodies()
    assert body["kind"] == "breaker_reset"
    assert "reset by alice (manual)" in body["title"]
    stored = read_alerts(Lake(tripped.root))
    resets = stored.filter(stored["kind"] == "breaker_reset")
    assert resets["status"].to_list() == ["sent"]


def test_a_reset_by_hand_with_no_channel_still_records_the_alert(
    tripped: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRADELIB_CONFIG", raising=False)

    result = CliRunner().invoke(app, ["reset", "--by", "bob", "--lake", tripped.root])

    assert result.exit_code == 0, result.output
    stored = read_alerts(Lake(tripped.root))
    resets = stored.filter(stored["kind"] == "breaker_reset")
    assert resets.height == 1 and resets["status"].to_list() == ["suppressed"]
    assert "bob" in resets["title"].item()
