"""Alerts reach a real SMTP server (STARTTLS + login) and a local webhook; dedup, rate limits, masking."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from tradelib import alerts
from tradelib.alerts import (
    Alert,
    Alerter,
    AlertKind,
    AlertStatus,
    EmailChannel,
    LakeAlertStore,
    MemoryAlertStore,
    WebhookChannel,
)
from tradelib.config import AlertsConfig, EmailChannelConfig, WebhookChannelConfig
from tradelib.lake import Lake
from tradelib.preflight.report import Check, CheckStatus
from tradelib.risk.breaker import BreakerEvent, BreakerState, BreakerTrigger, make_event
from tradelib.scheduler import RunStatus
from tradelib.scheduler.runs import RunRecord
from tradelib.sync.reconcile import ReconEvent, ReconKind

from .conftest import SMTP_PASSWORD, SMTP_USER, SmtpServer, WebhookSink

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
ACCOUNT = "DU7654321"
HOOK_ENV = "TEST_ALERT_HOOK_URL"


def _env(smtp: SmtpServer | None, hook: WebhookSink | None) -> dict[str, str]:
    env = {"TRADELIB_SMTP_USER": SMTP_USER, "TRADELIB_SMTP_PASSWORD": SMTP_PASSWORD}
    if hook is not None:
        env[HOOK_ENV] = hook.url
    env["TRADELIB_ACCOUNT"] = ACCOUNT
    return env


def email_cfg(smtp: SmtpServer, **kw: object) -> EmailChannelConfig:
    return EmailChannelConfig(
        host=smtp.host,
        port=smtp.port,
        sender="bot@example.com",
        recipients=["trader@example.com"],
        timeout_s=5,
        **kw,  # type: ignore[arg-type]
    )


def make_alerter(
    smtp: SmtpServer,
    hook: WebhookSink,
    *,
    store: object | None = None,
    presets: tuple[str, ...] = ("json",),
    **cfg_kw: object,
) -> Alerter:
    hooks = [WebhookChannelConfig(name=f"hook-{p}", url_env=HOOK_ENV, preset=p) for p in presets]  # type: ignore[arg-type]
    cfg = AlertsConfig(email=email_cfg(smtp), webhooks=hooks, **cfg_kw)  # type: ignore[arg-type]
    env = _env(smtp, hook)
    assert cfg.email is not None
    channels = [
        EmailChannel(cfg.email, env, tls_context=smtp.client_tls),
        *(WebhookChannel(h, env) for h in hooks),
    ]
    return Alerter(cfg, store or MemoryAlertStore(), channels, env=env)  # type: ignore[arg-type]


def _run(status: RunStatus) -> RunRecord:
    return RunRecord("sync-1", "sync", NOW, status, NOW, 3.0, "boom: KeyError", "runs/sync/x.ipynb")


def _breaker(state: BreakerState) -> BreakerEvent:
    trigger = BreakerTrigger.DAILY_LOSS if state is BreakerState.OPEN else BreakerTrigger.MANUAL
    return make_event(NOW, state, trigger, "daily loss limit: lost $2,100.00", reset_by="ann")


# one builder per event kind the operator must see
EVENTS: dict[AlertKind, Callable[[], Alert | None]] = {
    AlertKind.BREAKER_TRIPPED: lambda: alerts.breaker_alert(_breaker(BreakerState.OPEN)),
    AlertKind.BREAKER_RESET: lambda: alerts.breaker_alert(_breaker(BreakerState.CLOSED)),
    AlertKind.SYNC_ANOMALY: lambda: alerts.reconciliation_alert(
        ReconEvent("r1", NOW, ReconKind.QUANTITY_MISMATCH, "SPY put short", 123, "SPY", -1.0, -2.0)
    ),
    AlertKind.JOB_FAILED: lambda: alerts.job_alert(_run(RunStatus.FAILED)),
    AlertKind.JOB_TIMEOUT: lambda: alerts.job_alert(_run(RunStatus.TIMEOUT)),
    AlertKind.JOB_ABANDONED: lambda: alerts.job_alert(_run(RunStatus.ABANDONED)),
    AlertKind.INVARIANT_VIOLATION: lambda: alerts.invariant_alert(
        "legs_sum_to_position",
        "SPY 450P: legs -2, broker -1",
        NOW,
        day=date(2026, 11, 20),
        strategy="ic-7",
    ),
    AlertKind.RISK_LIMIT_BREACH: lambda: alerts.limit_breach_alert(
        "portfolio_delta", 612.0, 500.0, NOW
    ),
    AlertKind.ORDER_REJECTED: lambda: alerts.order_rejected_alert(
        "tl-abc", "margin", NOW, code=201, symbol="SPY"
    ),
    AlertKind.CONNECTION_LOST: lambda: alerts.connection_lost_alert(
        NOW - timedelta(minutes=7), NOW, 5
    ),
    AlertKind.DAILY_LOSS_WARNING: lambda: alerts.daily_loss_alert(1200.0, 2000.0, 0.5, NOW),
    AlertKind.PREFLIGHT_FAILED: lambda: alerts.preflight_alert(
        [Check("option permission", CheckStatus.FAIL, "IB refuses (201)", "ask for options")],
        ["entry"],
        NOW,
    ),
    AlertKind.TEST: lambda: Alert(AlertKind.TEST, "t", "test", "test", NOW),
}


def test_every_kind_has_a_scenario() -> None:
    assert set(EVENTS) == set(AlertKind)


@pytest.mark.parametrize("kind", list(AlertKind), ids=str)
def test_each_event_kind_is_mailed_and_posted(
    kind: AlertKind, smtp_server: SmtpServer, webhook_sink: WebhookSink
) -> None:
    alert = EVENTS[kind]()
    assert alert is not None and alert.kind is kind
    record = make_alerter(smtp_server, webhook_sink).emit(alert)

    assert record.status is AlertStatus.SENT, record.reason
    assert record.channels == ("email", "hook-json")
    [mail] = smtp_server.mailbox.messages
    assert alert.title in mail["Subject"]
    assert smtp_server.mailbox.logins == [SMTP_USER]
    assert smtp_server.mailbox.tls_sessions == 1  # sent after STARTTLS
    [body] = webhook_sink.bodies()
    assert body["kind"] == str(kind) and body["title"] == alert.title


def test_slack_discord_and_ntfy_presets(smtp_server: SmtpServer, webhook_sink: WebhookSink) -> None:
    alerter = make_alerter(smtp_server, webhook_sink, presets=("slack", "discord", "ntfy"))
    alert = alerts.limit_breach_alert("portfolio_delta", 612.0, 500.0, NOW)
    record = alerter.emit(alert)

    assert record.channels == ("email", "hook-slack", "hook-discord", "hook-ntfy")
    by_path = {path: body for path, body in webhook_sink.posts}
    slack = by_path["/hook/tradelib-alerts"]  # slack and discord post to the URL itself
    bodies = [b for p, b in webhook_sink.posts if p == "/hook/tradelib-alerts"]
    assert {"text"} in [set(b) for b in bodies] and {"username", "content"} in [
        set(b) for b in bodies
    ]
    assert alert.title in slack.get("text", "") + slack.get("content", "")
    ntfy = by_path["/"]  # ntfy: JSON publishing at the server root, topic in the body
    assert ntfy["topic"] == "tradelib-alerts" and ntfy["priority"] == 5
    assert alert.title in ntfy["title"]


def test_same_event_again_within_the_window_is_stored_as_suppressed(
    smtp_server: SmtpServer, webhook_sink: WebhookSink
) -> None:
    store = MemoryAlertStore()
    alerter = make_alerter(smtp_server, webhook_sink, store=store, dedup_minutes=30)
    first = alerter.emit(alerts.job_alert(_run(RunStatus.FAILED)))  # type: ignore[arg-type]
    again = alerter.emit(
        alerts.job_alert(
            _run(RunStatus.FAILED).finish(RunStatus.FAILED, NOW + timedelta(minutes=5), 1, "x")
        )
    )  # type: ignore[arg-type]
    later = alerter.emit(
        alerts.job_alert(
            _run(RunStatus.FAILED).finish(RunStatus.FAILED, NOW + timedelta(minutes=31), 1, "x")
        )
    )  # type: ignore[arg-type]

    assert first.status is AlertStatus.SENT
    assert (
        again.status is AlertStatus.SUPPRESSED
        and again.reason
        and again.reason.startswith("duplicate")
    )
    assert later.status is AlertStatus.SENT
    assert len(smtp_server.mailbox.messages) == 2 and len(webhook_sink.posts) == 2
    assert len(store.records) == 3  # the suppressed one is stored too


def test_rate_limit_is_per_event_kind(smtp_server: SmtpServer, webhook_sink: WebhookSink) -> None:
    alerter = make_alerter(smtp_server, webhook_sink, rate_limit_per_hour=2)
    statuses = [
        alerter.emit(
            alerts.order_rejected_alert(f"tl-{i}", "margin", NOW + timedelta(minutes=i))
        ).status
        for i in range(4)
    ]
    other = alerter.emit(
        alerts.limit_breach_alert("margin_use", 0.6, 0.5, NOW + timedelta(minutes=5))
    )
    after_an_hour = alerter.emit(
        alerts.order_rejected_alert("tl-9", "margin", NOW + timedelta(minutes=61))
    )

    assert statuses == [
        AlertStatus.SENT,
        AlertStatus.SENT,
        AlertStatus.SUPPRESSED,
        AlertStatus.SUPPRESSED,
    ]
    assert other.status is AlertStatus.SENT
    assert after_an_hour.status is AlertStatus.SENT
    assert len(webhook_sink.posts) == 4


def test_no_secret_and_no_account_id_leaves_the_process(
    smtp_server: SmtpServer, webhook_sink: WebhookSink
) -> None:
    store = MemoryAlertStore()
    alerter = make_alerter(smtp_server, webhook_sink, store=store)
    leaky = f"account {ACCOUNT} pw {SMTP_PASSWORD} hook {webhook_sink.url} other U9876543"
    record = alerter.emit(
        Alert(AlertKind.ORDER_REJECTED, f"ref-{ACCOUNT}", f"rejected for {ACCOUNT}", leaky, NOW)
    )

    everything = " ".join(
        [
            str(record.row()),
            *(m.as_string() for m in smtp_server.mailbox.messages),
            *(str(b) for b in webhook_sink.bodies()),
        ]
    )
    for secret in (ACCOUNT, SMTP_PASSWORD, webhook_sink.url, "U9876543"):
        assert secret not in everything
    assert "DU*****21" in everything


class _Blackhole:
    """A TCP server that accepts and never answers (a hung channel)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.conns.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.fixture
