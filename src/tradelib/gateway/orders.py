"""IB orders <-> broker-neutral order intents, and the gateway's record of each order.

IB prices a single leg as a positive price with a BUY/SELL action, and a BAG
as a net price per combo unit (negative = credit) with comboLeg actions and
ratios. The domain convention (``tradelib.domain.orders``) has one rule for
both: execution-signed leg ratios and a signed net price we pay per unit. So
``ratio = leg ratio x leg sign x order sign`` and ``limit = IB limit x order
sign``; fills come back the same way (``IB avg price = net paid x order sign``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tradelib.domain import (
    Contract,
    Fill,
    Leg,
    OrderIntent,
    OrderPurpose,
    OrderStatus,
    OrderType,
    TimeInForce,
    parse_order_ref,
)
from tradelib.errors import BrokerError
from tradelib.gateway.parsing import (
    MAP_EXEC_SIDE,
    MAP_ORDER_STATUS,
    PlaceOrderRequest,
    WireContract,
    WireExecution,
    WireOrder,
    ib_time,
)
from tradelib.pricing import TickRule, round_to_tick

MAP_ORDER_TYPE: dict[str, OrderType] = {"LMT": OrderType.LIMIT, "MKT": OrderType.MARKET}
MAP_TIF: dict[str, TimeInForce] = {
    "DAY": TimeInForce.DAY,
    "GTC": TimeInForce.GTC,
    "": TimeInForce.DAY,
}
MAP_ACTION_SIGN: dict[str, int] = {"BUY": 1, "SELL": -1}

# How far (relative) a price may sit from its grid point and still be on it: a client
# sends 2.05 as the double 2.0499999999999998.
_ON_GRID_REL_TOL = 1e-9


def off_tick(price: float, rule: TickRule) -> bool:
    """True when ``price`` (signed, as IB sends it) is not on ``rule``'s tick grid."""
    snapped = float(round_to_tick(price, rule))
    return abs(snapped - price) > _ON_GRID_REL_TOL * max(1.0, abs(price))


# SimBroker's reasons for a finished order -> the completedStatus wording IB uses.
MAP_FINISH_REASON: dict[str, str] = {"cancelled by request": "Cancelled by Trader"}


def completed_reason(status: OrderStatus, reason: str) -> str:
    """Why a SimBroker order ended, as IB's completedStatus words it ('' = the default)."""
    if status is OrderStatus.REJECTED:
        return f"Rejected: {reason or 'rejected by the simulated broker'}"
    if status is OrderStatus.CANCELLED and reason:
        return MAP_FINISH_REASON.get(reason, reason)
    return ""


def completed_status_text(status: str, filled: float, reason: str) -> str:
    """The ``completedStatus`` IB reports for a finished order."""
    if reason:
        return reason
    if status == MAP_ORDER_STATUS[OrderStatus.FILLED]:
        return f"Filled Size: {filled:g}"
    return "Cancelled by Trader"


class GatewayOrderError(BrokerError):
    """An IB order the simulated gateway cannot accept (its ``code`` is the IB error to send)."""

    template = "order rejected by the simulated gateway: {message}"


def build_intent(
    req: PlaceOrderRequest,
    legs: Sequence[tuple[Contract, int]],
    ref: str,
    now: datetime,
    quantity: float | None = None,
) -> OrderIntent:
    """The order intent for IB order ``req`` over resolved ``legs`` (leg, IB-signed ratio).

    ``legs`` ratios carry the comboLeg action (negative = SELL leg); the order
    action flips them all for a SELL. ``quantity`` overrides the request's
    (the remainder of a modified order).
    """
    sign = MAP_ACTION_SIGN.get(req.action.upper())
    if sign is None:
        raise GatewayOrderError(f"unknown action {req.action!r}", code=321)
    order_type = MAP_ORDER_TYPE.get(req.order_type.upper())
    if order_type is None:
        raise GatewayOrderError(f"order type {req.order_type!r} is not simulated", code=387)
    tif = MAP_TIF.get(req.tif.upper())
    if tif is None:
        raise GatewayOrderError(f"time in force {req.tif!r} is not simulated", code=321)
    qty = req.quantity if quantity is None else quantity
    if not math.isfinite(qty) or qty <= 0 or qty != int(qty):
        raise GatewayOrderError(f"quantity must be a positive whole number, got {qty:g}", code=321)
    limit: float | None = None
    if order_type is OrderType.LIMIT:
        if req.limit_price is None:
            raise GatewayOrderError("a limit order needs a limit price", code=321)
        if not math.isfinite(req.limit_price):
            raise GatewayOrderError(f"invalid limit price {req.limit_price}", code=321)
        if req.limit_price <= 0 and req.contract.sec_type.upper() != "BAG":
            # Only a combo's net price may be zero or negative (a credit).
            raise GatewayOrderError(
                f"the limit price must be positive, got {req.limit_price:g}", code=201
            )
        limit = req.limit_price * sign
    parsed = parse_order_ref(req.order_ref)
    strategy_id = parsed.strategy_id if parsed else f"ib-{req.order_id}"
    purpose = parsed.purpose if parsed else OrderPurpose.OPEN
    return OrderIntent(
        order_ref=ref,
        strategy_id=strategy_id,
        purpose=purpose,
        legs=tuple(Leg(c, ratio * sign) for c, ratio in legs),
        quantity=int(qty),
        limit_price=limit,
        created_at=now,
        order_type=order_type,
        tif=tif,
        tags={"ib_order_ref": req.order_ref} if req.order_ref else {},
    )


