"""Orders section of the IB broker: idempotent placement, cancels, order states and executions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from ib_async import (
    ComboLeg,
    ExecutionFilter,
    Order,
    RequestError,
    Trade,
)
from ib_async import Contract as IbContract
from ib_async import Fill as IbFill

from tradelib.broker import ib_mapping as m
from tradelib.broker.ib_contracts import IBContracts
from tradelib.broker.ib_core import (
    _BAG_EXCHANGE,
    _UNACKED_IB,
    _WORKING_IB,
    COMMISSION_WAIT_S,
    _Sent,
)
from tradelib.broker.port import (
    FillEvent,
    OrderStatusEvent,
)
from tradelib.domain import (
    NEW_YORK,
    Fill,
    Leg,
    OrderIntent,
    OrderState,
    OrderStatus,
    TimeInForce,
)
from tradelib.errors import (
    ContractError,
    ReadOnlyModeError,
    UnknownOrderError,
)
from tradelib.pricing import TickRule, tick_rule_for

log = logging.getLogger("tradelib.broker.ib")


@dataclass(frozen=True, slots=True)
class WhatIf:
    """IB's answer to a what-if order: accepted (with its margin change) or rejected."""

    accepted: bool
    code: int | None = None
    message: str = ""
    init_margin_change: float = math.nan