def blackhole() -> Iterator[_Blackhole]:
    hole = _Blackhole()
    yield hole
    hole.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_failing_channels_are_recorded_never_raised(
    smtp_server: SmtpServer, webhook_sink: WebhookSink, blackhole: _Blackhole
) -> None:
    env = {
        "DEAD": f"http://127.0.0.1:{_closed_port()}/x",
        "HUNG": f"http://127.0.0.1:{blackhole.port}/x",
    }
    channels = [
        EmailChannel(
            EmailChannelConfig(
                host="127.0.0.1",
                port=blackhole.port,
                sender="a@b.c",
                recipients=["d@e.f"],
                timeout_s=0.3,
            ),
            env,
        ),
        WebhookChannel(WebhookChannelConfig(name="dead", url_env="DEAD"), env),
        WebhookChannel(WebhookChannelConfig(name="hung", url_env="HUNG", timeout_s=0.3), env),
        WebhookChannel(WebhookChannelConfig(name="unset", url_env="NOT_SET_ANYWHERE"), env),
    ]
    store = MemoryAlertStore()
    record = Alerter(AlertsConfig(), store, channels, env=env).emit(
        alerts.limit_breach_alert("delta", 2, 1, NOW)
    )

    assert record.status is AlertStatus.FAILED
    assert record.reason is not None
    for name in ("email", "dead", "hung", "unset"):
        assert f"{name}:" in record.reason
    assert "NOT_SET_ANYWHERE is not set" in record.reason
    assert env["DEAD"] not in record.reason and env["HUNG"] not in record.reason
    assert list(store.records.values()) == [record]


