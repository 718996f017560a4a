"""Pure translation between ib_async objects and tradelib's broker-neutral domain types.

Nothing here touches the network or imports ib_async: ib_async objects come in
through the structural ``Ib*`` protocols below (camelCase stays inside this
module and ``tradelib.broker.ib``), and what IBBroker must send goes out as
plain keyword dicts (``contract_fields``) or an ``OrderPlan``.

Order price convention (see ``tradelib.domain.orders``): the domain signs leg
ratios by execution and quotes one signed net price per strategy unit. IB
prices a single leg as a positive price with a BUY/SELL action, and a BAG as a
net price per combo unit (negative = credit) for a BUY. So a single leg of
ratio ``r`` goes out as ``|r| x quantity`` contracts at ``limit / r``, and a
combo always as a BUY of ``g x quantity`` units at ``limit / g`` with leg
ratios divided by their greatest common divisor ``g``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import reduce
from typing import Any, Protocol

import numpy as np

from tradelib.domain import (
    NEW_YORK,
    AccountSnapshot,
    Contract,
    Fill,
    OptionGreeks,
    OrderIntent,
    OrderState,
    OrderStatus,
    OrderType,
    Position,
    Quote,
    Right,
    SecType,
    TimeInForce,
)
from tradelib.domain.market import Dividend
from tradelib.errors import ContractError
from tradelib.pricing import TickRule, iv_and_greeks, passive_direction, round_to_tick

# --- IB codes -------------------------------------------------------------------------------
CODE_ORDER_REJECTED = 201
CODE_ORDER_CANCELLED = 202
CODE_CLIENT_ID_IN_USE = 326
CODE_CONNECTIVITY_LOST = 1100
CODE_RESTORED_DATA_LOST = 1101
CODE_RESTORED_DATA_KEPT = 1102
CODE_HISTORICAL_DATA = 162
CODE_NO_SECURITY = 200
CODE_TOO_MANY_TICKERS = 101
CODE_BAD_TICK = 110
# Generic tick lists: option open interest (ticks 27/28), IB dividends (tick 59).
GENERIC_OPEN_INTEREST = "101"
GENERIC_DIVIDENDS = "456"
# System messages and data-farm notices (2100-2199) say nothing about a request.
SYSTEM_CODES = frozenset({CODE_CONNECTIVITY_LOST, CODE_RESTORED_DATA_LOST, CODE_RESTORED_DATA_KEPT})


# IB's market data types (reqMarketDataType / marketDataType) by number.
MAP_MARKET_DATA_TYPE: dict[int, str] = {
    1: "realtime",
    2: "frozen",
    3: "delayed",
    4: "delayed_frozen",
}
# IB market-data types whose prices are delayed (after 10167, or reqMarketDataType 3/4).
DELAYED_DATA_TYPES = frozenset({3, 4})


def is_warning(code: int) -> bool:
    """True for IB codes that report, rather than fail, a request (21xx farm notices...)."""
    return 2100 <= code < 2200 or code in (2000, 10167, 10197)


# --- tables -----------------------------------------------------------------------------------
MAP_SEC_TYPE: dict[str, SecType] = {
    "STK": SecType.STOCK,
    "IND": SecType.INDEX,
    "FUT": SecType.FUTURE,
    "OPT": SecType.OPTION,
    "BAG": SecType.COMBO,
}
MAP_RIGHT: dict[str, Right] = {
    "C": Right.CALL,
    "CALL": Right.CALL,
    "P": Right.PUT,
    "PUT": Right.PUT,
}
MAP_ORDER_STATUS: dict[str, OrderStatus] = {
    "PendingSubmit": OrderStatus.PENDING,
    "ApiPending": OrderStatus.PENDING,
    "PreSubmitted": OrderStatus.SUBMITTED,
    "Submitted": OrderStatus.SUBMITTED,
    "PendingCancel": OrderStatus.SUBMITTED,  # still live until IB confirms
    "ApiUpdate": OrderStatus.SUBMITTED,
    "ValidationError": OrderStatus.SUBMITTED,  # ib_async's mark for a warning: still live
    "Filled": OrderStatus.FILLED,
    "Cancelled": OrderStatus.CANCELLED,
    "ApiCancelled": OrderStatus.CANCELLED,
    "Inactive": OrderStatus.REJECTED,
}
MAP_ORDER_TYPE: dict[OrderType, str] = {OrderType.LIMIT: "LMT", OrderType.MARKET: "MKT"}
MAP_TIF: dict[TimeInForce, str] = {TimeInForce.DAY: "DAY", TimeInForce.GTC: "GTC"}
MAP_EXEC_SIGN: dict[str, int] = {"BOT": 1, "BUY": 1, "SLD": -1, "SELL": -1}
# IB's historical bar sizes by length in seconds.
BAR_SIZES: dict[int, str] = {
    1: "1 secs",
    5: "5 secs",
    10: "10 secs",
    15: "15 secs",
    30: "30 secs",
    60: "1 min",
    120: "2 mins",
    180: "3 mins",
    300: "5 mins",
    600: "10 mins",
    900: "15 mins",
    1200: "20 mins",
    1800: "30 mins",
    3600: "1 hour",
    7200: "2 hours",
    10800: "3 hours",
    14400: "4 hours",
    28800: "8 hours",
    86400: "1 day",
}
# Account summary tags IBBroker asks for (a real TWS answers one row per tag).
SUMMARY_TAGS: tuple[str, ...] = (
    "AccountType",
    "NetLiquidation",
    "TotalCashValue",
    "BuyingPower",
    "ExcessLiquidity",
    "FullInitMarginReq",
    "FullMaintMarginReq",
    "PreviousDayEquityWithLoanValue",
    "UnrealizedPnL",
    "RealizedPnL",
)
# The summary tags an account snapshot cannot do without, and the field each one fills.
REQUIRED_ACCOUNT_TAGS: dict[str, str] = {
    "NetLiquidation": "net liquidation",
    "TotalCashValue": "cash",
    "BuyingPower": "buying power",
    "ExcessLiquidity": "excess liquidity",
    "FullInitMarginReq": "initial margin",
    "FullMaintMarginReq": "maintenance margin",
}
_SESSION_CLOSE = time(16, 0)
# ib_async fills unset numeric fields with the largest double.
UNSET_PRICE = 1e300
_YEAR_S = 365.0 * 86400.0


# --- structural views of ib_async objects ---------------------------------------------------
class IbContract(Protocol):
    @property
    def conId(self) -> int: ...
    @property
    def symbol(self) -> str: ...
    @property
    def secType(self) -> str: ...
    @property
    def lastTradeDateOrContractMonth(self) -> str: ...
    @property
    def strike(self) -> float: ...
    @property
    def right(self) -> str: ...
    @property
    def multiplier(self) -> str: ...
    @property
    def exchange(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def localSymbol(self) -> str: ...
    @property
    def tradingClass(self) -> str: ...


class IbExecution(Protocol):
    @property
    def execId(self) -> str: ...
    @property
    def time(self) -> datetime: ...
    @property
    def side(self) -> str: ...
    @property
    def shares(self) -> float: ...
    @property
    def price(self) -> float: ...
    @property
    def orderRef(self) -> str: ...


class IbCommissionReport(Protocol):
    @property
    def execId(self) -> str: ...
    @property
    def commission(self) -> float: ...


class IbFill(Protocol):
    @property
    def contract(self) -> IbContract: ...
    @property
    def execution(self) -> IbExecution: ...
    @property
    def commissionReport(self) -> IbCommissionReport: ...


class IbOrderStatus(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def filled(self) -> float: ...
    @property
    def avgFillPrice(self) -> float: ...


class IbOrder(Protocol):
    @property
    def orderId(self) -> int: ...
    @property
    def permId(self) -> int: ...
    @property
    def action(self) -> str: ...
    @property
    def totalQuantity(self) -> float: ...
    @property
    def lmtPrice(self) -> float | Decimal | None: ...
    @property
    def orderRef(self) -> str: ...


class IbPosition(Protocol):
    @property
    def contract(self) -> IbContract: ...
    @property
    def position(self) -> float: ...
    @property
    def avgCost(self) -> float: ...


class IbPortfolioItem(Protocol):
    @property
    def marketPrice(self) -> float: ...
    @property
    def marketValue(self) -> float: ...
    @property
    def unrealizedPNL(self) -> float: ...
    @property
    def realizedPNL(self) -> float: ...


class IbOptionComputation(Protocol):
    @property
    def impliedVol(self) -> float | None: ...
    @property
    def delta(self) -> float | None: ...
    @property
    def gamma(self) -> float | None: ...
    @property
    def vega(self) -> float | None: ...
    @property
    def theta(self) -> float | None: ...
    @property
    def undPrice(self) -> float | None: ...


class IbTicker(Protocol):
    @property
    def bid(self) -> float: ...
    @property
    def ask(self) -> float: ...
    @property
    def last(self) -> float: ...
    @property
    def close(self) -> float: ...
    @property
    def bidSize(self) -> float: ...
    @property
    def askSize(self) -> float: ...
    @property
    def modelGreeks(self) -> IbOptionComputation | None: ...
    @property
    def callOpenInterest(self) -> float: ...
    @property
    def putOpenInterest(self) -> float: ...
    @property
    def marketDataType(self) -> int: ...


# --- contracts --------------------------------------------------------------------------------
def ib_date(day: date) -> str:
    """``2026-12-18`` -> ``"20261218"``."""
    return f"{day:%Y%m%d}"


def parse_ib_date(text: str) -> date | None:
    """``"20261218"`` (or a ``"202612"`` month, taken as its first day) -> a date; None if empty."""
    digits = text.strip().split(" ")[0]
    if not digits:
        return None
    if len(digits) == 6:
        digits += "01"
    try:
        return datetime.strptime(digits[:8], "%Y%m%d").date()
    except ValueError:
        raise ContractError(f"unreadable IB date {text!r}") from None


def _multiplier_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def contract_fields(c: Contract) -> dict[str, Any]:
    """Keyword arguments for ``ib_async.Contract`` describing ``c`` (for qualification)."""
    fields: dict[str, Any] = {
        "secType": c.sec_type.value,
        "symbol": c.symbol,
        "exchange": c.exchange or "SMART",
        "currency": c.currency or "USD",
    }
    if c.con_id:
        fields["conId"] = int(c.con_id)
    if c.sec_type is SecType.OPTION:
        assert c.expiry is not None and c.right is not None and c.strike is not None
        fields |= {
            "lastTradeDateOrContractMonth": ib_date(c.expiry),
            "strike": float(c.strike),
            "right": c.right.value,
            "multiplier": _multiplier_text(c.multiplier),
            "tradingClass": c.trading_class or c.symbol,
        }
    elif c.sec_type is SecType.FUTURE:
        assert c.expiry is not None
        fields |= {
            "lastTradeDateOrContractMonth": ib_date(c.expiry),
            "multiplier": _multiplier_text(c.multiplier),
        }
        if c.local_symbol:
            fields["localSymbol"] = c.local_symbol
    elif c.sec_type is SecType.COMBO:
        raise ContractError(f"{c.symbol}: a combo is built from its legs, not resolved")
    return fields


def domain_contract(c: IbContract) -> Contract:
    """The broker-neutral contract of an IB contract (con_id kept)."""
    sec_type = MAP_SEC_TYPE.get(c.secType.upper())
    if sec_type is None:
        raise ContractError(f"{c.symbol}: security type {c.secType!r} is not supported")
    con_id = int(c.conId) or None
    multiplier = float(c.multiplier) if c.multiplier else 0.0
    if sec_type is SecType.OPTION:
        expiry = parse_ib_date(c.lastTradeDateOrContractMonth)
        right = MAP_RIGHT.get(c.right.upper())
        if expiry is None or right is None:
            raise ContractError(f"option {c.localSymbol or c.symbol} without expiry or right")
        return Contract.option(
            c.symbol,
            expiry,
            float(c.strike),
            right,
            multiplier=multiplier or 100.0,
            exchange=c.exchange or "SMART",
            trading_class=c.tradingClass or c.symbol,
            con_id=con_id,
        )
    if sec_type is SecType.FUTURE:
        expiry = parse_ib_date(c.lastTradeDateOrContractMonth)
        if expiry is None:
            raise ContractError(f"future {c.localSymbol or c.symbol} without expiry")
        return Contract.future(
            c.symbol,
            expiry,
            multiplier or 1.0,
            local_symbol=c.localSymbol,
            exchange=c.exchange or "CME",
            con_id=con_id,
        )
    if sec_type is SecType.INDEX:
        return Contract(
            SecType.INDEX, c.symbol, c.exchange or "CBOE", c.currency or "USD", con_id=con_id
        )
    return Contract(
        sec_type,
        c.symbol,
        "SMART",
        c.currency or "USD",
        local_symbol=c.localSymbol if sec_type is not SecType.STOCK else "",
        con_id=con_id,
    )


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


# --- account and positions -----------------------------------------------------------------------
def _num(value: str | None) -> float:
    try:
        return float(value) if value not in (None, "") else math.nan
    except ValueError:
        return math.nan


def missing_account_fields(values: Mapping[str, str]) -> list[str]:
    """The snapshot fields ``values`` cannot fill, as "field (IBTag)" (empty when complete)."""
    return [
        f"{name} ({tag})"
        for tag, name in REQUIRED_ACCOUNT_TAGS.items()
        if not math.isfinite(_num(values.get(tag)))
    ]


def account_snapshot(
    values: Mapping[str, str], ts: datetime, masked_account: str
) -> AccountSnapshot:
    """An account snapshot from account-summary ``values`` (tag -> text, base currency)."""
    nl = _num(values.get("NetLiquidation"))
    prev = _num(values.get("PreviousDayEquityWithLoanValue"))
    return AccountSnapshot(
        ts=ts,
        account=masked_account,
        net_liquidation=nl,
        cash=_num(values.get("TotalCashValue")),
        buying_power=_num(values.get("BuyingPower")),
        excess_liquidity=_num(values.get("ExcessLiquidity")),
        init_margin=_num(values.get("FullInitMarginReq")),
        maint_margin=_num(values.get("FullMaintMarginReq")),
        unrealized_pnl=_zero_if_nan(_num(values.get("UnrealizedPnL"))),
        realized_pnl=_zero_if_nan(_num(values.get("RealizedPnL"))),
        day_pnl=_zero_if_nan(nl - prev),
    )


def _zero_if_nan(x: float) -> float:
    return x if math.isfinite(x) else 0.0


def domain_position(pos: IbPosition, item: IbPortfolioItem | None) -> Position:
    """A position, with market value and P&L from the matching portfolio item when there is one."""
    kwargs: dict[str, float] = {}
    if item is not None:
        kwargs = {
            "market_price": float(item.marketPrice),
            "market_value": float(item.marketValue),
            "unrealized_pnl": float(item.unrealizedPNL),
            "realized_pnl": _zero_if_nan(float(item.realizedPNL)),
        }
    return Position(
        domain_contract(pos.contract), float(pos.position), float(pos.avgCost), **kwargs
    )


# --- market data -----------------------------------------------------------------------------------
def _value(x: float | None) -> float:
    if x is None:
        return math.nan
    v = float(x)
    # IB's "no data" is -1 on prices and sizes; NaN says the same in the domain.
    return math.nan if v == -1.0 else v


def broker_greeks(comp: IbOptionComputation | None) -> OptionGreeks | None:
    """Greeks from IB's model option computation, or None if any value is missing."""
    if comp is None:
        return None
    values = [_value(v) for v in (comp.delta, comp.gamma, comp.theta, comp.vega, comp.impliedVol)]
    if not all(math.isfinite(v) for v in values):
        return None
    delta, gamma, theta, vega, iv = values
    return OptionGreeks(delta, gamma, theta, vega, iv, source="broker")


