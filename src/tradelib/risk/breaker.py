"""The circuit breaker: halts new entries (never exits) after a daily loss, repeated
order failures or a burst of orders; closes again by rule or by hand.

Two halves: a pure policy (``BreakerPolicy``: events in, status out, time passed
in) and ``CircuitBreaker``, which keeps this process's order counters and reads
and writes events through a ``BreakerStore`` (the lake in production, see
``tradelib.stores.risk``). Every trip and every reset is an event; the current
state is the latest event, so every process sharing the lake sees the same state.

Policy:

* **Trips** on a daily loss of at least ``daily_loss_limit`` dollars (the
  account's day P&L, or net liquidation against the start of day when given),
  on ``max_consecutive_failures`` order failures in a row (rejections or send
  errors; any success resets the run), and on more than
  ``max_orders_per_minute`` order submissions (replacements included) in the
  trailing 60 seconds. An open breaker does not trip again.
* **Blocks** only entries (``OrderPurpose.OPEN`` and ``ROLL``, which opens new
  risk); closing and reducing orders are always allowed.
* **Closes by rule** ``cooldown_minutes`` after the trip, except a daily-loss
  trip, which also waits for the next New York calendar day: a day's loss
  limit holds for the rest of that day.
* **Closes by hand** at any time (``tradelib breaker reset --by NAME``). A
  manual reset does not excuse the loss itself: if the day's loss is still over
  the limit, the next account check trips the breaker again. To trade on after
  a bad day, raise the limit in the configuration, deliberately.

The consecutive-failure and order-rate counters live in the process that
places the orders (the executor reports to it); the trips they cause are shared.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from tradelib.config import CircuitBreakerConfig
from tradelib.domain import AccountSnapshot, OrderPurpose
from tradelib.domain.time import NEW_YORK, ensure_utc

BreakerListener = Callable[["BreakerEvent"], None]

# Purposes that add risk: the breaker blocks these and nothing else.
ENTRY_PURPOSES: frozenset[OrderPurpose] = frozenset({OrderPurpose.OPEN, OrderPurpose.ROLL})
RATE_WINDOW = timedelta(seconds=60)
_TICK = timedelta(microseconds=1)


class BreakerState(StrEnum):
    CLOSED = "closed"  # trading normally
    OPEN = "open"  # entries halted


class BreakerTrigger(StrEnum):
    NONE = "none"
    DAILY_LOSS = "daily_loss"
    CONSECUTIVE_FAILURES = "consecutive_failures"
    ORDER_RATE = "order_rate"
    MANUAL = "manual"  # closed (or opened) by a person
    COOLDOWN = "cooldown"  # closed by rule


@dataclass(frozen=True, slots=True)
class BreakerEvent:
    """One trip or reset, as stored in ``circuit_breaker_events``."""

    event_id: str
    ts: datetime
    state: BreakerState
    trigger: BreakerTrigger
    reason: str
    value: float | None = None
    limit: float | None = None
    reset_by: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ts", ensure_utc(self.ts, "BreakerEvent.ts"))


def make_event(
    ts: datetime,
    state: BreakerState,
    trigger: BreakerTrigger,
    reason: str,
    *,
    value: float | None = None,
    limit: float | None = None,
    reset_by: str | None = None,
) -> BreakerEvent:
    """Build an event whose id follows from its time, state and trigger (safe to write twice)."""
    ts = ensure_utc(ts, "ts")
    digest = hashlib.sha1(f"{ts.isoformat()}|{state}|{trigger}".encode()).hexdigest()[:16]
    return BreakerEvent(f"cb-{digest}", ts, state, trigger, reason, value, limit, reset_by)


@dataclass(frozen=True, slots=True)
class BreakerStatus:
    """Where the breaker stands at ``now``."""

    state: BreakerState
    trigger: BreakerTrigger
    reason: str
    since: datetime | None
    value: float | None = None
    limit: float | None = None
    reset_by: str | None = None
    closes_at: datetime | None = None  # when an open breaker closes by rule

    @property
    def is_open(self) -> bool:
        return self.state is BreakerState.OPEN


NEVER_TRIPPED = BreakerStatus(BreakerState.CLOSED, BreakerTrigger.NONE, "never tripped", None)


@dataclass(frozen=True, slots=True)
class BreakerDecision:
    """May an order of this purpose go out? With the reason either way."""

    allowed: bool
    reason: str
    status: BreakerStatus

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True, slots=True)
class OrderActivity:
    """This process's order counters: failures in a row and recent submission times."""

    consecutive_failures: int = 0
    sent: tuple[datetime, ...] = ()


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """The breaker's rules as pure functions of events, counters and time."""

    cfg: CircuitBreakerConfig = field(default_factory=CircuitBreakerConfig)

    def closes_at(self, trip: BreakerEvent) -> datetime:
        """When an open breaker closes by rule (see the module doc)."""
        due = trip.ts + timedelta(minutes=self.cfg.cooldown_minutes)
        if trip.trigger is BreakerTrigger.DAILY_LOSS:
            local = trip.ts.astimezone(NEW_YORK)
            next_day = datetime.combine(
                local.date() + timedelta(days=1), datetime.min.time(), tzinfo=NEW_YORK
            )
            due = max(due, ensure_utc(next_day))
        return due

    def status(self, last: BreakerEvent | None, now: datetime) -> BreakerStatus:
        """The status at ``now`` given the latest event (a due cooldown already applied)."""
        now = ensure_utc(now, "now")
        if last is None:
            return NEVER_TRIPPED
        if last.state is BreakerState.CLOSED:
            return BreakerStatus(
                BreakerState.CLOSED,
                last.trigger,
                last.reason,
                last.ts,
                last.value,
                last.limit,
                last.reset_by,
            )
        due = self.closes_at(last)
        if now >= due:
            return BreakerStatus(
                BreakerState.CLOSED,
                BreakerTrigger.COOLDOWN,
                f"closed by rule after the {last.trigger.value} trip ({last.reason})",
                due,
                reset_by="rule",
            )
        return BreakerStatus(
            BreakerState.OPEN,
            last.trigger,
            last.reason,
            last.ts,
            last.value,
            last.limit,
            closes_at=due,
        )

    def decide(self, status: BreakerStatus, purpose: OrderPurpose) -> BreakerDecision:
        """Allow exits always; allow entries only while closed."""
        if purpose not in ENTRY_PURPOSES:
            return BreakerDecision(True, f"{purpose.value} orders are always allowed", status)
        if status.is_open:
            return BreakerDecision(
                False,
                f"circuit breaker open since {status.since:%Y-%m-%d %H:%M:%S} UTC "
                f"({status.trigger.value}): {status.reason}",
                status,
            )
        return BreakerDecision(True, "circuit breaker closed", status)

    def daily_loss_trip(
        self, account: AccountSnapshot, now: datetime, start_of_day_net_liq: float | None = None
    ) -> BreakerEvent | None:
        """A trip event when the day's loss reaches the limit, else None."""
        loss = -account.day_pnl
        if start_of_day_net_liq is not None:
            loss = max(loss, start_of_day_net_liq - account.net_liquidation)
        limit = self.cfg.daily_loss_limit
        if not loss >= limit:
            return None
        return make_event(
            now,
            BreakerState.OPEN,
            BreakerTrigger.DAILY_LOSS,
            f"daily loss limit: lost ${loss:,.2f} today >= ${limit:,.2f}",
            value=loss,
            limit=limit,
        )

    def record_sent(
        self, activity: OrderActivity, now: datetime
    ) -> tuple[OrderActivity, BreakerEvent | None]:
        """Count one submission; trip when the trailing minute holds more than the limit."""
        recent = (*(t for t in activity.sent if t > now - RATE_WINDOW), now)
        activity = replace(activity, sent=recent)
        limit = self.cfg.max_orders_per_minute
        if len(recent) <= limit:
            return activity, None
        return activity, make_event(
            now,
            BreakerState.OPEN,
            BreakerTrigger.ORDER_RATE,
            f"order rate: {len(recent)} orders in the last minute > {limit}",
            value=float(len(recent)),
            limit=float(limit),
        )

    def record_failure(
        self, activity: OrderActivity, now: datetime, reason: str = ""
    ) -> tuple[OrderActivity, BreakerEvent | None]:
        """Count one failure; trip when the run reaches the limit."""
        n = activity.consecutive_failures + 1
        activity = replace(activity, consecutive_failures=n)
        limit = self.cfg.max_consecutive_failures
        if n < limit:
            return activity, None
        last = f" (last: {reason})" if reason else ""
        return activity, make_event(
            now,
            BreakerState.OPEN,
            BreakerTrigger.CONSECUTIVE_FAILURES,
            f"{n} consecutive order failures >= {limit}{last}",
            value=float(n),
            limit=float(limit),
        )