def test_one_failing_channel_does_not_stop_the_others(
    smtp_server: SmtpServer, webhook_sink: WebhookSink
) -> None:
    webhook_sink.status[0] = 500
    record = make_alerter(smtp_server, webhook_sink).emit(
        alerts.limit_breach_alert("delta", 2, 1, NOW)
    )
    assert record.status is AlertStatus.SENT and record.channels == ("email",)
    assert record.reason == "hook-json: HTTP 500 from the webhook"


@pytest.mark.slow
def test_smtp_without_starttls_or_with_a_bad_password_fails_cleanly(
    smtp_server: SmtpServer,
) -> None:
    env = {"TRADELIB_SMTP_USER": SMTP_USER, "TRADELIB_SMTP_PASSWORD": "wrong"}
    bad_pw = EmailChannel(email_cfg(smtp_server), env, tls_context=smtp_server.client_tls)
    plain = EmailChannel(email_cfg(smtp_server, starttls=False), {})  # no login without TLS
    for channel, expected in ((bad_pw, "login refused"), (plain, "SMTP error 530")):
        record = Alerter(AlertsConfig(), None, [channel]).emit(
            alerts.limit_breach_alert("d", 2, 1, NOW)
        )
        assert record.status is AlertStatus.FAILED
        assert record.reason is not None and expected in record.reason
        assert "wrong" not in record.reason
    assert smtp_server.mailbox.messages == []