def domain_quote(contract: Contract, ticker: IbTicker, ts: datetime) -> Quote:
    """A quote from a ticker; options keep IB's greeks (None when IB sent none).

    A ticker IB marked delayed (market-data type 3 or 4) gives a ``delayed`` quote.
    """
    greeks = broker_greeks(ticker.modelGreeks) if contract.is_option else None
    und = math.nan
    if contract.is_option and ticker.modelGreeks is not None:
        und = _value(ticker.modelGreeks.undPrice)
    oi = math.nan
    if contract.is_option:
        oi = _value(
            ticker.callOpenInterest if contract.right is Right.CALL else ticker.putOpenInterest
        )
    last = _value(ticker.last)
    if not math.isfinite(last) and contract.sec_type is SecType.INDEX:
        last = _value(ticker.close)
    return Quote(
        contract=contract,
        ts=ts,
        bid=_value(ticker.bid),
        ask=_value(ticker.ask),
        last=last,
        bid_size=_value(ticker.bidSize),
        ask_size=_value(ticker.askSize),
        greeks=greeks,
        underlying_price=und,
        open_interest=oi,
        delayed=int(ticker.marketDataType or 1) in DELAYED_DATA_TYPES,
    )


class IbDividends(Protocol):
    @property
    def nextDate(self) -> date | None: ...
    @property
    def nextAmount(self) -> float | None: ...


