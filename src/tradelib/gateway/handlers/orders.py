"""Order handlers: place / modify / cancel, open and completed orders, executions, and broker events turned back into IB order messages."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from tradelib.broker.port import BrokerEvent, FillEvent, OrderStatusEvent
from tradelib.domain import (
    NEW_YORK,
    Contract,
    Fill,
    OrderIntent,
    OrderState,
    OrderStatus,
    SecType,
)
from tradelib.errors import BrokerError, ContractError
from tradelib.gateway import parsing as p
from tradelib.gateway.handlers.core import (
    BAG_CON_ID,
    DONE_STATUSES,
    EXPIRY_PERM_ID_BASE,
    EXPIRY_REF_PREFIX,
    REFUSED_PERM_ID_BASE,
    ExecRecord,
    GatewayCore,
)
from tradelib.gateway.marketdata import Message
from tradelib.gateway.orders import (
    GatewayOrder,
    GatewayOrderError,
    build_intent,
    completed_reason,
    completed_status_text,
    off_tick,
)
from tradelib.gateway.parsing import ErrorCode, FieldReader, WireContract, WireExecution
from tradelib.gateway.session import ClientSession
from tradelib.pricing import TickRule, tick_rule_for
from tradelib.secrets import mask_account

log = logging.getLogger("tradelib.gateway")


def _naked_short(legs: Sequence[tuple[Contract, int]]) -> bool:
    """True when some right is sold in more contracts than it is bought (IB-signed ratios)."""
    by_right: dict[object, int] = {}
    for c, ratio in legs:
        by_right[c.right] = by_right.get(c.right, 0) + ratio
    return any(n < 0 for n in by_right.values())


class OrderHandlers(GatewayCore):
    """Orders routed to SimBroker and its order events routed back to the placing client."""

    def _req_open_orders(self, s: ClientSession, f: list[str]) -> None:
        self._send_open_orders(s, only_own=True)

    def _req_all_open_orders(self, s: ClientSession, f: list[str]) -> None:
        self._send_open_orders(s, only_own=False)

    def _send_open_orders(self, s: ClientSession, only_own: bool) -> None:
        rows: list[Message] = []
        for gw in self._orders_by_key.values():
            if gw.status in DONE_STATUSES or not gw.opened:
                continue
            if only_own and gw.client_id != s.client_id:
                continue
            rows.append(p.open_order(gw.contract, gw.wire_order()))
            rows.append(self._status_message(gw))
        s.send(*rows, p.open_order_end())

    def _req_completed_orders(self, s: ClientSession, f: list[str]) -> None:
        """Every finished order of the account (all clients), as IB lists today's completed ones."""
        rows: list[Message] = []
        for gw in self._orders_by_key.values():
            if gw.status not in DONE_STATUSES:
                continue
            when = (gw.completed_at or self.broker.now()).astimezone(NEW_YORK)
            status = completed_status_text(gw.status, gw.filled, gw.completed_reason)
            rows.append(
                p.completed_order(
                    gw.contract,
                    gw.wire_order(),
                    gw.filled,
                    f"{when:%Y%m%d %H:%M:%S} America/New_York",
                    status,
                )
            )
        s.send(*rows, p.completed_orders_end())

    def _req_executions(self, s: ClientSession, f: list[str]) -> None:
        r = FieldReader(f, 2)
        req_id = r.integer()
        client = r.integer()
        r.skip(2)  # account, time
        symbol = r.text().upper()
        sec_type = r.text().upper()
        r.skip(1)  # exchange
        side = r.text().upper()
        rows: list[Message] = []
        for rec in self._execs:
            if client and rec.client_id != client:
                continue
            if symbol and rec.contract.symbol != symbol:
                continue
            if sec_type and rec.contract.sec_type != sec_type:
                continue
            if side and rec.execution.side != p.MAP_EXEC_SIDE.get(side, side):
                continue
            rows.append(p.exec_details(req_id, rec.contract, rec.execution))
            if rec.commission is not None:
                rows.append(p.commission_report(rec.execution.exec_id, rec.commission, 0.0))
        s.send(*rows, p.exec_details_end(req_id))

    def _status_message(self, gw: GatewayOrder) -> Message:
        return p.order_status(
            gw.order_id,
            gw.status,
            gw.filled,
            gw.remaining,
            gw.avg_fill_price,
            gw.perm_id,
            gw.last_fill_price,
            gw.client_id,
        )

    def _unique_ref(self, wanted: str, client_id: int, order_id: int) -> str:
        ref = wanted or f"ib.{client_id}.{order_id}"
        n = 0
        candidate = ref
        while candidate in self._orders_by_ref or self.broker.order(candidate) is not None:
            n += 1
            candidate = f"{ref}#{client_id}.{order_id}.{n}"
        return candidate

    def _place_order(self, s: ClientSession, f: list[str]) -> None:
        assert s.client_id is not None
        faults = self._fault_state
        req = p.parse_place_order(f)
        faults.place_orders += 1
        faults.orders_received[s.client_id] = faults.orders_received.get(s.client_id, 0) + 1
        self._next_ids[s.client_id] = max(self._next_id(s.client_id), req.order_id + 1)
        try:
            self._handle_order(s, req)
        finally:
            if faults.drop_after_order > 0:
                faults.drop_after_order -= 1
                log.info("fault: dropping client %d after its order", s.client_id)
                faults.connections_dropped += 1
                self._drop(s)
                s.close()  # after the acks already queued

    def _handle_order(self, s: ClientSession, req: p.PlaceOrderRequest) -> None:
        assert s.client_id is not None
        faults = self._fault_state
        key = (s.client_id, req.order_id)
        existing = self._orders_by_key.get(key)
        if existing is not None:
            faults.modifies += 1
            if existing.status in DONE_STATUSES:
                s.send(p.error_for(req.order_id, ErrorCode.DUPLICATE_ORDER_ID))
                return
        account = self._order_account(s, req)
        if account is None:
            if existing is None:
                self._refuse_order(s, req, req.contract, {}, "Rejected: account")
            return
        try:
            legs, contract, leg_wires = self._order_legs(req.contract)
            remaining = None
            if existing is not None:
                remaining = req.quantity - existing.filled
            ref = self._unique_ref(req.order_ref, s.client_id, req.order_id)
            intent = build_intent(req, legs, ref, self.broker.now(), quantity=remaining)
        except GatewayOrderError as exc:
            code = exc.code or int(ErrorCode.VALIDATION_ERROR)
            s.send(p.error_msg(req.order_id, code, p.fault_error_text(code, exc.message)))
            if existing is None:
                self._refuse_order(s, req, req.contract, {}, f"Rejected: {exc.message}")
            return
        except ContractError:
            s.send(p.error_for(req.order_id, ErrorCode.NO_SECURITY_DEFINITION))
            if existing is None:
                self._refuse_order(s, req, req.contract, {}, "Rejected: no security definition")
            return
        refusal = self._account_refusal([(leg.contract, leg.ratio) for leg in intent.legs])
        if refusal is not None:
            s.send(p.error_msg(req.order_id, int(ErrorCode.ORDER_REJECTED), refusal))
            if existing is None and not req.what_if:
                self._refuse_order(s, req, contract, leg_wires, refusal)
            return
        if req.what_if:
            # What-if: IB answers the order's margin impact and keeps nothing.
            s.send(p.open_order(contract, self._what_if_order(s, req, account)))
            return
        rejection = faults.take_rejection()
        if rejection is not None:
            code, reason = rejection
            s.send(p.error_msg(req.order_id, code, p.fault_error_text(code, reason)))
            if existing is None:
                self._refuse_order(s, req, contract, leg_wires, f"Rejected: {reason}")
            return
        price = req.limit_price
        rule = self._tick_rule(contract, legs)
        if price is not None and intent.limit_price is not None and off_tick(price, rule):
            s.send(p.error_for(req.order_id, ErrorCode.PRICE_OFF_TICK))
            if existing is None:
                self._refuse_order(s, req, contract, leg_wires, f"Rejected: price {price:g}")
            return  # a modification keeps the order working at its old price
        if existing is not None:
            # A modification: the simulated broker has no amend, so cancel and replace,
            # keeping the IB order id, perm id and the fills so far.
            gw = existing
            gw.retire_incarnation()
            self.broker.cancel_order(gw.ref)
            gw.request = req
            gw.ref = ref
        else:
            gw = GatewayOrder(ref, s.client_id, req.order_id, req, contract, leg_wires, account)
            gw.echo_ref = not faults.blank_order_refs
            self._orders_by_key[key] = gw
            faults.broker_orders += 1
            by_ref = faults.broker_orders_by_ref
            by_ref[req.order_ref] = by_ref.get(req.order_ref, 0) + 1
        self._orders_by_ref[ref] = gw
        self._submit(s, gw, intent)

    def _submit(self, s: ClientSession, gw: GatewayOrder, intent: OrderIntent) -> None:
        """Hand a new or replacing order to SimBroker; a refusal there cancels it (error sent)."""
        req = gw.request
        try:
            state = self.broker.place_order(intent)
        except BrokerError as exc:
            s.send(
                p.error_msg(req.order_id, exc.code or int(ErrorCode.ORDER_REJECTED), exc.message)
            )
            gw.status = "Cancelled"
            gw.completed_at = self.broker.now()
            gw.completed_reason = f"Rejected: {exc.message}"
            return
        if not gw.opened:
            self._apply_state(gw, state)

    def _account_refusal(self, legs: Sequence[tuple[Contract, int]]) -> str | None:
        """IB's rejection text when the account may not trade ``legs`` (permissions, cash)."""
        faults = self._fault_state
        options = [(c, r) for c, r in legs if c.sec_type is SecType.OPTION]
        if options and faults.no_option_permission:
            return p.fault_error_text(int(ErrorCode.ORDER_REJECTED), p.NO_OPTION_PERMISSION_TEXT)
        if options and faults.cash_account and _naked_short(options):
            return p.fault_error_text(int(ErrorCode.ORDER_REJECTED), p.CASH_ACCOUNT_TEXT)
        return None

    def _what_if_order(
        self, s: ClientSession, req: p.PlaceOrderRequest, account: str
    ) -> p.WireOrder:
        assert s.client_id is not None
        return p.WireOrder(
            order_id=req.order_id,
            client_id=s.client_id,
            perm_id=0,
            action=req.action.upper(),
            quantity=req.quantity,
            order_type=req.order_type.upper(),
            limit_price=req.limit_price,
            tif=req.tif.upper() or "DAY",
            account=account,
            order_ref=req.order_ref,
            status="PreSubmitted",
            what_if=True,
            margin=self._what_if_margin(),
        )

    def _what_if_margin(self) -> tuple[float, ...]:
        """Margin before, change and after of a what-if (the simulation reports no change)."""
        snap = self.broker.account()
        now = (snap.init_margin, snap.maint_margin, snap.net_liquidation)
        return (*now, 0.0, 0.0, 0.0, *now)

    def _order_account(self, s: ClientSession, req: p.PlaceOrderRequest) -> str | None:
        """The managed account an order trades; None (error sent) when it names none or another."""
        if req.account:
            if req.account in self.accounts:
                return req.account
            log.warning(
                "order %d of client %s names account %s, not managed here: refused",
                req.order_id,
                s.client_id,
                mask_account(req.account),
            )
            detail = f"The account code {req.account} is not managed by this session"
            s.send(p.error_for(req.order_id, ErrorCode.VALIDATION_ERROR, detail))
            return None
        if len(self.accounts) == 1:
            return self.account
        s.send(p.error_for(req.order_id, ErrorCode.NO_ALLOCATION))
        return None

    def _refuse_order(
        self,
        s: ClientSession,
        req: p.PlaceOrderRequest,
        contract: WireContract,
        leg_wires: dict[int, WireContract],
        reason: str,
    ) -> None:
        """Record a new order the gateway refused (it never reached SimBroker) as Cancelled."""
        assert s.client_id is not None
        self._refused_seq += 1
        account = req.account if req.account in self.accounts else self.account
        gw = GatewayOrder("", s.client_id, req.order_id, req, contract, leg_wires, account)
        gw.perm_id = REFUSED_PERM_ID_BASE + self._refused_seq
        gw.status = "Cancelled"
        gw.completed_at = self.broker.now()
        gw.completed_reason = reason
        self._orders_by_key[(s.client_id, req.order_id)] = gw
        s.send(self._status_message(gw))

    def _tick_rule(self, contract: WireContract, legs: list[tuple[Contract, int]]) -> TickRule:
        """The price grid of an order: the option class's for options and combos, else min tick."""
        if contract.sec_type == "BAG":
            # A combo's net price uses its class's option grid ($0.01 for SPY/QQQ/IWM).
            return tick_rule_for(legs[0][0].symbol)
        inst = self.catalog.by_con_id(contract.con_id)
        if inst is None or inst.sec_type == "OPT":
            return tick_rule_for(contract.symbol)
        return TickRule.fixed(self.catalog.details_extra(inst).min_tick)

    def _order_legs(
        self, spec: WireContract
    ) -> tuple[list[tuple[Contract, int]], WireContract, dict[int, WireContract]]:
        """Resolved legs (contract, IB-signed ratio), the reported contract and leg wires by con_id."""
        if spec.sec_type.upper() == "BAG":
            if not spec.combo_legs:
                raise GatewayOrderError("a BAG order needs combo legs", code=321)
            legs: list[tuple[Contract, int]] = []
            wires: dict[int, WireContract] = {}
            for leg in spec.combo_legs:
                inst = self.catalog.by_con_id(leg.con_id)
                if inst is None:
                    raise ContractError(f"unknown combo leg con_id {leg.con_id}")
                sign = 1 if leg.action.upper() == "BUY" else -1
                legs.append((self.catalog.domain(inst), leg.ratio * sign))
                wires[inst.con_id] = self.catalog.wire(inst)
            bag = WireContract(
                con_id=BAG_CON_ID,
                symbol=spec.symbol,
                sec_type="BAG",
                exchange=spec.exchange or "SMART",
                currency=spec.currency or "USD",
                combo_legs=spec.combo_legs,
            )
            return legs, bag, wires
        inst = self.catalog.resolve_one(spec)
        if inst is None:
            raise ContractError(f"no single instrument for {spec.symbol} {spec.sec_type}")
        wire = self.catalog.wire(inst, exchange=spec.exchange or None)
        return [(self.catalog.domain(inst), 1)], wire, {inst.con_id: wire}

    def _cancel_order(self, s: ClientSession, f: list[str]) -> None:
        assert s.client_id is not None
        self._fault_state.cancels += 1
        order_id = FieldReader(f, 2).integer()
        gw = self._orders_by_key.get((s.client_id, order_id))
        if gw is None:
            s.send(p.error_for(order_id, ErrorCode.ORDER_NOT_FOUND, str(order_id)))
            return
        if gw.status == "Filled":
            s.send(p.error_for(order_id, ErrorCode.CANNOT_CANCEL_FILLED, str(order_id)))
            return
        self.broker.cancel_order(gw.ref)

    def _req_global_cancel(self, s: ClientSession, f: list[str]) -> None:
        self._fault_state.global_cancels += 1
        for gw in list(self._orders_by_key.values()):
            if gw.status not in DONE_STATUSES:
                self.broker.cancel_order(gw.ref)

    # --- broker events -> IB messages -------------------------------------------------------------------------
    def _on_event(self, event: BrokerEvent) -> None:
        if isinstance(event, OrderStatusEvent):
            gw = self._orders_by_ref.get(event.state.order_ref)
            if gw is not None and event.state.order_ref not in gw.retired:
                self._apply_state(gw, event.state)
        elif isinstance(event, FillEvent):
            self._positions_dirty = True
            fill = event.fill
            gw = self._orders_by_ref.get(fill.order_ref)
            if gw is None:
                if fill.order_ref.startswith(EXPIRY_REF_PREFIX):
                    self._report_settlement(fill)
                return
            if not gw.opened:  # a fill before any status: make the order known first
                self._send_open(gw)
            gw.chunk.append(fill)
            contract, execution = gw.leg_execution(fill, gw.account)
            self._execs.append(ExecRecord(gw.client_id, contract, execution, fill.commission))
            session = self._sessions.get(gw.client_id)
            if session is not None:
                session.send(
                    p.exec_details(-1, contract, execution),
                    p.commission_report(fill.exec_id, fill.commission, 0.0),
                )

    def _report_settlement(self, fill: Fill) -> None:
        """An expiry, exercise or assignment as an execution (order id 0) to every client.

        IB reports these with no API order behind them; the SimBroker reason is
        kept as the orderRef so a reader can tell them from trades.
        """
        inst = self.catalog.for_contract(fill.contract)
        if inst is None:
            log.warning("settlement fill %s on an unlisted contract: not reported", fill.exec_id)
            return
        wire = self.catalog.wire(inst)
        self._expiry_seq += 1
        shares = abs(fill.quantity)
        execution = WireExecution(
            order_id=0,
            exec_id=fill.exec_id,
            time=p.ib_time(fill.ts),
            account=self.account,
            exchange=wire.exchange or "SMART",
            side=p.MAP_EXEC_SIDE["BUY" if fill.quantity > 0 else "SELL"],
            shares=shares,
            price=fill.price,
            perm_id=EXPIRY_PERM_ID_BASE + self._expiry_seq,
            client_id=0,
            cum_qty=shares,
            avg_price=fill.price,
            order_ref=fill.order_ref,
        )
        self._execs.append(ExecRecord(0, wire, execution, fill.commission))
        for session in self._sessions.values():
            session.send(
                p.exec_details(-1, wire, execution),
                p.commission_report(fill.exec_id, fill.commission, 0.0),
            )

    def _send_open(self, gw: GatewayOrder) -> None:
        gw.opened = True
        if gw.status == "PendingSubmit":
            gw.status = "Submitted"
        session = self._sessions.get(gw.client_id)
        if session is not None:
            session.send(p.open_order(gw.contract, gw.wire_order()))

    def _apply_state(self, gw: GatewayOrder, state: OrderState) -> None:
        if not gw.perm_id:
            gw.perm_id = int(state.perm_id or 0) or 2_000_000 + len(self._orders_by_key)
        before = gw.filled
        filled_here = state.filled_quantity
        avg_here = state.avg_fill_price if filled_here > 0 else 0.0
        gw.apply_status(filled_here, avg_here)
        status = p.MAP_ORDER_STATUS[state.status]
        session = self._sessions.get(gw.client_id)
        out: list[Message] = []
        if status in DONE_STATUSES:
            gw.completed_at = state.updated_at or self.broker.now()
            gw.completed_reason = completed_reason(state.status, state.reason)
        if state.status is OrderStatus.REJECTED:
            gw.status = status
            detail = state.reason or "rejected by the simulated broker"
            code = state.error_code or int(ErrorCode.ORDER_REJECTED)
            if session is not None:
                session.send(p.error_msg(gw.order_id, code, f"Order rejected - reason:{detail}"))
            gw.opened = True
            return
        if not gw.opened:
            gw.status = status
            self._send_open(gw)
        if gw.filled > before and gw.chunk:
            gw.last_fill_price = gw.chunk[-1].price
            if gw.is_combo:
                ts = state.updated_at or self.broker.now()
                execution = gw.combo_execution(gw.filled - before, ts, gw.account)
                gw.last_fill_price = execution.price
                self._execs.append(ExecRecord(gw.client_id, gw.contract, execution, None))
                out.append(p.exec_details(-1, gw.contract, execution))
            gw.chunk.clear()
        gw.status = status
        out.append(self._status_message(gw))
        if session is not None:
            session.send(*out)
