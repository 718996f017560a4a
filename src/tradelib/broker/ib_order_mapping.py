"""Orders between tradelib and IB: the order plan sent, and order states and fills read back.

Pure (see ``ib_mapping`` for the price convention); ``ib_mapping`` re-exports everything here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import reduce
from typing import Any

from tradelib.broker.ib_wire import (
    CODE_ORDER_CANCELLED,
    MAP_EXEC_SIGN,
    MAP_ORDER_STATUS,
    MAP_ORDER_TYPE,
    MAP_TIF,
    UNSET_PRICE,
    IbFill,
    IbOrder,
    IbOrderStatus,
    domain_contract,
)
from tradelib.domain import (
    Fill,
    OrderIntent,
    OrderState,
    OrderStatus,
    OrderType,
)
from tradelib.errors import ContractError
from tradelib.pricing import TickRule, passive_direction, round_to_tick


# --- orders -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ComboLegPlan:
    """One BAG leg as IB wants it: a con_id, a positive ratio and an action."""

    con_id: int
    ratio: int
    action: str


@dataclass(frozen=True, slots=True)
class OrderPlan:
    """An order intent in IB's terms, plus the factors that map IB fills back.

    domain net price = IB price x ``price_factor``; domain units = IB quantity /
    ``qty_factor``.
    """

    action: str
    quantity: int
    order_type: str
    limit_price: float | None
    tif: str
    order_ref: str
    combo_legs: tuple[ComboLegPlan, ...]
    price_factor: float
    qty_factor: int

    @property
    def is_combo(self) -> bool:
        return bool(self.combo_legs)

    def order_fields(self, account: str = "") -> dict[str, Any]:
        """Keyword arguments for ``ib_async.Order``."""
        fields: dict[str, Any] = {
            "action": self.action,
            "totalQuantity": float(self.quantity),
            "orderType": self.order_type,
            "tif": self.tif,
            "orderRef": self.order_ref,
            "transmit": True,
        }
        if self.limit_price is not None:
            fields["lmtPrice"] = self.limit_price
        if account:
            fields["account"] = account
        return fields


def plan_order(intent: OrderIntent, rule: TickRule) -> OrderPlan:
    """Translate ``intent`` (legs resolved) into IB terms; the limit is put on ``rule``'s grid.

    Rounding goes the passive way (a buyer never pays more, a seller never gets
    less than the intent asks), so the gateway or IB never answers error 110.
    """
    for leg in intent.legs:
        if not leg.contract.con_id:
            raise ContractError(f"{intent.order_ref}: leg {leg.contract.key} is not resolved")
    limit = intent.limit_price if intent.order_type is OrderType.LIMIT else None
    common = {
        "order_type": MAP_ORDER_TYPE[intent.order_type],
        "tif": MAP_TIF[intent.tif],
        "order_ref": intent.order_ref,
    }
    if not intent.is_combo:
        ratio = intent.legs[0].ratio
        action = "BUY" if ratio > 0 else "SELL"
        price = None if limit is None else _on_grid(limit / ratio, rule, action)
        return OrderPlan(
            action=action,
            quantity=intent.quantity * abs(ratio),
            limit_price=price,
            combo_legs=(),
            price_factor=float(ratio),
            qty_factor=abs(ratio),
            **common,
        )
    g = reduce(math.gcd, (abs(leg.ratio) for leg in intent.legs))
    legs = tuple(
        ComboLegPlan(
            int(leg.contract.con_id or 0), abs(leg.ratio) // g, "BUY" if leg.ratio > 0 else "SELL"
        )
        for leg in intent.legs
    )
    price = None if limit is None else _on_grid(limit / g, rule, "BUY")
    return OrderPlan(
        action="BUY",
        quantity=intent.quantity * g,
        limit_price=price,
        combo_legs=legs,
        price_factor=float(g),
        qty_factor=g,
        **common,
    )


def _on_grid(price: float, rule: TickRule, action: str) -> float:
    direction = passive_direction("BUY") if action == "BUY" else passive_direction("SELL")
    return float(round_to_tick(price, rule, direction))


def ib_price(value: float | Decimal | None) -> float | None:
    """An IB price field as a float; None for IB's "unset" (max double) or a missing value."""
    if value is None:
        return None
    price = float(value)
    return price if math.isfinite(price) and abs(price) < UNSET_PRICE else None


