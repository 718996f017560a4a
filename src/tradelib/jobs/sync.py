"""The sync job: broker positions, orders and fills into the lake, reconciled.

``run_sync(ctx)`` (``SyncWorkflow.run``) pulls positions, open orders and
executions from the broker, compares them with the lake's book (the legs of
the strategies the lake holds open, see ``tradelib.sync.reconcile``), lets the
``StrategyRegistry`` regroup the legs, and writes strategies, a positions
snapshot, orders, reconciliation events and new executions. The broker is the
truth; every difference is recorded as an event.

It stops, records an ``anomaly`` event and writes nothing else when the
broker cannot be reached, or answers with no positions at all while the lake
holds open legs that no fill or expiry explains (``accept_empty=True`` is the
human override once the account really is flat).

Executions are marked ``synced_at`` last: the fills no sync has accounted for
yet (the executor stores fills as they happen, unmarked) are what explain the
changes since the last sync, so a sync that fails half-way is simply re-run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

import polars as pl

from tradelib import alerts
from tradelib.broker import Broker
from tradelib.config import TradingConfig
from tradelib.domain import Fill, OrderState, OrderStatus, Position
from tradelib.domain.time import NEW_YORK, ensure_utc
from tradelib.errors import BrokerError, SyncAnomalyError
from tradelib.jobs.context import JobContext, job_context, load_job_config
from tradelib.lake import Lake, TableName
from tradelib.markethours import MarketHours
from tradelib.stores.sync import Row, SyncStore, order_changed, order_row
from tradelib.sync.model import StrategyRecord
from tradelib.sync.reconcile import (
    ReconEvent,
    anomaly_event,
    diff_positions,
    empty_answer_problem,
    lake_book,
    missing_orders,
    order_key,
    unknown_orders,
)
from tradelib.sync.registry import FillFact, RegistryUpdate, StrategyRegistry

# What an unreachable broker looks like through the port (ib_async raises the builtins).
BROKER_FAILURES = (BrokerError, TimeoutError, ConnectionError, OSError)
# IB stamps executions to the second: look a little before the last sync for fills.
_FILL_OVERLAP = timedelta(minutes=1)


class SyncStatus(StrEnum):
    OK = "ok"
    ANOMALY = "anomaly"  # the broker's answer was not trusted; nothing but the event written


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one sync saw, changed and wrote."""

    ts: datetime
    status: SyncStatus
    reason: str = ""
    positions: int = 0  # broker positions seen
    open_strategies: tuple[str, ...] = ()
    opened: tuple[str, ...] = ()  # strategies new to the lake
    closed: tuple[tuple[str, str], ...] = ()  # (strategy id, close reason)
    events: tuple[ReconEvent, ...] = ()
    written: dict[str, int] = field(default_factory=dict)  # table -> rows written
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status is SyncStatus.OK

    def raise_for_anomaly(self) -> None:
        """Raise ``SyncAnomalyError`` when the sync stopped (so a job run shows as failed)."""
        if not self.ok:
            raise SyncAnomalyError(reason=self.reason)

    def lines(self) -> list[str]:
        """A short human summary."""
        head = f"sync {self.status.value} at {self.ts:%Y-%m-%d %H:%M:%S} UTC"
        if not self.ok:
            return [head, f"  stopped: {self.reason}"]
        out = [
            head,
            f"  positions {self.positions}, open strategies {len(self.open_strategies)}, "
            f"new {len(self.opened)}, closed {len(self.closed)}",
            "  written: " + ", ".join(f"{k} {v}" for k, v in self.written.items()),
        ]
        out += [f"  closed {sid}: {why}" for sid, why in self.closed]
        out += [f"  event {e.kind.value}: {e.detail}" for e in self.events]
        return out

    def events_frame(self) -> pl.DataFrame:
        """The events as a frame (kind, symbol, quantities, detail)."""
        return pl.DataFrame(
            [
                {
                    "kind": e.kind.value,
                    "symbol": e.symbol,
                    "lake_quantity": e.lake_quantity,
                    "broker_quantity": e.broker_quantity,
                    "detail": e.detail,
                }
                for e in self.events
            ],
            schema={
                "kind": pl.String,
                "symbol": pl.String,
                "lake_quantity": pl.Float64,
                "broker_quantity": pl.Float64,
                "detail": pl.String,
            },
        )