def domain_dividend(symbol: str, dividends: IbDividends | None) -> Dividend | None:
    """The next dividend from IB's dividend tick (None when IB gave no date or amount)."""
    if dividends is None or dividends.nextDate is None or dividends.nextAmount is None:
        return None
    day = dividends.nextDate
    if isinstance(day, datetime):
        day = day.date()
    amount = float(dividends.nextAmount)
    if not math.isfinite(amount) or amount <= 0:
        return None
    return Dividend(symbol, day, amount)


def expiry_close(expiry: date) -> datetime:
    """16:00 New York on ``expiry`` (UTC): when an equity option stops trading."""
    return datetime.combine(expiry, _SESSION_CLOSE, tzinfo=NEW_YORK).astimezone(UTC)


def with_model_greeks(
    quotes: Sequence[Quote],
    spots: Mapping[str, float],
    now: datetime,
    *,
    rate: float,
    div_yield: float,
) -> list[Quote]:
    """Fill in greeks (source "model") for options IB sent none for, from their mid and spot.

    ``spots`` maps underlying symbol -> price. Quotes that already carry greeks,
    or lack a usable mid or spot, are returned unchanged (an unpriceable option
    keeps ``greeks=None`` rather than a made-up number).
    """
    todo = [
        i
        for i, q in enumerate(quotes)
        if q.contract.is_option
        and q.greeks is None
        and math.isfinite(q.mid)
        and q.mid > 0
        and math.isfinite(spots.get(q.contract.symbol, math.nan))
    ]
    if not todo:
        return list(quotes)
    picked = [quotes[i] for i in todo]
    price = np.array([q.mid for q in picked])
    spot = np.array([spots[q.contract.symbol] for q in picked])
    strike = np.array([float(q.contract.strike or 0.0) for q in picked])
    years = np.array(
        [
            max((expiry_close(q.contract.expiry) - now).total_seconds(), 0.0) / _YEAR_S
            if q.contract.expiry
            else 0.0
            for q in picked
        ]
    )
    is_call = np.array([q.contract.right is Right.CALL for q in picked])
    result, g = iv_and_greeks(price, spot, strike, years, rate, div_yield, is_call)
    out = list(quotes)
    for j, i in enumerate(todo):
        if not bool(result.ok[j]):
            continue
        greeks = OptionGreeks(
            float(g.delta[j]),
            float(g.gamma[j]),
            float(g.theta[j]),
            float(g.vega[j]),
            float(result.iv[j]),
            source="model",
        )
        q = quotes[i]
        und = q.underlying_price if math.isfinite(q.underlying_price) else float(spot[j])
        out[i] = _replace_quote(q, greeks, und)
    return out