def plan_of_ib_order(order: IbOrder, is_combo: bool) -> OrderPlan:
    """Recover mapping factors for an order we did not place in this process (after a restart).

    Ratios are unknown then: one contract per unit for single legs, one combo per unit for BAGs.
    """
    sign = MAP_EXEC_SIGN.get(order.action.upper(), 1)
    limit = ib_price(order.lmtPrice)
    return OrderPlan(
        action=order.action.upper(),
        quantity=int(order.totalQuantity),
        order_type="MKT" if limit is None else "LMT",
        limit_price=limit,
        tif="DAY",
        order_ref=order.orderRef,
        combo_legs=(ComboLegPlan(0, 1, "BUY"),) if is_combo else (),
        price_factor=float(sign),
        qty_factor=1,
    )


@dataclass(frozen=True, slots=True)
class OrderErrorInfo:
    """The last IB error seen for an order (code and IB's own text)."""

    code: int
    message: str


def order_state(
    plan: OrderPlan,
    status: IbOrderStatus,
    order: IbOrder,
    *,
    updated_at: datetime | None,
    error: OrderErrorInfo | None = None,
    reason: str = "",
) -> OrderState:
    """The domain state of an IB order; an error after a Cancelled status makes it REJECTED.

    ``reason`` (e.g. "cancelled by request") is used when IB gave no error text.
    """
    mapped = MAP_ORDER_STATUS.get(status.status, OrderStatus.PENDING)
    filled = float(status.filled) / plan.qty_factor
    if mapped is OrderStatus.SUBMITTED and filled > 0:
        mapped = OrderStatus.PARTIALLY_FILLED
    code: int | None = None
    text = reason
    if error is not None and mapped in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
        code, text = error.code, error.message
        if error.code != CODE_ORDER_CANCELLED:
            mapped = OrderStatus.REJECTED
    avg = float(status.avgFillPrice) * plan.price_factor if filled > 0 else math.nan
    limit = None if plan.limit_price is None else plan.limit_price * plan.price_factor
    return OrderState(
        order_ref=plan.order_ref,
        status=mapped,
        quantity=round(plan.quantity / plan.qty_factor),
        filled_quantity=filled,
        avg_fill_price=avg,
        limit_price=limit,
        broker_order_id=int(order.orderId) or None,
        perm_id=int(order.permId) or None,
        updated_at=updated_at,
        reason=text,
        error_code=code,
    )


def state_from_fills(plan: OrderPlan, fills: Sequence[IbFill], updated_at: datetime) -> OrderState:
    """The state of an order known only by its executions (after a reconnect or restart)."""
    bag = [f for f in fills if f.contract.secType.upper() == "BAG"]
    rows = bag if plan.is_combo and bag else [f for f in fills if f.contract.secType != "BAG"]
    shares = sum(float(f.execution.shares) for f in rows)
    cost = sum(float(f.execution.shares) * float(f.execution.price) for f in rows)
    ib_avg = cost / shares if shares else 0.0
    filled = shares / plan.qty_factor
    total = max(plan.quantity / plan.qty_factor, filled)
    done = filled >= total - 1e-9
    return OrderState(
        order_ref=plan.order_ref,
        status=OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED,
        quantity=round(total),
        filled_quantity=filled,
        avg_fill_price=ib_avg * plan.price_factor if shares else math.nan,
        limit_price=None if plan.limit_price is None else plan.limit_price * plan.price_factor,
        updated_at=updated_at,
    )


def domain_fill(fill: IbFill) -> Fill:
    """One leg execution: quantity signed by side, IB's commission (0 until reported)."""
    ex = fill.execution
    sign = MAP_EXEC_SIGN.get(ex.side.upper(), 1)
    report = fill.commissionReport
    commission = float(report.commission) if report.execId == ex.execId else 0.0
    return Fill(
        exec_id=ex.execId,
        order_ref=ex.orderRef or "",
        contract=domain_contract(fill.contract),
        quantity=sign * float(ex.shares),
        price=float(ex.price),
        ts=ex.time.astimezone(UTC) if ex.time.tzinfo else ex.time.replace(tzinfo=UTC),
        commission=commission,
    )


def has_commission(fill: IbFill) -> bool:
    """True once IB's commission report for this execution has arrived."""
    return fill.commissionReport.execId == fill.execution.execId