@dataclass(slots=True)
class GatewayOrder:
    """One IB order as the gateway tracks it, across modifications (cancel + replace in the sim)."""

    ref: str  # SimBroker order_ref of the live incarnation
    client_id: int
    order_id: int
    request: PlaceOrderRequest
    contract: WireContract  # as reported in openOrder / the BAG execution
    legs: dict[int, WireContract]  # con_id -> leg contract as reported in execDetails
    account: str
    perm_id: int = 0
    status: str = "PendingSubmit"
    opened: bool = False  # openOrder sent
    base_filled: float = 0.0  # filled by earlier incarnations (before a modification)
    base_cost: float = 0.0  # their filled x IB avg price
    filled: float = 0.0
    avg_fill_price: float = 0.0
    last_fill_price: float = 0.0
    leg_cum: dict[int, float] = field(default_factory=dict)
    leg_cost: dict[int, float] = field(default_factory=dict)
    chunk: list[Fill] = field(default_factory=list)  # leg fills since the last status
    retired: set[str] = field(default_factory=set)  # refs of replaced incarnations
    exec_seq: int = 0
    completed_at: datetime | None = None  # market time it reached a final status
    completed_reason: str = ""  # why it ended, when not filled or cancelled by the trader
    echo_ref: bool = True  # False: report an empty orderRef (a fault some servers show)

    @property
    def echoed_ref(self) -> str:
        """The orderRef the gateway reports for this order."""
        return self.request.order_ref if self.echo_ref else ""

    @property
    def sign(self) -> int:
        return MAP_ACTION_SIGN.get(self.request.action.upper(), 1)

    @property
    def is_combo(self) -> bool:
        return self.contract.sec_type == "BAG"

    @property
    def remaining(self) -> float:
        return max(self.request.quantity - self.filled, 0.0)

    def wire_order(self) -> WireOrder:
        r = self.request
        return WireOrder(
            order_id=self.order_id,
            client_id=self.client_id,
            perm_id=self.perm_id,
            action=r.action.upper(),
            quantity=r.quantity,
            order_type=r.order_type.upper(),
            limit_price=r.limit_price,
            tif=r.tif.upper() or "DAY",
            account=self.account,
            order_ref=self.echoed_ref,
            status=self.status,
        )

    def apply_status(self, filled_here: float, avg_net_here: float) -> None:
        """Fold the live incarnation's cumulative fill (domain net price) into the IB totals."""
        ib_avg_here = avg_net_here * self.sign if filled_here > 0 else 0.0
        filled = self.base_filled + filled_here
        cost = self.base_cost + filled_here * ib_avg_here
        self.filled = filled
        self.avg_fill_price = cost / filled if filled > 0 else 0.0

    def retire_incarnation(self) -> None:
        """Freeze the current fills as the base of the next incarnation (a modification)."""
        self.base_filled = self.filled
        self.base_cost = self.filled * self.avg_fill_price
        self.retired.add(self.ref)

    def leg_execution(self, fill: Fill, account: str) -> tuple[WireContract, WireExecution]:
        """execDetails for one leg fill."""
        con_id = fill.contract.con_id or 0
        shares = abs(fill.quantity)
        cum = self.leg_cum.get(con_id, 0.0) + shares
        cost = self.leg_cost.get(con_id, 0.0) + shares * fill.price
        self.leg_cum[con_id] = cum
        self.leg_cost[con_id] = cost
        side = MAP_EXEC_SIDE["BUY" if fill.quantity > 0 else "SELL"]
        contract = self.legs.get(con_id, self.contract)
        return contract, WireExecution(
            order_id=self.order_id,
            exec_id=fill.exec_id,
            time=ib_time(fill.ts),
            account=account,
            exchange=contract.exchange or "SMART",
            side=side,
            shares=shares,
            price=fill.price,
            perm_id=self.perm_id,
            client_id=self.client_id,
            cum_qty=cum,
            avg_price=cost / cum if cum else 0.0,
            order_ref=self.echoed_ref,
        )

    def combo_execution(self, units: float, ts: datetime, account: str) -> WireExecution:
        """The BAG-level execDetails IB sends next to the leg executions of a combo chunk."""
        self.exec_seq += 1
        chunk_cost = sum(f.quantity * f.price for f in self.chunk)
        ib_price = chunk_cost / units * self.sign if units else 0.0
        return WireExecution(
            order_id=self.order_id,
            exec_id=f"bag.{self.perm_id}.{self.exec_seq:03d}",
            time=ib_time(ts),
            account=account,
            exchange="SMART",
            side=MAP_EXEC_SIDE[self.request.action.upper()],
            shares=units,
            price=round(ib_price, 6),
            perm_id=self.perm_id,
            client_id=self.client_id,
            cum_qty=self.filled,
            avg_price=round(self.avg_fill_price, 6),
            order_ref=self.echoed_ref,
        )
