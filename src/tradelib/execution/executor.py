"""Transactional execution: one combo limit order walking from mid toward natural,
journaled in the lake before it is sent, safe to re-run after a crash at any step.

How one order group (a combo, or one leg in legged mode) is worked:

1. The journal's orders for the plan are read and reconciled with the broker
   (``broker.order(ref)``); fills are copied to ``executions``. A plan that has
   filled, or ended for good (timeout, rejection...), is reported, not re-sent;
   a live order is adopted; a journaled order that never reached the broker is
   sent under the same ``order_ref`` (the broker dedupes it if it did arrive).
2. Before every (re)price the legs' markets must be open and their quotes valid
   (no NaN, -1, crossed or stale quote); otherwise the attempt ends with the
   reason and any live order is cancelled.
3. Step ``k`` is priced ``schedule.fraction(k)`` of the way from mid to natural,
   rounded to the tick, never past the plan's ``bound``. A price change is a
   cancel plus a new order with the next sequence number in its ``order_ref``
   (``tl:<strategy>:<purpose>:<seq>``). Intent is journaled before each act:
   the new order as ``pending`` before it is sent, and the reason
   ("replacing: ...", "timeout: ...") before a cancel, so that a crash
   between the two leaves enough behind to decide.
4. After ``order_timeout_s`` from the first order a live order is cancelled.

Sequence numbers: a combo uses 1..99; in legged mode leg ``i`` (as given) uses
``100*(i+1)+1``.. and the rollback of leg ``i`` uses ``901+10*i``..; so one
plan's orders all carry its strategy id and purpose.

Crash points (``hook(point, order_ref)`` is called at each, so tests can stop
the "process" there): ``journaled`` (pending row written, not sent),
``sent`` (sent, state not yet journaled), ``cancel_requested`` (reason
journaled, cancel not sent), ``cancelled`` (cancelled, not journaled),
``filled`` (fill journaled in ``orders``, fills not yet in ``executions``).

This module is the walk of one order group; the plan and its result are in
``execution.plan``, the group's state in ``execution.group``, legged mode and
its rollback in ``execution.legged``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from tradelib import alerts
from tradelib.config import ExecutionConfig
from tradelib.domain import (
    Fill,
    Leg,
    OrderIntent,
    OrderPurpose,
    OrderStatus,
    OrderType,
    Quote,
    check_quote,
    make_order_ref,
    net_prices,
)
from tradelib.errors import BrokerError
from tradelib.execution.attempts import Attempt, attempt_seqs, attempts_of
from tradelib.execution.group import OrderGroup, Refusal, Walk
from tradelib.execution.legged import LeggedMode
from tradelib.execution.plan import (
    BLOCKED,
    INVALID_QUOTE,
    MARKET_CLOSED,
    PREFIX_OUTCOME,
    REPLACING,
    TIMEOUT,
    ExecutionOutcome,
    ExecutionPlan,
    ExecutionResult,
)
from tradelib.execution.walk import WalkSchedule, step_price, tick_rule_for_legs
from tradelib.stores.orders import JournalEntry, OrderJournal

if TYPE_CHECKING:
    from tradelib.broker import Broker
    from tradelib.config import TradingConfig
    from tradelib.lake import Lake
    from tradelib.risk import CircuitBreaker

__all__ = [
    "ExecutionOutcome",
    "ExecutionPlan",
    "ExecutionResult",
    "Hook",
    "TransactionalExecutor",
]

_EPS = 1e-9

Hook = Callable[[str, str], None]


class TransactionalExecutor(LeggedMode):
    """Execute plans on a broker, journaled in the lake; re-runs resume, never duplicate."""

    def __init__(
        self,
        broker: Broker,
        lake: Lake,
        cfg: ExecutionConfig | None = None,
        breaker: CircuitBreaker | None = None,
        *,
        max_quote_age_s: float = 15.0,
        hook: Hook | None = None,
    ) -> None:
        self.broker = broker
        self.journal = OrderJournal(lake)
        self.cfg = cfg or ExecutionConfig()
        self.breaker = breaker
        self.max_quote_age_s = max_quote_age_s
        self._hook = hook

    @classmethod
    def from_config(
        cls,
        cfg: TradingConfig,
        broker: Broker,
        lake: Lake,
        breaker: CircuitBreaker | None = None,
    ) -> TransactionalExecutor:
        """Build from ``cfg.execution`` and ``cfg.market_data.max_quote_age_s``."""
        return cls(
            broker, lake, cfg.execution, breaker, max_quote_age_s=cfg.market_data.max_quote_age_s
        )

    def __repr__(self) -> str:
        return f"TransactionalExecutor({self.broker!r}, {self.journal.lake!r})"

    # --- public ----------------------------------------------------------------------
    def execute(self, plan: ExecutionPlan | OrderIntent) -> ExecutionResult:
        """Execute (or resume, or report) ``plan``; an ``OrderIntent``'s limit is the bound."""
        if isinstance(plan, OrderIntent):
            plan = ExecutionPlan.from_intent(plan)
        if not self.broker.mode.may_place_orders:
            return self._empty(plan, ExecutionOutcome.REFUSED, "read-only mode: no orders")
        schedule = WalkSchedule.from_config(
            self.cfg, plan.urgency, start_fraction=plan.start_fraction, steps=plan.steps
        )
        if plan.legged:
            return self._execute_legged(plan, schedule)
        label = "combo" if len(plan.legs) > 1 else "order"
        if plan.attempt:
            label = f"{plan.purpose.value} attempt {plan.attempt}"
        group = OrderGroup(
            plan.strategy_id,
            plan.purpose,
            plan.legs,
            plan.quantity,
            plan.bound,
            schedule,
            attempt_seqs(plan.attempt),
            plan.tif,
            guarded=True,
            label=label,
        )
        return self._run(group)

    def attempts(self, strategy_id: str, purpose: OrderPurpose) -> list[Attempt]:
        """The attempts journaled for ``strategy_id``'s orders of ``purpose``, oldest first."""
        return attempts_of(self.journal.entries(strategy_id, purpose))

    # --- one order group --------------------------------------------------------------
    def _run(self, g: OrderGroup) -> ExecutionResult:
        walk = Walk(g)
        for entry in self.journal.entries(g.strategy_id, g.purpose, g.seqs):
            walk.resumed = True
            walk.put(self._reconcile(walk, entry))
        settled = self._settled(walk)
        if settled is not None:
            return settled
        return self._work(walk)

    def _reconcile(self, walk: Walk, entry: JournalEntry) -> JournalEntry:
        """Bring a journaled order up to date with the broker (and its fills)."""
        state = self.broker.order(entry.order_ref)
        if state is None:
            if entry.status is not OrderStatus.PENDING and not entry.status.is_terminal:
                walk.lost = f"order {entry.order_ref} is in the journal but not at the broker"
            return entry
        fresh = entry.with_state(state, self.broker.now())
        if _changed(entry, fresh):
            self.journal.write(fresh)
        if fresh.filled_quantity > 0:
            self._store_fills(fresh)
        return fresh

    def _settled(self, walk: Walk) -> ExecutionResult | None:
        """The result if the journal says the group is over, else None."""
        g = walk.group
        if walk.filled >= g.quantity - _EPS:
            return self._result(walk, ExecutionOutcome.FILLED, "filled")
        if walk.lost:
            return self._result(walk, ExecutionOutcome.FAILED, walk.lost)
        last = walk.last
        if last is None or last.status is OrderStatus.PENDING or last.is_live:
            return None
        if last.status is OrderStatus.REJECTED:
            return self._result(walk, ExecutionOutcome.REJECTED, last.reason or "rejected")
        if last.reason.startswith(REPLACING):
            return None
        prefix = last.reason.split(":", 1)[0]
        outcome = PREFIX_OUTCOME.get(prefix, ExecutionOutcome.CANCELLED)
        return self._result(walk, outcome, last.reason or last.status.value)

    def _work(self, walk: Walk) -> ExecutionResult:
        g = walk.group
        rule = tick_rule_for_legs(g.legs)
        first = walk.entries[0].created_at if walk.entries else self.broker.now()
        last = walk.last
        live = last if last is not None and last.is_live else None
        pending = last if last is not None and last.status is OrderStatus.PENDING else None
        seq = last.seq if last is not None else g.seqs.start - 1
        while True:
            now = self.broker.now()
            elapsed = (now - first).total_seconds()
            if elapsed >= g.schedule.timeout_s - _EPS:
                reason = f"{TIMEOUT}: not filled within {g.schedule.timeout_s:g}s"
                return self._stop(walk, live, pending, ExecutionOutcome.TIMEOUT, reason)
            market = self._market(g.legs, now)
            if isinstance(market, Refusal):
                return self._stop(walk, live, pending, market.outcome, market.reason)
            mid, natural = market
            step = g.schedule.step_at(elapsed)
            price = step_price(mid, natural, g.schedule.fraction(step), g.bound, rule)
            if live is not None and abs((live.limit_price or 0.0) - price) > _EPS:
                live = self._cancel(walk, live, f"{REPLACING}: step {step} at {price:+.2f}")
                if walk.filled >= g.quantity - _EPS:
                    return self._result(walk, ExecutionOutcome.FILLED, "filled")
                if not live.is_live:
                    live = None
                # else: the broker kept it working; go on with it and retry later.
            if live is None:
                if g.guarded and self.breaker is not None:
                    decision = self.breaker.allows(g.purpose, now)
                    if not decision:
                        reason = f"{BLOCKED}: {decision.reason}"
                        return self._stop(walk, None, pending, ExecutionOutcome.BLOCKED, reason)
                if pending is None:
                    seq += 1
                    if seq not in g.seqs:
                        reason = f"too many orders for {g.label}"
                        return self._result(walk, ExecutionOutcome.FAILED, reason)
                sent = self._send(walk, seq, price, now, pending)
                pending = None
                if isinstance(sent, ExecutionResult):
                    return sent
                live = sent
                if walk.filled >= g.quantity - _EPS:
                    return self._filled(walk, live)
            self.broker.wait(max(g.schedule.next_change_s(elapsed) - elapsed, 0.0))
            live = self._refresh(walk, live)
            if walk.filled >= g.quantity - _EPS:
                return self._filled(walk, live)
            if live.status.is_terminal:
                outcome = (
                    ExecutionOutcome.REJECTED
                    if live.status is OrderStatus.REJECTED
                    else ExecutionOutcome.CANCELLED
                )
                return self._result(walk, outcome, live.reason or live.status.value)

    def _send(
        self,
        walk: Walk,
        seq: int,
        price: float,
        now: datetime,
        pending: JournalEntry | None,
    ) -> JournalEntry | ExecutionResult:
        g = walk.group
        remaining = max(round(g.quantity - walk.filled), 1)
        intent = OrderIntent(
            order_ref=make_order_ref(g.strategy_id, g.purpose, seq),
            strategy_id=g.strategy_id,
            purpose=g.purpose,
            legs=g.legs,
            quantity=remaining,
            limit_price=price,
            created_at=now,
            order_type=OrderType.LIMIT,
            tif=g.tif,
        )
        entry = JournalEntry.pending(intent, seq)
        if pending is not None:
            # Same order, fresh price; its creation time still starts the clock.
            entry = replace(entry, created_at=pending.created_at)
        walk.put(self.journal.write(entry))
        self._at("journaled", intent.order_ref)
        try:
            state = self.broker.place_order(intent)
        except BrokerError as exc:
            # The row stays pending: a re-run sends it again under the same ref.
            self._failure(now, exc.message)
            return self._result(walk, ExecutionOutcome.FAILED, f"send failed: {exc.message}")
        if self.breaker is not None:
            self.breaker.record_order(now)
        self._at("sent", intent.order_ref)
        entry = walk.put(self.journal.write(entry.with_state(state, now)))
        if state.status is OrderStatus.REJECTED:
            self._failure(now, state.reason)
            return self._result(walk, ExecutionOutcome.REJECTED, state.reason or "rejected")
        if self.breaker is not None:
            self.breaker.record_success(now)
        return entry

    def _refresh(self, walk: Walk, entry: JournalEntry) -> JournalEntry:
        state = self.broker.order(entry.order_ref)
        if state is None:
            return entry
        fresh = entry.with_state(state, self.broker.now())
        if _changed(entry, fresh):
            walk.put(self.journal.write(fresh))
        return fresh

    def _filled(self, walk: Walk, entry: JournalEntry) -> ExecutionResult:
        self._at("filled", entry.order_ref)
        for e in walk.entries:
            if e.filled_quantity > 0:
                self._store_fills(e)
        return self._result(walk, ExecutionOutcome.FILLED, "filled")

    def _cancel(self, walk: Walk, entry: JournalEntry, reason: str) -> JournalEntry:
        marked = walk.put(self.journal.write(replace(entry, reason=reason)))
        self._at("cancel_requested", entry.order_ref)
        state = self.broker.cancel_order(entry.order_ref)
        self._at("cancelled", entry.order_ref)
        fresh = walk.put(self.journal.write(marked.with_state(state, self.broker.now())))
        if fresh.filled_quantity > 0:
            self._store_fills(fresh)
        return fresh

    def _stop(
        self,
        walk: Walk,
        live: JournalEntry | None,
        pending: JournalEntry | None,
        outcome: ExecutionOutcome,
        reason: str,
    ) -> ExecutionResult:
        """End the walk: cancel a live order, retire an unsent one, report."""
        if live is not None:
            live = self._cancel(walk, live, reason)
            if walk.filled >= walk.group.quantity - _EPS:
                return self._result(walk, ExecutionOutcome.FILLED, "filled")
        if pending is not None and self.broker.order(pending.order_ref) is None:
            retired = replace(
                pending, status=OrderStatus.CANCELLED, reason=reason, updated_at=self.broker.now()
            )
            walk.put(self.journal.write(retired))
        return self._result(walk, outcome, reason)

    # --- market checks ------------------------------------------------------------------
    def _market(self, legs: Sequence[Leg], now: datetime) -> tuple[float, float] | Refusal:
        """(mid, natural) of ``legs`` now, or why no order may be priced from the market."""
        for leg in legs:
            if not self.broker.is_market_open(leg.contract):
                when = f"{now:%Y-%m-%d %H:%M} UTC"
                return Refusal(
                    ExecutionOutcome.MARKET_CLOSED, f"{MARKET_CLOSED}: {leg.contract.key} at {when}"
                )
        quotes = self.broker.snapshot([leg.contract for leg in legs])
        by_key: dict[str, Quote] = {}
        for leg, q in zip(legs, quotes, strict=True):
            # A bought leg may bid zero (a far wing); a sold leg may not.
            check = check_quote(q, now, self.max_quote_age_s, allow_zero_bid=leg.ratio > 0)
            if not check.ok:
                return Refusal(
                    ExecutionOutcome.INVALID_QUOTE,
                    f"{INVALID_QUOTE}: {leg.contract.key}: {check.reason}",
                )
            by_key[leg.contract.key] = q
        mid, natural, _ = net_prices(legs, by_key)
        return mid, natural

    # --- helpers ------------------------------------------------------------------------
    def _at(self, point: str, order_ref: str) -> None:
        if self._hook is not None:
            self._hook(point, order_ref)

    def _failure(self, now: datetime, reason: str) -> None:
        if self.breaker is not None:
            self.breaker.record_failure(now, reason)

    def _fills_of(self, entry: JournalEntry) -> list[Fill]:
        return [
            f
            for f in self.broker.executions(since=entry.created_at)
            if f.order_ref == entry.order_ref
        ]

    def _store_fills(self, entry: JournalEntry) -> None:
        self.journal.record_fills(self._fills_of(entry))

    def _result(self, walk: Walk, outcome: ExecutionOutcome, reason: str) -> ExecutionResult:
        g = walk.group
        if outcome is ExecutionOutcome.REJECTED and walk.last is not None:
            # A broker refusal needs a human (permissions, margin, a bad contract).
            alerts.emit(
                alerts.order_rejected_alert(
                    walk.last.order_ref,
                    reason,
                    self.broker.now(),
                    code=walk.last.error_code,
                    symbol=g.legs[0].contract.symbol if g.legs else None,
                )
            )
        filled = walk.filled
        paid = sum((e.avg_fill_price or 0.0) * e.filled_quantity for e in walk.entries)
        fills = [f for e in walk.entries if e.filled_quantity > 0 for f in self._fills_of(e)]
        return ExecutionResult(
            g.strategy_id,
            g.purpose,
            outcome,
            g.quantity,
            filled,
            paid / filled if filled > 0 else math.nan,
            tuple(e.order_ref for e in walk.entries),
            tuple(
                e.limit_price
                for e in walk.entries
                if e.limit_price is not None and e.status is not OrderStatus.PENDING
            ),
            tuple(fills),
            reason,
            walk.resumed,
        )

    def _empty_group(
        self, g: OrderGroup, outcome: ExecutionOutcome, reason: str
    ) -> ExecutionResult:
        return self._result(Walk(g), outcome, reason)

    def _empty(
        self, plan: ExecutionPlan, outcome: ExecutionOutcome, reason: str
    ) -> ExecutionResult:
        return ExecutionResult(
            plan.strategy_id,
            plan.purpose,
            outcome,
            plan.quantity,
            0.0,
            math.nan,
            (),
            (),
            (),
            reason,
        )


def _changed(old: JournalEntry, new: JournalEntry) -> bool:
    return (
        old.status is not new.status
        or abs(old.filled_quantity - new.filled_quantity) > _EPS
        or old.broker_order_id != new.broker_order_id
        or old.reason != new.reason
    )