def _replace_quote(q: Quote, greeks: OptionGreeks, und: float) -> Quote:
    return Quote(
        contract=q.contract,
        ts=q.ts,
        bid=q.bid,
        ask=q.ask,
        last=q.last,
        bid_size=q.bid_size,
        ask_size=q.ask_size,
        greeks=greeks,
        underlying_price=und,
        open_interest=q.open_interest,
    )


# --- historical data -----------------------------------------------------------------------------------
def bar_size_setting(bar_seconds: int) -> str:
    """IB's bar size text for ``bar_seconds``; ValueError for a size IB does not offer."""
    try:
        return BAR_SIZES[bar_seconds]
    except KeyError:
        raise ValueError(
            f"IB offers no {bar_seconds}-second bars; use one of {sorted(BAR_SIZES)}"
        ) from None


def duration_text(seconds: float) -> str:
    """IB's duration text covering ``seconds`` ("S" up to a day, else whole days)."""
    secs = max(math.ceil(seconds), 1)
    if secs <= 86400:
        return f"{secs} S"
    return f"{math.ceil(secs / 86400)} D"


def ib_datetime(ts: datetime) -> str:
    """UTC end time as IB takes it: ``"20261124-15:00:00"``."""
    return f"{ts.astimezone(UTC):%Y%m%d-%H:%M:%S}"


def bar_start(value: datetime | date, day_start: Callable[[date], datetime]) -> datetime:
    """A bar's UTC start: intraday bars carry a datetime, daily bars a date (-> ``day_start``)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return day_start(value)


def spot_symbols(quotes: Iterable[Quote]) -> set[str]:
    """Underlyings of options that still need a spot price for model greeks."""
    return {q.contract.symbol for q in quotes if q.contract.is_option and q.greeks is None}


def session_day_start(day: date) -> datetime:
    """09:30 New York on ``day`` (UTC): the stamp of a daily bar."""
    return datetime.combine(day, time(9, 30), tzinfo=NEW_YORK).astimezone(UTC)