class IBOrders(IBContracts):
    """Orders by idempotent order_ref, reconciled with IB's open and completed orders."""

    def what_if(self, intent: OrderIntent) -> WhatIf:
        """Ask IB whether it would accept ``intent`` (a what-if: nothing is placed, any mode)."""
        self._session()
        try:
            legs = tuple(Leg(self._resolve(leg.contract), leg.ratio) for leg in intent.legs)
        except ContractError as exc:
            return WhatIf(False, m.CODE_NO_SECURITY, exc.message)
        plan = m.plan_order(replace(intent, legs=legs), self._tick_rule(legs))
        contract = self._order_contract(legs, plan)
        order = Order(**plan.order_fields(self.connection.account), whatIf=True)
        try:
            state = self._request(lambda: self._ib.whatIfOrder(contract, order))
        except RequestError as exc:
            return WhatIf(False, exc.code, exc.message)
        change = getattr(state, "initMarginChange", "")
        try:
            margin = float(change)
        except (TypeError, ValueError):
            margin = math.nan
        return WhatIf(True, init_margin_change=margin)

    # --- orders -----------------------------------------------------------------------------------
    def place_order(self, intent: OrderIntent) -> OrderState:
        """Send ``intent`` once: an order or execution with its order_ref is returned instead."""
        self._session()
        if not self._mode.may_place_orders:
            raise ReadOnlyModeError(action=f"place order {intent.order_ref}")
        existing = self._lookup(intent.order_ref, refresh=True)
        if existing is not None:
            return existing
        now = self.now()
        try:
            legs = tuple(Leg(self._resolve(leg.contract), leg.ratio) for leg in intent.legs)
        except ContractError as exc:
            return self._decide_locally(intent, now, exc.message, m.CODE_NO_SECURITY)
        closed = [leg.contract.key for leg in legs if not self._is_open(leg.contract, now)]
        if closed:
            return self._decide_locally(
                intent,
                now,
                f"market closed for {', '.join(closed)} at {now:%Y-%m-%d %H:%M} UTC",
                m.CODE_ORDER_REJECTED,
            )
        plan = m.plan_order(replace(intent, legs=legs), self._tick_rule(legs))
        ib_contract = self._order_contract(legs, plan)
        order = Order(**plan.order_fields(self.connection.account))
        pending = OrderState(
            order_ref=intent.order_ref,
            status=OrderStatus.PENDING,
            quantity=intent.quantity,
            limit_price=None if plan.limit_price is None else plan.limit_price * plan.price_factor,
            updated_at=now,
        )
        sent = _Sent(plan, intent.tif, pending)
        self._sent[intent.order_ref] = sent
        try:
            trade = self._ib.placeOrder(ib_contract, order)
            key = (int(self.connection.client_id or 0), int(trade.order.orderId))
            sent.keys.append(key)
            self._ref_by_key[key] = intent.order_ref
            deadline = time.monotonic() + self._ack_timeout_s
            while trade.orderStatus.status in _UNACKED_IB and time.monotonic() < deadline:
                if not self._ib.isConnected():
                    raise ConnectionError("connection lost before IB acknowledged the order")
                self._ib.sleep(0.002)
        except ConnectionError:
            # Whether IB got it is unknown: ask IB, never resend blindly.
            self._session()
            found = self._lookup(intent.order_ref, refresh=True)
            if found is not None:
                return found
            sent.state = replace(
                pending, reason="connection lost before IB acknowledged the order; not at IB"
            )
            return sent.state
        return self._trade_state(trade, reconcile=True)

    def _decide_locally(
        self, intent: OrderIntent, now: datetime, reason: str, code: int
    ) -> OrderState:
        state = OrderState(
            order_ref=intent.order_ref,
            status=OrderStatus.REJECTED,
            quantity=intent.quantity,
            limit_price=intent.limit_price,
            updated_at=now,
            reason=reason,
            error_code=code,
        )
        plan = m.OrderPlan(
            "BUY", intent.quantity, "LMT", intent.limit_price, "DAY", intent.order_ref, (), 1.0, 1
        )
        self._sent[intent.order_ref] = _Sent(plan, intent.tif, state, local=True)
        self.events.emit(OrderStatusEvent(state))
        return state

    def _order_contract(self, legs: Sequence[Leg], plan: m.OrderPlan) -> IbContract:
        """The leg's own contract for a single leg, else a BAG of the plan's combo legs."""
        if not plan.is_combo:
            return self._ib_contract(legs[0].contract)
        combo = [
            ComboLeg(conId=leg.con_id, ratio=leg.ratio, action=leg.action, exchange=_BAG_EXCHANGE)
            for leg in plan.combo_legs
        ]
        return IbContract(
            secType="BAG",
            symbol=legs[0].contract.symbol,
            exchange=_BAG_EXCHANGE,
            currency="USD",
            comboLegs=combo,
        )

    def _tick_rule(self, legs: Sequence[Leg]) -> TickRule:
        """The option class's tick rule (coarsest safe grid); a single future or stock uses its minTick."""
        options = [leg.contract for leg in legs if leg.contract.is_option]
        if options:
            return tick_rule_for(options[0].trading_class or options[0].symbol)
        c = legs[0].contract
        min_tick = self._min_ticks.get(int(c.con_id or 0), 0.01)
        return TickRule.fixed(min_tick)

    def cancel_order(self, order_ref: str) -> OrderState:
        """Cancel a working order and wait for IB's answer; a terminal order is returned unchanged."""
        self._session()
        if not self._mode.may_place_orders:
            raise ReadOnlyModeError(action=f"cancel order {order_ref}")
        trade = self._find_trade(order_ref)
        if trade is None:
            self._request(self._refresh_orders)
            trade = self._find_trade(order_ref)
        if trade is None:
            state = self._lookup(order_ref, refresh=False)
            if state is None:
                raise UnknownOrderError(order_ref=order_ref)
            return state
        state = self._trade_state(trade, reconcile=True)
        if state.status.is_terminal:
            return state
        sent = self._sent.get(order_ref)
        if sent is not None:
            sent.cancel_requested = True
        self._ib.cancelOrder(trade.order)
        deadline = time.monotonic() + self._ack_timeout_s
        while not trade.isDone() and time.monotonic() < deadline:
            self._request(lambda: self._ib.sleep(0.002))
        return self._trade_state(trade, reconcile=True)

    def order(self, order_ref: str) -> OrderState | None:
        """Current state of the order with ``order_ref`` (None if IB has none and we sent none)."""
        self._session()
        return self._lookup(order_ref, refresh=False)

    def open_orders(self) -> list[OrderState]:
        """Every working order of the account (all client ids), fresh from IB."""
        self._session()
        trades = self._request(lambda: list(self._ib.reqAllOpenOrders()))
        out = []
        for trade in trades:
            if trade.orderStatus.status not in _WORKING_IB:
                continue
            state = self._trade_state(trade, reconcile=False)
            if not state.status.is_terminal:
                out.append(state)
        return out

    def executions(self, since: datetime | None = None) -> list[Fill]:
        """Leg fills since ``since`` (default: midnight New York of today), with commissions."""
        self._session()
        if since is None:
            local = self.now().astimezone(NEW_YORK)
            since = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
        self._request(lambda: self._ib.reqExecutions(ExecutionFilter()))
        legs = [f for f in self._ib.fills() if f.contract.secType != "BAG"]
        deadline = time.monotonic() + COMMISSION_WAIT_S
        while any(not m.has_commission(f) for f in legs) and time.monotonic() < deadline:
            self._request(lambda: self._ib.sleep(0.005))
        fills = [self._domain_fill(f) for f in legs]
        return sorted((f for f in fills if f.ts >= since), key=lambda f: (f.ts, f.exec_id))

    # --- order bookkeeping ---------------------------------------------------------------------------
    def _find_trade(self, order_ref: str) -> Trade | None:
        matches = [t for t in self._ib.trades() if self._ref_of(t) == order_ref]
        if not matches:
            return None
        live = [t for t in matches if not t.isDone()]
        return max(live or matches, key=lambda t: (t.order.permId, t.order.orderId))

    def _ref_of(self, trade: Trade) -> str:
        """The order_ref of ``trade``: IB's echo, else the ids recorded when it was sent."""
        order = trade.order
        if order.orderRef:
            return str(order.orderRef)
        by_perm = self._ref_by_perm.get(int(order.permId or 0))
        if by_perm is not None:
            return by_perm
        return self._ref_by_key.get((int(order.clientId), int(order.orderId)), "")

    def _exec_ref(self, fill: IbFill) -> str:
        """The order_ref of an execution: IB's echo, else the ids recorded when it was sent."""
        ex = fill.execution
        if ex.orderRef:
            return str(ex.orderRef)
        by_perm = self._ref_by_perm.get(int(ex.permId or 0))
        if by_perm is not None:
            return by_perm
        return self._ref_by_key.get((int(ex.clientId), int(ex.orderId)), "")

    def _fills_of(self, order_ref: str) -> list[IbFill]:
        """Executions of ``order_ref``: by IB's orderRef echo, else by the recorded ids."""
        return [f for f in self._ib.fills() if self._exec_ref(f) == order_ref]

    def _domain_fill(self, fill: IbFill) -> Fill:
        """A leg fill carrying our order_ref even when IB echoed it empty."""
        out = m.domain_fill(fill)
        if not out.order_ref:
            ref = self._exec_ref(fill)
            if ref:
                out = replace(out, order_ref=ref)
        return out

    def _refresh_orders(self) -> None:
        """Pull today's open and completed orders of every client from IB.

        Executions are not pulled here: an order that executed is open or completed,
        and its fills are fetched only when its totals are needed (``_trade_state``).
        """
        self._ib.reqAllOpenOrders()
        with contextlib.suppress(RequestError):
            self._ib.reqCompletedOrders(False)

    def _lookup(self, order_ref: str, *, refresh: bool) -> OrderState | None:
        """The broker's state of ``order_ref``: its order, else its executions, else our decision."""
        trade = self._find_trade(order_ref)
        fills = self._fills_of(order_ref)
        if trade is None and not fills and refresh:
            self._request(self._refresh_orders)
            trade = self._find_trade(order_ref)
            fills = self._fills_of(order_ref)
        if trade is not None:
            return self._trade_state(trade, reconcile=True)
        sent = self._sent.get(order_ref)
        if fills:
            plan = sent.plan if sent is not None else _plan_from_fills(order_ref, fills)
            return m.state_from_fills(plan, fills, self.now())
        if sent is not None and (sent.local or sent.state.status.is_terminal):
            return sent.state
        return None

    def _trade_state(self, trade: Trade, *, reconcile: bool) -> OrderState:
        key = (int(trade.order.clientId), int(trade.order.orderId))
        error = self._order_errors.get(key)
        if (
            reconcile
            and error is not None
            and trade.orderStatus.status in ("Cancelled", "ApiCancelled")
            and key not in self._reconciled
        ):
            # ib_async cancels an order on any error; ask IB whether it is really gone.
            self._reconciled.add(key)
            with contextlib.suppress(RequestError, asyncio.TimeoutError):
                self._request(lambda: self._ib.reqAllOpenOrders())
        ref = self._ref_of(trade)
        sent = self._sent.get(ref)
        perm = int(trade.order.permId or 0)
        if sent is not None and perm and perm not in sent.perm_ids:
            sent.perm_ids.add(perm)
            self._ref_by_perm[perm] = ref
        plan = (
            sent.plan
            if sent is not None and not sent.local
            else replace(
                m.plan_of_ib_order(trade.order, trade.contract.secType == "BAG"), order_ref=ref
            )
        )
        reason = ""
        status = trade.orderStatus.status
        if status in ("Cancelled", "ApiCancelled") and error is None:
            reason = self._cancel_reason(trade, sent)
        elif status == "Inactive" and error is None:
            reason = "inactive at IB"
        state = m.order_state(
            plan,
            trade.orderStatus,
            trade.order,
            updated_at=self._event_ts(),
            error=error,
            reason=reason,
        )
        if state.filled_quantity == 0 and status in ("Filled", "Cancelled", "ApiCancelled"):
            # A completed order (listed after a reconnect) carries no fill totals: use its executions.
            fills = self._fills_of(ref)
            if not fills and reconcile and status == "Filled":
                self._request(lambda: self._ib.reqExecutions(ExecutionFilter()))
                fills = self._fills_of(ref)
            if fills:
                known = m.state_from_fills(plan, fills, state.updated_at or self._event_ts())
                state = replace(
                    state,
                    filled_quantity=known.filled_quantity,
                    avg_fill_price=known.avg_fill_price,
                )
        if sent is not None and not sent.local:
            sent.state = state
        return state

    def _cancel_reason(self, trade: Trade, sent: _Sent | None) -> str:
        if sent is not None and sent.cancel_requested:
            return "cancelled by request"
        tif = sent.tif if sent is not None else TimeInForce(trade.order.tif or "DAY")
        if tif is TimeInForce.DAY:
            legs = [self._resolved_by_con_id(trade.contract)]
            est = self._event_ts()
            if all(c is not None and not self._is_open(c, est) for c in legs):
                return "day order expired at the close"
        return "cancelled by IB"

    def _on_order_status(self, trade: Trade) -> None:
        if self._ref_of(trade):
            self.events.emit(OrderStatusEvent(self._trade_state(trade, reconcile=False)))

    def _on_commission(self, trade: Trade, fill: IbFill, report: Any) -> None:
        if fill.contract.secType != "BAG":
            with contextlib.suppress(ContractError):
                self.events.emit(FillEvent(self._domain_fill(fill)))


def _plan_from_fills(order_ref: str, fills: Sequence[IbFill]) -> m.OrderPlan:
    bag = any(f.contract.secType == "BAG" for f in fills)
    rows = [f for f in fills if (f.contract.secType == "BAG") == bag]
    side = rows[0].execution.side if rows else "BOT"
    sign = m.MAP_EXEC_SIGN.get(side.upper(), 1)
    shares = int(sum(float(f.execution.shares) for f in rows))
    return m.OrderPlan(
        "BUY" if sign > 0 else "SELL",
        max(shares, 1),
        "LMT",
        None,
        "DAY",
        order_ref,
        (m.ComboLegPlan(0, 1, "BUY"),) if bag else (),
        float(sign),
        1,
    )
