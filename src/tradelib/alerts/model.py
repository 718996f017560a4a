"""What an alert is: its kind, severity, subject, and what became of it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from tradelib.domain.time import ensure_utc


class AlertKind(StrEnum):
    """The events a human must see (SPEC part 18)."""

    BREAKER_TRIPPED = "breaker_tripped"
    BREAKER_RESET = "breaker_reset"
    SYNC_ANOMALY = "sync_anomaly"  # a reconciliation difference between the lake and the broker
    JOB_FAILED = "job_failed"
    JOB_TIMEOUT = "job_timeout"
    JOB_ABANDONED = "job_abandoned"
    INVARIANT_VIOLATION = "invariant_violation"  # a book invariant broke
    RISK_LIMIT_BREACH = "risk_limit_breach"  # the existing book is over a risk limit
    ORDER_REJECTED = "order_rejected"  # by the broker
    CONNECTION_LOST = "connection_lost"  # broker connection down longer than N minutes
    DAILY_LOSS_WARNING = "daily_loss_warning"  # day's loss past a share of the breaker's limit
    PREFLIGHT_FAILED = "preflight_failed"  # the scheduler's daily preflight said no-go
    TEST = "test"  # ``tradelib alerts test``


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


DEFAULT_SEVERITY: dict[AlertKind, Severity] = {
    AlertKind.BREAKER_TRIPPED: Severity.CRITICAL,
    AlertKind.BREAKER_RESET: Severity.INFO,
    AlertKind.SYNC_ANOMALY: Severity.WARNING,
    AlertKind.JOB_FAILED: Severity.WARNING,
    AlertKind.JOB_TIMEOUT: Severity.WARNING,
    AlertKind.JOB_ABANDONED: Severity.WARNING,
    AlertKind.INVARIANT_VIOLATION: Severity.CRITICAL,
    AlertKind.RISK_LIMIT_BREACH: Severity.CRITICAL,
    AlertKind.ORDER_REJECTED: Severity.WARNING,
    AlertKind.CONNECTION_LOST: Severity.CRITICAL,
    AlertKind.DAILY_LOSS_WARNING: Severity.WARNING,
    AlertKind.PREFLIGHT_FAILED: Severity.CRITICAL,
    AlertKind.TEST: Severity.INFO,
}


class AlertStatus(StrEnum):
    """What became of an alert (the ``status`` column of ``alerts``)."""

    SENT = "sent"  # delivered by at least one channel
    SUPPRESSED = "suppressed"  # duplicate, over the rate limit, or nowhere to send it
    FAILED = "failed"  # every channel failed


# Reasons for a suppression; DUPLICATE and RATE_LIMITED do not count as the event being raised.
DUPLICATE = "duplicate"
RATE_LIMITED = "rate limited"
NO_CHANNEL = "no channel configured"
DISABLED = "alerts disabled in config"
ALREADY_RAISED = "already raised: the same event (kind, key, time) is recorded"  # not stored again


@dataclass(frozen=True, slots=True)
class Alert:
    """One event to tell a human about.

    ``key`` says what it is about (a job name, an order reference, a limit): the
    same kind and key again within the dedup window is a duplicate.
    """

    kind: AlertKind
    key: str
    title: str
    message: str
    ts: datetime
    severity: Severity | None = None  # None: the kind's default

    def __post_init__(self) -> None:
        object.__setattr__(self, "ts", ensure_utc(self.ts, "Alert.ts"))
        object.__setattr__(self, "kind", AlertKind(self.kind))
        if self.severity is None:
            object.__setattr__(self, "severity", DEFAULT_SEVERITY[self.kind])

    @property
    def level(self) -> Severity:
        """Return the severity (never None after construction)."""
        assert self.severity is not None
        return self.severity

    @property
    def alert_id(self) -> str:
        """Return an id that follows from kind, key and time (safe to store twice)."""
        text = f"{self.kind}|{self.key}|{self.ts.isoformat()}"
        return f"al-{hashlib.sha1(text.encode()).hexdigest()[:16]}"


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """An alert and what became of it, as stored in ``alerts``."""

    alert: Alert
    status: AlertStatus
    reason: str | None = None
    channels: tuple[str, ...] = field(default_factory=tuple)

    def row(self) -> dict[str, Any]:
        """Return the ``alerts`` row."""
        a = self.alert
        return {
            "alert_id": a.alert_id,
            "ts": a.ts,
            "kind": str(a.kind),
            "severity": str(a.level),
            "key": a.key,
            "title": a.title,
            "message": a.message,
            "status": str(self.status),
            "reason": self.reason,
            "channels": ",".join(self.channels) or None,
        }

    def summary(self) -> str:
        """Return one line: ``sent job_failed sync: ... -> email, slack``."""
        text = f"{self.status} {self.alert.kind} {self.alert.key}: {self.alert.title}"
        if self.channels:
            text += f" -> {', '.join(self.channels)}"
        if self.reason:
            text += f" ({self.reason})"
        return text