def test_lake_keeps_alerts_and_shares_dedup_between_processes(
    tmp_path: Path, smtp_server: SmtpServer, webhook_sink: WebhookSink
) -> None:
    lake = Lake(str(tmp_path / "lake"))
    first = make_alerter(smtp_server, webhook_sink, store=LakeAlertStore(lake))
    second = make_alerter(smtp_server, webhook_sink, store=LakeAlertStore(lake))  # another process
    first.emit(alerts.job_alert(_run(RunStatus.TIMEOUT)))  # type: ignore[arg-type]
    dup = second.emit(
        alerts.job_alert(
            _run(RunStatus.TIMEOUT).finish(RunStatus.TIMEOUT, NOW + timedelta(minutes=1), 1, "t")
        )
    )  # type: ignore[arg-type]

    assert dup.status is AlertStatus.SUPPRESSED
    stored = alerts.read_alerts(lake)
    assert stored["status"].to_list() == ["suppressed", "sent"]
    assert set(stored["kind"]) == {"job_timeout"}


def test_without_channels_alerts_are_stored_not_sent() -> None:
    store = MemoryAlertStore()
    record = Alerter(AlertsConfig(), store, env={}).emit(alerts.limit_breach_alert("d", 2, 1, NOW))
    assert record.status is AlertStatus.SUPPRESSED and record.reason == "no channel configured"
    assert len(store.records) == 1


def test_emit_without_an_installed_alerter_only_logs() -> None:
    previous = alerts.install(None)
    try:
        assert alerts.emit(AlertKind.ORDER_REJECTED, "tl-1", "rejected", now=NOW) is None
        alerter = Alerter(AlertsConfig(), env={})
        alerts.install(alerter)
        record = alerts.emit(AlertKind.ORDER_REJECTED, "tl-1", "rejected", now=NOW)
        assert record is not None and record.alert.kind is AlertKind.ORDER_REJECTED
    finally:
        alerts.install(previous)


def test_connection_watch_alerts_once_the_outage_passes_the_threshold() -> None:
    watch = alerts.ConnectionWatch(threshold_minutes=5)
    assert watch.update(False, NOW) is None
    assert watch.update(False, NOW + timedelta(minutes=4)) is None
    late = watch.update(False, NOW + timedelta(minutes=6))
    assert late is not None and late.kind is AlertKind.CONNECTION_LOST
    assert watch.update(True, NOW + timedelta(minutes=7)) is None and watch.down_since is None


def test_connection_watch_alerts_once_per_outage_and_a_recovery_starts_afresh() -> None:
    watch = alerts.ConnectionWatch(threshold_minutes=5)
    watch.update(False, NOW)
    first = watch.update(False, NOW + timedelta(minutes=6))
    assert first is not None
    assert watch.update(False, NOW + timedelta(minutes=30)) is None, "the same outage: once"
    assert watch.update(True, NOW + timedelta(minutes=31)) is None and not watch.alerted
    watch.update(False, NOW + timedelta(minutes=40))
    second = watch.update(False, NOW + timedelta(minutes=46))
    assert second is not None and second.key != first.key


def test_daily_loss_warning_fires_past_the_fraction_only() -> None:
    assert alerts.daily_loss_alert(900.0, 2000.0, 0.5, NOW) is None
    warn = alerts.daily_loss_alert(1000.0, 2000.0, 0.5, NOW)
    assert warn is not None and "50%" in warn.title


def test_routine_expiries_are_not_alerted() -> None:
    expired = ReconEvent("r2", NOW, ReconKind.EXPIRED, "expired worthless", 5, "SPY")
    assert alerts.reconciliation_alert(expired) is None
    assert alerts.job_alert(_run(RunStatus.SUCCESS)) is None


def test_the_same_event_seen_twice_keeps_its_first_record(
    smtp_server: SmtpServer, webhook_sink: WebhookSink
) -> None:
    store = MemoryAlertStore()
    alerter = make_alerter(smtp_server, webhook_sink, store=store)
    event = alerts.breaker_alert(_breaker(BreakerState.OPEN))  # two processes record one trip
    first, second = alerter.emit(event), alerter.emit(event)

    assert first.status is AlertStatus.SENT
    assert second.status is AlertStatus.SUPPRESSED and second.reason is not None
    assert [r.status for r in store.records.values()] == [AlertStatus.SENT]
    assert len(webhook_sink.posts) == 1