class BreakerStore(Protocol):
    """Where breaker events live (the lake, or memory in a single process)."""

    def latest(self) -> BreakerEvent | None:
        """The newest event, or None before the first."""
        ...

    def append(self, event: BreakerEvent) -> None:
        """Store ``event`` (writing the same event twice stores it once)."""
        ...

    def history(self) -> list[BreakerEvent]:
        """Every event, oldest first."""
        ...


class MemoryBreakerStore:
    """Events kept in this process only (tests, notebooks)."""

    def __init__(self) -> None:
        self._events: dict[str, BreakerEvent] = {}

    def latest(self) -> BreakerEvent | None:
        events = self.history()
        return events[-1] if events else None

    def append(self, event: BreakerEvent) -> None:
        self._events[event.event_id] = event

    def history(self) -> list[BreakerEvent]:
        return sorted(self._events.values(), key=lambda e: e.ts)


class CircuitBreaker:
    """The breaker as a process uses it: counters here, state in the store."""

    def __init__(
        self,
        cfg: CircuitBreakerConfig | None = None,
        store: BreakerStore | None = None,
        on_event: BreakerListener | None = None,  # told of every trip and reset (alerts)
    ) -> None:
        self.policy = BreakerPolicy(cfg or CircuitBreakerConfig())
        self.store: BreakerStore = store if store is not None else MemoryBreakerStore()
        self.on_event = on_event
        self._activity = OrderActivity()

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.policy.cfg!r})"

    @property
    def activity(self) -> OrderActivity:
        return self._activity

    # --- reading -------------------------------------------------------------------
    def status(self, now: datetime) -> BreakerStatus:
        """The current status; a cooldown that has come due is recorded as a reset event."""
        last = self.store.latest()
        status = self.policy.status(last, now)
        if last is not None and last.state is BreakerState.OPEN and not status.is_open:
            assert status.since is not None
            self._write(
                make_event(
                    status.since,
                    BreakerState.CLOSED,
                    BreakerTrigger.COOLDOWN,
                    status.reason,
                    reset_by="rule",
                ),
                last,
            )
        return status

    def allows(self, purpose: OrderPurpose, now: datetime) -> BreakerDecision:
        """May an order for ``purpose`` go out at ``now``? Exits always may."""
        if purpose not in ENTRY_PURPOSES:
            # Never let a lake hiccup stand between us and an exit.
            return self.policy.decide(NEVER_TRIPPED, purpose)
        return self.policy.decide(self.status(now), purpose)

    def history(self) -> list[BreakerEvent]:
        return self.store.history()

    # --- reporting -----------------------------------------------------------------------
    def record_order(self, now: datetime) -> BreakerStatus:
        """Count one order submission (for the order-rate trigger)."""
        self._activity, event = self.policy.record_sent(self._activity, now)
        return self._maybe_trip(event, now)

    def record_failure(self, now: datetime, reason: str = "") -> BreakerStatus:
        """Count one order failure (a rejection or a send error)."""
        self._activity, event = self.policy.record_failure(self._activity, now, reason)
        return self._maybe_trip(event, now)

    def record_success(self, now: datetime) -> None:
        """An order was accepted or filled: the failure run is over."""
        self._activity = replace(self._activity, consecutive_failures=0)

    def check_account(
        self,
        account: AccountSnapshot,
        now: datetime,
        *,
        start_of_day_net_liq: float | None = None,
    ) -> BreakerStatus:
        """Trip on the daily loss limit if ``account`` shows it."""
        event = self.policy.daily_loss_trip(account, now, start_of_day_net_liq)
        return self._maybe_trip(event, now)

    # --- manual ----------------------------------------------------------------------------
    def reset(self, now: datetime, by: str, reason: str = "") -> BreakerEvent:
        """Close the breaker by hand (recorded even when it is already closed)."""
        who = by.strip()
        if not who:
            raise ValueError("a manual reset needs the name of the person resetting")
        last = self.store.latest()
        was = (
            f"{last.state.value} ({last.trigger.value}: {last.reason})" if last else "never tripped"
        )
        text = reason or f"manual reset by {who}; was {was}"
        event = make_event(now, BreakerState.CLOSED, BreakerTrigger.MANUAL, text, reset_by=who)
        self._activity = OrderActivity()
        return self._write(event, last)

    def trip(
        self,
        now: datetime,
        trigger: BreakerTrigger,
        reason: str,
        *,
        value: float | None = None,
        limit: float | None = None,
    ) -> BreakerStatus:
        """Open the breaker explicitly (e.g. an operator halting entries)."""
        return self._maybe_trip(
            make_event(now, BreakerState.OPEN, trigger, reason, value=value, limit=limit), now
        )

    # --- internals -------------------------------------------------------------------------
    def _maybe_trip(self, event: BreakerEvent | None, now: datetime) -> BreakerStatus:
        status = self.status(now)
        if event is None or status.is_open:
            return status
        # The counters did their job; a fresh run starts after the trip.
        self._activity = OrderActivity()
        written = self._write(event, self.store.latest())
        return self.policy.status(written, now)

    def _write(self, event: BreakerEvent, last: BreakerEvent | None) -> BreakerEvent:
        # Keep events strictly ordered even when clocks disagree (a CLI reset on the
        # wall clock after a trip stamped in simulated time): "latest" must mean newest.
        if last is not None and event.ts <= last.ts:
            event = make_event(
                last.ts + _TICK,
                event.state,
                event.trigger,
                event.reason,
                value=event.value,
                limit=event.limit,
                reset_by=event.reset_by,
            )
        self.store.append(event)
        if self.on_event is not None:
            self.on_event(event)  # the alerts listener never raises
        return event
