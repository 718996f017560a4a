"""The alerter: dedup, rate limit, mask, send, record; never raises into the caller.

A failing channel must never block trading: every channel call has a timeout,
every error is caught and stored as the alert's reason, and a lake hiccup while
checking or recording is logged, not raised.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import polars as pl

from tradelib.alerts.channels import Channel, ChannelError, EmailChannel, WebhookChannel
from tradelib.alerts.model import (
    ALREADY_RAISED,
    DISABLED,
    DUPLICATE,
    NO_CHANNEL,
    RATE_LIMITED,
    Alert,
    AlertKind,
    AlertRecord,
    AlertStatus,
    Severity,
)
from tradelib.alerts.store import AlertStore, LakeAlertStore, MemoryAlertStore
from tradelib.config import ACCOUNT_ENV, AlertsConfig
from tradelib.secrets import mask_all

if TYPE_CHECKING:
    from tradelib.config import TradingConfig
    from tradelib.lake import Lake

log = logging.getLogger(__name__)

RATE_WINDOW = timedelta(hours=1)
MAX_TEXT = 4000  # characters kept of a message


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """Dedup and rate limits as a pure function of the recent records."""

    dedup: timedelta
    rate_limit_per_hour: int

    @classmethod
    def from_config(cls, cfg: AlertsConfig) -> AlertPolicy:
        return cls(timedelta(minutes=cfg.dedup_minutes), cfg.rate_limit_per_hour)

    def window(self, now: datetime) -> datetime:
        """Return the oldest time the policy looks at."""
        return now - max(self.dedup, RATE_WINDOW)

    def suppression(self, alert: Alert, recent: pl.DataFrame) -> str | None:
        """Return why ``alert`` must not be sent (duplicate, rate limited), or None."""
        if alert.kind is AlertKind.TEST:
            return None
        same_kind = recent.filter(pl.col("kind") == str(alert.kind))
        # "raised" = a record not itself suppressed as a duplicate or over the rate
        raised = same_kind.filter(
            pl.col("reason").is_null()
            | ~(
                pl.col("reason").str.starts_with(DUPLICATE)
                | pl.col("reason").str.starts_with(RATE_LIMITED)
            )
        )
        if self.dedup > timedelta(0):
            twin = raised.filter(
                (pl.col("key") == alert.key)
                & (pl.col("ts") > alert.ts - self.dedup)
                & (pl.col("ts") <= alert.ts)
            )
            if twin.height:
                first = twin["ts"].max()
                when = f" at {first:%Y-%m-%d %H:%M:%S} UTC" if isinstance(first, datetime) else ""
                return f"{DUPLICATE} of the alert{when}"
        attempts = raised.filter(
            pl.col("status").is_in([str(AlertStatus.SENT), str(AlertStatus.FAILED)])
            & (pl.col("ts") > alert.ts - RATE_WINDOW)
            & (pl.col("ts") <= alert.ts)
        )
        if attempts.height >= self.rate_limit_per_hour:
            return f"{RATE_LIMITED}: {attempts.height} {alert.kind} alerts in the last hour"
        return None


def build_channels(cfg: AlertsConfig, env: Mapping[str, str] | None = None) -> list[Channel]:
    """Return the configured channels, credentials read from ``env`` (default: os.environ)."""
    env = os.environ if env is None else env
    channels: list[Channel] = []
    if cfg.email is not None:
        channels.append(EmailChannel(cfg.email, env))
    channels += [WebhookChannel(w, env) for w in cfg.webhooks]
    return channels


class Alerter:
    """Raise alerts: mask, dedup, rate-limit, send through every channel, store the outcome."""

    def __init__(
        self,
        cfg: AlertsConfig | None = None,
        store: AlertStore | None = None,
        channels: Sequence[Channel] | None = None,
        *,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.cfg = cfg or AlertsConfig()
        self.store: AlertStore = store if store is not None else MemoryAlertStore()
        self.channels: list[Channel] = (
            list(channels) if channels is not None else build_channels(self.cfg, env)
        )
        self.policy = AlertPolicy.from_config(self.cfg)
        environ = os.environ if env is None else env
        account = environ.get(ACCOUNT_ENV, "").strip()
        self._secrets = [
            *(s for c in self.channels for s in c.secrets()),
            *([account] if account else []),
        ]

    @classmethod
    def from_config(
        cls, cfg: TradingConfig, lake: Lake | None = None, *, env: Mapping[str, str] | None = None
    ) -> Alerter:
        """Build from ``cfg.alerts``, recording in ``lake`` when given."""
        store = LakeAlertStore(lake) if lake is not None else None
        return cls(cfg.alerts, store, env=env)

    def __repr__(self) -> str:
        return f"Alerter(channels={[c.name for c in self.channels]}, store={self.store!r})"

    def clean(self, text: str) -> str:
        """Return ``text`` with secrets and account ids masked, cut to ``MAX_TEXT``."""
        masked = mask_all(text, self._secrets)
        return masked if len(masked) <= MAX_TEXT else masked[: MAX_TEXT - 1] + "…"

    def emit(self, alert: Alert) -> AlertRecord:
        """Raise ``alert``; return what became of it. Never raises."""
        alert = replace(
            alert,
            key=self.clean(alert.key),
            title=self.clean(alert.title),
            message=self.clean(alert.message),
        )
        try:
            record = self._deliver(alert)
        except Exception as exc:  # a bug here must not reach the trading code
            log.exception("alerts: delivering %s failed", alert.kind)
            record = AlertRecord(
                alert, AlertStatus.FAILED, self.clean(f"internal error: {type(exc).__name__}")
            )
        try:
            if record.reason != ALREADY_RAISED:  # never overwrite the first record of an event
                self.store.add(record)
        except Exception:
            log.exception("alerts: could not record %s", alert.kind)
        # A channel that failed needs attention; a duplicate or an alert with no channel to
        # go to is recorded, and only logged quietly.
        level = logging.WARNING if record.status is AlertStatus.FAILED else logging.INFO
        log.log(level, "alert %s", record.summary())
        return record

    def _deliver(self, alert: Alert) -> AlertRecord:
        try:
            recent = self.store.recent(self.policy.window(alert.ts))
        except Exception:  # cannot check: better one alert too many than a silent one
            log.exception("alerts: could not read recent alerts; sending without dedup")
            recent = MemoryAlertStore().recent(alert.ts)
        same = recent.filter(
            (pl.col("kind") == str(alert.kind))
            & (pl.col("key") == alert.key)
            & (pl.col("ts") == alert.ts)
        )
        if same.height:  # the very same event again (two processes saw it): already handled
            return AlertRecord(alert, AlertStatus.SUPPRESSED, ALREADY_RAISED)
        why = self.policy.suppression(alert, recent)
        if why is not None:
            return AlertRecord(alert, AlertStatus.SUPPRESSED, why)
        if not self.cfg.enabled:
            return AlertRecord(alert, AlertStatus.SUPPRESSED, DISABLED)
        if not self.channels:
            return AlertRecord(alert, AlertStatus.SUPPRESSED, NO_CHANNEL)
        sent: list[str] = []
        errors: list[str] = []
        for channel in self.channels:
            try:
                channel.send(alert)
            except ChannelError as exc:
                errors.append(f"{channel.name}: {exc}")
            except Exception as exc:
                errors.append(f"{channel.name}: {type(exc).__name__}")
            else:
                sent.append(channel.name)
        reason = self.clean("; ".join(errors)) if errors else None
        status = AlertStatus.SENT if sent else AlertStatus.FAILED
        return AlertRecord(alert, status, reason, tuple(sent))

    def raise_(
        self,
        kind: AlertKind,
        key: str,
        title: str,
        message: str = "",
        *,
        now: datetime | None = None,
        severity: Severity | None = None,
    ) -> AlertRecord:
        """Build and emit an alert in one call."""
        return self.emit(
            Alert(kind, key, title, message or title, now or datetime.now(UTC), severity)
        )

    def test(self, now: datetime | None = None) -> AlertRecord:
        """Send a test message through every channel (never deduplicated)."""
        at = now or datetime.now(UTC)
        return self.raise_(
            AlertKind.TEST,
            f"test-{at:%Y%m%dT%H%M%S}",
            "tradelib test alert",
            "This is a test of the tradelib alert channels. Nothing is wrong.",
            now=at,
        )


# --- the process-wide alerter ----------------------------------------------------------
_installed: Alerter | None = None


def install(alerter: Alerter | None) -> Alerter | None:
    """Make ``alerter`` the one ``emit`` uses in this process (None: uninstall); return the old one."""
    global _installed
    previous, _installed = _installed, alerter
    return previous


def configure(cfg: TradingConfig, lake: Lake | None = None) -> Alerter:
    """Build an alerter from ``cfg`` (recording in ``lake``) and install it; return it."""
    alerter = Alerter.from_config(cfg, lake)
    install(alerter)
    return alerter


def current() -> Alerter | None:
    """Return the installed alerter, if any."""
    return _installed


def emit(
    alert: Alert | AlertKind,
    key: str = "",
    title: str = "",
    message: str = "",
    *,
    now: datetime | None = None,
    severity: Severity | None = None,
    alerter: Alerter | None = None,
) -> AlertRecord | None:
    """Raise an alert through ``alerter`` (default: the installed one); never raises.

    Takes a built ``Alert`` (see ``tradelib.alerts.events``) or its parts. Without
    an alerter (none installed: call ``configure(cfg, lake)`` once per process)
    the alert is only logged, and None is returned.
    """
    try:
        if isinstance(alert, Alert):
            built = alert
        else:
            built = Alert(
                AlertKind(alert), key, title, message or title, now or datetime.now(UTC), severity
            )
        target = alerter or _installed
        if target is None:
            log.warning(
                "alert (not configured, only logged): %s %s: %s",
                built.kind,
                built.key,
                mask_all(built.title),
            )
            return None
        return target.emit(built)
    except Exception:
        log.exception("alerts: emit failed")
        return None
