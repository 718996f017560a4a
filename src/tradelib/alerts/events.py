"""Builders: one function per watched event, turning the event's own value into an ``Alert``.

Pure functions (time passed in). Inputs are typed structurally, so the alert
package depends on no subsystem: a ``BreakerEvent``, a ``RunRecord``, a
``ReconEvent`` all fit the protocols below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from tradelib.alerts.model import Alert, AlertKind, Severity
from tradelib.domain.time import NEW_YORK, ensure_utc

# reconciliation kinds that are routine bookkeeping, not something a human must see
ROUTINE_RECON_KINDS = frozenset({"expired"})


class _BreakerEventLike(Protocol):
    @property
    def event_id(self) -> str: ...
    @property
    def ts(self) -> datetime: ...
    @property
    def state(self) -> str: ...
    @property
    def trigger(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def reset_by(self) -> str | None: ...


class _RunLike(Protocol):
    @property
    def run_id(self) -> str: ...
    @property
    def job(self) -> str: ...
    @property
    def started_at(self) -> datetime: ...
    @property
    def finished_at(self) -> datetime | None: ...
    @property
    def status(self) -> str: ...
    @property
    def error(self) -> str | None: ...
    @property
    def output_path(self) -> str | None: ...


class _ReconLike(Protocol):
    @property
    def ts(self) -> datetime: ...
    @property
    def kind(self) -> str: ...
    @property
    def detail(self) -> str: ...
    @property
    def con_id(self) -> int | None: ...
    @property
    def symbol(self) -> str | None: ...
    @property
    def lake_quantity(self) -> float | None: ...
    @property
    def broker_quantity(self) -> float | None: ...


def breaker_alert(event: _BreakerEventLike) -> Alert:
    """A trip (critical) or a reset (info) of the circuit breaker."""
    tripped = str(event.state) == "open"
    trigger = str(event.trigger)
    if tripped:
        title = f"Circuit breaker tripped ({trigger}): new entries halted"
        message = f"{event.reason}\nExits stay allowed. Reset by rule after the cooldown or `tradelib breaker reset`."
    else:
        by = f" by {event.reset_by}" if event.reset_by else ""
        title = f"Circuit breaker reset{by} ({trigger}): entries allowed again"
        message = event.reason
    kind = AlertKind.BREAKER_TRIPPED if tripped else AlertKind.BREAKER_RESET
    return Alert(kind, event.event_id, title, message, event.ts)


_JOB_KINDS = {
    "failed": AlertKind.JOB_FAILED,
    "timeout": AlertKind.JOB_TIMEOUT,
    "abandoned": AlertKind.JOB_ABANDONED,
}


def job_alert(run: _RunLike) -> Alert | None:
    """A failed, timed-out or abandoned job run (keyed by job: one alert per job per window)."""
    kind = _JOB_KINDS.get(str(run.status))
    if kind is None:
        return None
    what = {
        AlertKind.JOB_FAILED: "failed",
        AlertKind.JOB_TIMEOUT: "timed out",
        AlertKind.JOB_ABANDONED: "was abandoned (its runner died mid-run)",
    }[kind]
    lines = [f"Run {run.run_id} started {run.started_at:%Y-%m-%d %H:%M:%S} UTC."]
    if run.error:
        lines.append(f"Error: {run.error}")
    if run.output_path:
        lines.append(f"Executed notebook: {run.output_path}")
    return Alert(
        kind, run.job, f"Job {run.job} {what}", "\n".join(lines), run.finished_at or run.started_at
    )


def reconciliation_alert(event: _ReconLike) -> Alert | None:
    """A difference between the lake and the broker (None for routine ones: expiries)."""
    kind = str(event.kind)
    if kind in ROUTINE_RECON_KINDS:
        return None
    subject = event.symbol or (f"conId {event.con_id}" if event.con_id is not None else "book")
    title = f"Sync: {kind.replace('_', ' ')} ({subject})"
    lines = [event.detail]
    if event.lake_quantity is not None or event.broker_quantity is not None:
        lines.append(
            f"lake quantity {event.lake_quantity}, broker quantity {event.broker_quantity}"
        )
    severity = Severity.CRITICAL if kind == "anomaly" else None
    key = f"{kind}:{event.con_id if event.con_id is not None else subject}"
    return Alert(AlertKind.SYNC_ANOMALY, key, title, "\n".join(lines), event.ts, severity)


def invariant_alert(
    check: str, detail: str, now: datetime, *, day: date | None = None, strategy: str | None = None
) -> Alert:
    """A book invariant broke (``check`` names it); names day and strategy when known."""
    where = ", ".join(
        p for p in (f"day {day}" if day else "", f"strategy {strategy}" if strategy else "") if p
    )
    title = f"Book invariant violated: {check}" + (f" ({where})" if where else "")
    return Alert(
        AlertKind.INVARIANT_VIOLATION, f"{check}:{strategy or day or ''}", title, detail, now
    )


def limit_breach_alert(
    limit: str, value: float, maximum: float, now: datetime, detail: str = ""
) -> Alert:
    """The existing book is over a risk limit (``value`` > ``maximum``)."""
    title = f"Risk limit breached by the book: {limit} {value:,.4g} > {maximum:,.4g}"
    return Alert(AlertKind.RISK_LIMIT_BREACH, limit, title, detail or title, now)


def order_rejected_alert(
    order_ref: str,
    reason: str,
    now: datetime,
    *,
    code: int | None = None,
    symbol: str | None = None,
) -> Alert:
    """The broker rejected an order (IB error ``code`` when known)."""
    what = f" {symbol}" if symbol else ""
    coded = f" (IB error {code})" if code is not None else ""
    return Alert(
        AlertKind.ORDER_REJECTED,
        order_ref,
        f"Order rejected{what}{coded}",
        f"Order {order_ref}: {reason}",
        now,
    )


def connection_lost_alert(
    down_since: datetime, now: datetime, threshold_minutes: float
) -> Alert | None:
    """The broker connection is down for longer than ``threshold_minutes`` (else None)."""
    down_since, now = ensure_utc(down_since), ensure_utc(now)
    down = now - down_since
    if down <= timedelta(minutes=threshold_minutes):
        return None
    minutes = down.total_seconds() / 60
    return Alert(
        AlertKind.CONNECTION_LOST,
        f"broker:{down_since:%Y%m%dT%H%M%S}",  # one alert per outage
        f"Broker connection lost for {minutes:.0f} min",
        f"Disconnected since {down_since:%Y-%m-%d %H:%M:%S} UTC; no orders can be placed or managed.",
        now,
    )


def daily_loss_alert(day_loss: float, limit: float, fraction: float, now: datetime) -> Alert | None:
    """The day's loss is past ``fraction`` of the breaker's daily limit (else None); one per day."""
    if not limit > 0 or not day_loss >= fraction * limit:
        return None
    day = ensure_utc(now).astimezone(NEW_YORK).date()
    return Alert(
        AlertKind.DAILY_LOSS_WARNING,
        f"{day}",
        f"Daily loss ${day_loss:,.0f} is {day_loss / limit:.0%} of the ${limit:,.0f} limit",
        f"The circuit breaker trips at ${limit:,.0f}; the warning fires at {fraction:.0%} of it.",
        now,
    )


class _CheckLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def detail(self) -> str: ...
    @property
    def fix(self) -> str: ...


def preflight_alert(failed: Sequence[_CheckLike], held_jobs: Sequence[str], now: datetime) -> Alert:
    """The scheduler's preflight said no-go: which checks failed, their fixes, what is held.

    Keyed by day and failed checks: re-checks that fail the same way are deduplicated,
    a different failure is a new alert.
    """
    day = ensure_utc(now).astimezone(NEW_YORK).date()
    names = ", ".join(c.name for c in failed) or "unknown"
    lines = [f"Held today until a preflight passes: {', '.join(held_jobs) or 'nothing'}."]
    for c in failed:
        lines.append(f"- {c.name}: {c.detail}" + (f"\n  fix: {c.fix}" if c.fix else ""))
    lines.append("Run `tradelib preflight` to see every check.")
    return Alert(
        AlertKind.PREFLIGHT_FAILED,
        f"{day}:{names}",
        f"Preflight no-go ({names}): {', '.join(held_jobs) or 'no job'} held",
        "\n".join(lines),
        now,
    )


@dataclass
class ConnectionWatch:
    """Track the broker connection across checks; ``update`` returns an alert once per long outage.

    A check that finds the connection up ends the outage: the next one starts
    afresh (and may alert again).
    """

    threshold_minutes: float
    down_since: datetime | None = None
    alerted: bool = False  # the current outage was already alerted

    def update(self, connected: bool, now: datetime) -> Alert | None:
        """Report the connection state at ``now``; the first check past the threshold alerts."""
        if connected:
            self.down_since = None
            self.alerted = False
            return None
        if self.down_since is None:
            self.down_since = ensure_utc(now)
            return None
        if self.alerted:
            return None
        alert = connection_lost_alert(self.down_since, now, self.threshold_minutes)
        self.alerted = alert is not None
        return alert
