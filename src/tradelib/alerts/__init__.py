"""Alerts: e-mail and webhook messages for the events a human must see, stored in the lake.

Typical use in a job::

    from tradelib import alerts
    alerts.configure(cfg, lake)                       # once per process
    alerts.emit(alerts.job_alert(run))                # or emit(kind, key, title, message)

``emit`` never raises and never blocks longer than the channels' timeouts.
"""

from tradelib.alerts.channels import (
    Channel,
    ChannelError,
    EmailChannel,
    WebhookChannel,
    discord_payload,
    json_payload,
    ntfy_payload,
    slack_payload,
)
from tradelib.alerts.dispatch import (
    Alerter,
    AlertPolicy,
    build_channels,
    configure,
    current,
    emit,
    install,
)
from tradelib.alerts.events import (
    ConnectionWatch,
    breaker_alert,
    connection_lost_alert,
    daily_loss_alert,
    invariant_alert,
    job_alert,
    limit_breach_alert,
    order_rejected_alert,
    preflight_alert,
    reconciliation_alert,
)
from tradelib.alerts.model import Alert, AlertKind, AlertRecord, AlertStatus, Severity
from tradelib.alerts.store import ALERTS_TABLE, LakeAlertStore, MemoryAlertStore, read_alerts

__all__ = [
    "ALERTS_TABLE",
    "Alert",
    "AlertKind",
    "AlertPolicy",
    "AlertRecord",
    "AlertStatus",
    "Alerter",
    "Channel",
    "ChannelError",
    "ConnectionWatch",
    "EmailChannel",
    "LakeAlertStore",
    "MemoryAlertStore",
    "Severity",
    "WebhookChannel",
    "breaker_alert",
    "build_channels",
    "configure",
    "connection_lost_alert",
    "current",
    "daily_loss_alert",
    "discord_payload",
    "emit",
    "install",
    "invariant_alert",
    "job_alert",
    "json_payload",
    "limit_breach_alert",
    "ntfy_payload",
    "order_rejected_alert",
    "preflight_alert",
    "read_alerts",
    "reconciliation_alert",
    "slack_payload",
]