@dataclass(frozen=True, slots=True)
class _BrokerView:
    positions: list[Position]
    open_orders: list[OrderState]
    fills: list[Fill]


class SyncWorkflow:
    """Reconcile the broker with the lake; see the module doc."""

    def __init__(
        self, hours: MarketHours | None = None, registry: StrategyRegistry | None = None
    ) -> None:
        self.hours = hours or MarketHours()
        self.registry = registry or StrategyRegistry()

    @classmethod
    def from_config(cls, cfg: TradingConfig) -> SyncWorkflow:
        """A workflow on the configured exchange calendar (expiries settle at its closes)."""
        return cls(MarketHours(cfg.scheduler.calendar))

    def expired_through(self, now: datetime) -> date:
        """The last day whose session close is at or before ``now`` (its expiries have settled)."""
        try:
            close = self.hours.previous_close(now)
        except ValueError:  # outside the calendar's loaded range
            return (now.astimezone(NEW_YORK) - timedelta(days=1)).date()
        return close.astimezone(NEW_YORK).date()

    def run(
        self,
        broker: Broker,
        lake: Lake,
        now: datetime | None = None,
        *,
        accept_empty: bool = False,
    ) -> SyncReport:
        """Sync ``broker`` into ``lake`` at ``now`` (default: the broker's time)."""
        started = time.perf_counter()
        store = SyncStore(lake)
        version = store.book_version()
        last = store.last_snapshot_ts()
        since = None if last is None else last - _FILL_OVERLAP
        try:
            now = ensure_utc(now, "now") if now is not None else broker.now()
            view = _BrokerView(broker.positions(), broker.open_orders(), broker.executions(since))
        except BROKER_FAILURES as exc:
            stamp = now if now is not None else datetime.now(UTC)
            event = anomaly_event(
                "broker unreachable", f"{type(exc).__name__}: {exc}", stamp, version
            )
            return self._stop(store, event, started)

        book_records = store.open_strategies()
        book = lake_book(book_records)
        synced = store.synced_exec_ids([f.exec_id for f in view.fills])
        new_fills = [
            f for f in view.fills if f.exec_id not in synced and f.contract.con_id is not None
        ]
        facts = [FillFact.of(f) for f in new_fills]
        expired_through = self.expired_through(now)

        if not accept_empty:
            problem = empty_answer_problem(book, view.positions, facts, expired_through)
            if problem is not None:
                return self._stop(
                    store, anomaly_event("empty positions", problem, now, version), started
                )

        touched = sorted({f.strategy_id for f in facts if f.strategy_id is not None})
        update = self.registry.update(
            book_records, view.positions, facts, now, expired_through, store.past_fills(touched)
        )
        events = diff_positions(
            book,
            view.positions,
            facts,
            now=now,
            expired_through=expired_through,
            book_version=version,
        )
        order_rows, order_events = self._orders(broker, store, view.open_orders, new_fills, now)
        events += order_events

        # Executions last: until they are marked synced, a re-run still sees them as new.
        _alert(events)
        written = {
            TableName.STRATEGIES.value: store.save_strategies(update.changed),
            TableName.POSITIONS.value: store.save_positions(
                view.positions, now, update.strategy_of
            ),
            TableName.ORDERS.value: store.save_orders(order_rows),
            TableName.RECONCILIATION_EVENTS.value: store.save_events(events),
            TableName.EXECUTIONS.value: store.save_executions(new_fills, now),
        }
        return self._report(now, view, update, book_records, events, written, started)

    # --- internals -----------------------------------------------------------------------------
    @staticmethod
    def _stop(store: SyncStore, event: ReconEvent, started: float) -> SyncReport:
        _alert([event])
        written = {TableName.RECONCILIATION_EVENTS.value: store.save_events([event])}
        return SyncReport(
            ts=event.ts,
            status=SyncStatus.ANOMALY,
            reason=event.detail,
            events=(event,),
            written=written,
            elapsed_s=time.perf_counter() - started,
        )

    @staticmethod
    def _orders(
        broker: Broker,
        store: SyncStore,
        open_orders: Sequence[OrderState],
        new_fills: Sequence[Fill],
        now: datetime,
    ) -> tuple[list[Row], list[ReconEvent]]:
        """Order rows to write (changed ones only) and events for unknown or vanished orders.

        Covers the broker's working orders, the lake's working orders (to see them
        finish) and the orders behind new fills (hand orders included), so the
        orders table tells every fill's story.
        """
        states: dict[str, OrderState] = {order_key(o): o for o in open_orders}
        working = store.working_orders()
        fill_refs = {f.order_ref for f in new_fills if f.order_ref} - set(states) - set(working)
        known = store.orders([*states, *sorted(fill_refs)])
        missing: list[str] = []
        for ref in sorted(set(working) | fill_refs):
            if ref in states or (ref in known and ref not in working):
                continue
            try:
                found = broker.order(ref)
            except BROKER_FAILURES:
                continue  # asked again next sync
            if found is None:
                # A PENDING intent may not have been sent yet: only sent orders can be missing.
                if ref in working and working[ref]["status"] != OrderStatus.PENDING.value:
                    missing.append(ref)
                continue
            states[ref] = found
        rows: list[Row] = []
        for key, state in states.items():
            old = known.get(key) or working.get(key)
            row = order_row(state, old, now)
            if order_changed(row, old):
                rows.append(row)
        events = unknown_orders(open_orders, {*known, *working}, now)
        return rows, events + missing_orders(missing, now)

    @staticmethod
    def _report(
        now: datetime,
        view: _BrokerView,
        update: RegistryUpdate,
        book: Sequence[StrategyRecord],
        events: Sequence[ReconEvent],
        written: dict[str, int],
        started: float,
    ) -> SyncReport:
        before = {r.strategy_id for r in book}
        return SyncReport(
            ts=now,
            status=SyncStatus.OK,
            positions=len(view.positions),
            open_strategies=tuple(r.strategy_id for r in update.open),
            opened=tuple(r.strategy_id for r in update.open if r.strategy_id not in before),
            closed=tuple(
                (r.strategy_id, r.close_reason.value if r.close_reason else "")
                for r in update.closed
            ),
            events=tuple(events),
            written=written,
            elapsed_s=time.perf_counter() - started,
        )


