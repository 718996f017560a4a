"""IB's side of the translation: error codes, lookup tables, structural views of ib_async objects, contracts.

Pure (no network, no ib_async import): ib_async objects come in through the
``Ib*`` protocols. ``ib_mapping`` re-exports everything here.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Protocol

from tradelib.domain import (
    Contract,
    OrderStatus,
    OrderType,
    Right,
    SecType,
    TimeInForce,
)
from tradelib.errors import ContractError

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
