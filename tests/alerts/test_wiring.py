"""The breaker and the scheduler raise alerts on their own; `tradelib alerts test` sends one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tradelib.alerts import read_alerts
from tradelib.cli import app
from tradelib.config import TradingConfig
from tradelib.lake import Lake
from tradelib.risk.breaker import BreakerTrigger
from tradelib.scheduler import Outcome, Runner, RunStatus
from tradelib.stores.risk import lake_breaker

from .conftest import WebhookSink

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
HOOK_ENV = "TEST_ALERT_HOOK_URL"


def _cfg(**alerts: Any) -> TradingConfig:
    return TradingConfig.from_mapping(
        {"alerts": {"webhooks": [{"name": "ops", "url_env": HOOK_ENV}], **alerts}}
    )


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch, webhook_sink: WebhookSink) -> WebhookSink:
    monkeypatch.setenv(HOOK_ENV, webhook_sink.url)
    return webhook_sink


def test_breaker_trip_and_reset_each_raise_an_alert(tmp_path: Path, hook: WebhookSink) -> None:
    lake = Lake(str(tmp_path / "lake"))
    breaker = lake_breaker(_cfg(), lake)

    breaker.trip(NOW, BreakerTrigger.CONSECUTIVE_FAILURES, "3 consecutive order failures >= 3")
    breaker.reset(NOW + timedelta(minutes=5), by="ann")

    assert [b["kind"] for b in hook.bodies()] == ["breaker_tripped", "breaker_reset"]
    assert "entries halted" in hook.bodies()[0]["title"]
    assert sorted(read_alerts(lake)["kind"]) == ["breaker_reset", "breaker_tripped"]


def test_a_breaker_closing_by_rule_raises_a_reset_alert(tmp_path: Path, hook: WebhookSink) -> None:
    lake = Lake(str(tmp_path / "lake"))
    breaker = lake_breaker(_cfg(), lake)
    breaker.trip(NOW, BreakerTrigger.ORDER_RATE, "order rate")
    breaker.status(NOW + timedelta(hours=2))  # past the 60-minute cooldown
    assert [b["kind"] for b in hook.bodies()] == ["breaker_tripped", "breaker_reset"]


class _Executor:
    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome

    def __call__(self, notebook: Path, output: Path, parameters: Any, **_: Any) -> Outcome:
        output.write_text("{}")
        return self.outcome


@pytest.mark.parametrize(
    ("outcome", "kind"),
    [
        (Outcome(RunStatus.FAILED, "KeyError: 'spot'"), "job_failed"),
        (Outcome(RunStatus.TIMEOUT, "timed out after 300 s"), "job_timeout"),
        (Outcome(RunStatus.SUCCESS), None),
    ],
)
def test_scheduler_alerts_on_failed_and_timed_out_runs(
    tmp_path: Path, hook: WebhookSink, outcome: Outcome, kind: str | None
) -> None:
    root = tmp_path / "ws"
    (root / "notebooks").mkdir(parents=True)
    (root / "notebooks" / "sync.ipynb").write_text("{}")
    lake = Lake(str(root / "lake"))
    runner = Runner(_cfg(), root=root, lake=lake, executor=_Executor(outcome))

    runner.run_job("sync", NOW)

    if kind is None:
        assert hook.posts == [] and read_alerts(lake).is_empty()
        return
    [body] = hook.bodies()
    assert body["kind"] == kind and body["key"] == "sync"
    assert outcome.error is not None and outcome.error in body["message"]
    assert read_alerts(lake)["status"].to_list() == ["sent"]


def test_cli_alerts_test_sends_a_test_message(
    tmp_path: Path, hook: WebhookSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "trading_config.yaml"
    config.write_text(
        f"alerts:\n  webhooks:\n    - {{name: ops, url_env: {HOOK_ENV}, preset: slack}}\n"
    )
    lake = tmp_path / "lake"
    monkeypatch.delenv("TRADELIB_CONFIG", raising=False)

    result = CliRunner().invoke(
        app, ["alerts", "test", "--config", str(config), "--lake", str(lake)]
    )

    assert result.exit_code == 0, result.output
    assert result.output.startswith("sent test")
    [body] = hook.bodies()
    assert "tradelib test alert" in body["text"]
    listed = CliRunner().invoke(app, ["alerts", "ls", "--config", str(config), "--lake", str(lake)])
    assert "tradelib test alert" in listed.output


def test_cli_alerts_test_exits_1_when_nothing_delivers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "trading_config.yaml"
    config.write_text(f"alerts:\n  webhooks:\n    - {{name: ops, url_env: {HOOK_ENV}}}\n")
    monkeypatch.delenv(HOOK_ENV, raising=False)
    result = CliRunner().invoke(
        app, ["alerts", "test", "--config", str(config), "--lake", str(tmp_path / "l")]
    )
    assert result.exit_code == 1
    assert f"{HOOK_ENV} is not set" in result.output