def _alert(events: Sequence[ReconEvent]) -> None:
    """Raise an alert for every difference a human must see (routine expiries are not)."""
    for e in events:
        alert = alerts.reconciliation_alert(e)
        if alert is not None:
            alerts.emit(alert)


def run_sync(
    ctx: JobContext,
    *,
    at: datetime | None = None,
    workflow: SyncWorkflow | None = None,
    accept_empty: bool = False,
) -> SyncReport:
    """The sync job: the broker's book into the lake once, at ``at`` (default: broker time)."""
    flow = workflow or SyncWorkflow.from_config(ctx.cfg)
    return flow.run(ctx.broker, ctx.lake, at, accept_empty=accept_empty)


def sync_job(
    config_path: str = "", lake_uri: str = "", *, accept_empty: bool = False
) -> SyncReport:
    """The scheduled notebook's one call: load the config, open its broker and lake, sync once.

    ``config_path`` empty: $TRADELIB_CONFIG or the workspace's file; ``lake_uri``
    empty: ``storage.lake_uri``. Secrets never pass through here: the account
    and object-store credentials come from the environment.
    """
    cfg = load_job_config(config_path)
    with job_context(cfg, lake_uri=lake_uri) as ctx:
        return run_sync(ctx, accept_empty=accept_empty)
