"""Pure translation tables and field layouts of the TWS API socket protocol (server version 178).

Nothing here touches a socket: message ids, tick types, status strings,
error texts, and the functions that turn plain values into the ordered text
fields of one message (and back). The layouts follow what an API client
negotiating server version 178 reads; several messages are unpacked by the
client at a fixed field count, so every builder emits exactly its layout.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import IntEnum
from zoneinfo import ZoneInfo

from tradelib.domain import AccountSnapshot, OrderStatus

SERVER_VERSION = 178
MIN_CLIENT_VERSION = 157  # the oldest version whose layouts match the ones below
# The longest message body the gateway reads (the TWS API's own cap, 0xFFFFFF bytes).
MAX_MESSAGE_BYTES = 0xFFFFFF
# The longest handshake version text ("v157..178" plus connect options).
MAX_HANDSHAKE_BYTES = 1024

Field = str | int | float | bool | None


class In(IntEnum):
    """Ids of the messages a client sends."""

    REQ_MKT_DATA = 1
    CANCEL_MKT_DATA = 2
    PLACE_ORDER = 3
    CANCEL_ORDER = 4
    REQ_OPEN_ORDERS = 5
    REQ_ACCT_DATA = 6
    REQ_EXECUTIONS = 7
    REQ_IDS = 8
    REQ_CONTRACT_DATA = 9
    REQ_AUTO_OPEN_ORDERS = 15
    REQ_ALL_OPEN_ORDERS = 16
    REQ_MANAGED_ACCTS = 17
    REQ_HISTORICAL_DATA = 20
    CANCEL_HISTORICAL_DATA = 25
    REQ_CURRENT_TIME = 49
    REQ_GLOBAL_CANCEL = 58
    REQ_MARKET_DATA_TYPE = 59
    REQ_POSITIONS = 61
    REQ_ACCOUNT_SUMMARY = 62
    CANCEL_ACCOUNT_SUMMARY = 63
    CANCEL_POSITIONS = 64
    START_API = 71
    REQ_ACCOUNT_UPDATES_MULTI = 76
    CANCEL_ACCOUNT_UPDATES_MULTI = 77
    REQ_SEC_DEF_OPT_PARAMS = 78
    REQ_COMPLETED_ORDERS = 99


class Out(IntEnum):
    """Ids of the messages the server sends."""

    TICK_PRICE = 1
    TICK_SIZE = 2
    ORDER_STATUS = 3
    ERR_MSG = 4
    OPEN_ORDER = 5
    ACCT_VALUE = 6
    PORTFOLIO_VALUE = 7
    ACCT_UPDATE_TIME = 8
    NEXT_VALID_ID = 9
    CONTRACT_DATA = 10
    EXECUTION_DATA = 11
    MANAGED_ACCTS = 15
    HISTORICAL_DATA = 17
    TICK_OPTION_COMPUTATION = 21
    TICK_GENERIC = 45
    TICK_STRING = 46
    CURRENT_TIME = 49
    CONTRACT_DATA_END = 52
    OPEN_ORDER_END = 53
    ACCT_DOWNLOAD_END = 54
    EXECUTION_DATA_END = 55
    TICK_SNAPSHOT_END = 57
    MARKET_DATA_TYPE = 58
    COMMISSION_REPORT = 59
    POSITION_DATA = 61
    POSITION_END = 62
    ACCOUNT_SUMMARY = 63
    ACCOUNT_SUMMARY_END = 64
    ACCOUNT_UPDATE_MULTI = 73
    ACCOUNT_UPDATE_MULTI_END = 74
    SECURITY_DEFINITION_OPTION_PARAMETER = 75
    SECURITY_DEFINITION_OPTION_PARAMETER_END = 76
    COMPLETED_ORDER = 101
    COMPLETED_ORDERS_END = 102


class TickType(IntEnum):
    """Tick type ids used in tickPrice / tickSize / tickOptionComputation."""

    BID_SIZE = 0
    BID = 1
    ASK = 2
    ASK_SIZE = 3
    LAST = 4
    LAST_SIZE = 5
    HIGH = 6
    LOW = 7
    VOLUME = 8
    CLOSE = 9
    BID_OPTION = 10
    ASK_OPTION = 11
    LAST_OPTION = 12
    MODEL_OPTION = 13
    OPEN = 14
    OPTION_CALL_OPEN_INTEREST = 27
    OPTION_PUT_OPEN_INTEREST = 28
    IB_DIVIDENDS = 59


class MarketDataType(IntEnum):
    REALTIME = 1
    FROZEN = 2
    DELAYED = 3
    DELAYED_FROZEN = 4


GENERIC_OPEN_INTEREST = "101"  # generic tick list entry asking for ticks 27/28
GENERIC_DIVIDENDS = "456"  # generic tick list entry asking for tick 59 (IB dividends)

# Sentinels a client reads as "not computed" in an option computation tick.
UNSET_VOL_OR_PRICE = -1.0
UNSET_GREEK = -2.0

NO_REQ_ID = -1


class ErrorCode(IntEnum):
    """IB error codes the gateway emits."""

    MAX_TICKERS = 101
    DUPLICATE_ORDER_ID = 103
    PRICE_OFF_TICK = 110
    HISTORICAL_DATA_ERROR = 162
    NO_SECURITY_DEFINITION = 200
    ORDER_REJECTED = 201
    ORDER_CANCELLED = 202
    VALIDATION_ERROR = 321
    CLIENT_ID_IN_USE = 326
    NOT_SUBSCRIBED = 354
    NO_ALLOCATION = 436
    DISPLAYING_DELAYED = 10167
    CANNOT_CANCEL_FILLED = 10148
    ORDER_NOT_FOUND = 10147
    CONNECTIVITY_LOST = 1100
    CONNECTIVITY_RESTORED_DATA_LOST = 1101
    CONNECTIVITY_RESTORED_DATA_KEPT = 1102
    MARKET_DATA_FARM_OK = 2104
    HMDS_FARM_OK = 2106
    SEC_DEF_FARM_OK = 2158


ERROR_TEXT: dict[ErrorCode, str] = {
    ErrorCode.MAX_TICKERS: "Max number of tickers has been reached",
    ErrorCode.PRICE_OFF_TICK: (
        "The price does not conform to the minimum price variation for this contract."
    ),
    ErrorCode.DUPLICATE_ORDER_ID: "Duplicate order id",
    ErrorCode.HISTORICAL_DATA_ERROR: "Historical Market Data Service error message:{detail}",
    ErrorCode.NO_SECURITY_DEFINITION: "No security definition has been found for the request",
    ErrorCode.ORDER_REJECTED: "Order rejected - reason:{detail}",
    ErrorCode.ORDER_CANCELLED: "Order Canceled - reason:{detail}",
    ErrorCode.VALIDATION_ERROR: "Error validating request.-'{detail}'",
    ErrorCode.CLIENT_ID_IN_USE: (
        "Unable to connect as the client id is already in use. Retry with a unique client id."
    ),
    ErrorCode.NOT_SUBSCRIBED: "Requested market data is not subscribed.",
    ErrorCode.DISPLAYING_DELAYED: (
        "Requested market data is not subscribed. Displaying delayed market data."
    ),
    ErrorCode.NO_ALLOCATION: (
        "You must specify an allocation (either a single account, group, or profile)."
    ),
    ErrorCode.ORDER_NOT_FOUND: "OrderId {detail} that needs to be cancelled is not found.",
    ErrorCode.CANNOT_CANCEL_FILLED: "OrderId {detail} that needs to be cancelled cannot be cancelled, state: Filled.",
    ErrorCode.CONNECTIVITY_LOST: "Connectivity between IB and Trader Workstation has been lost.",
    ErrorCode.CONNECTIVITY_RESTORED_DATA_LOST: (
        "Connectivity between IB and Trader Workstation has been restored - data lost."
    ),
    ErrorCode.CONNECTIVITY_RESTORED_DATA_KEPT: (
        "Connectivity between IB and Trader Workstation has been restored - data maintained."
    ),
    ErrorCode.MARKET_DATA_FARM_OK: "Market data farm connection is OK:{detail}",
    ErrorCode.HMDS_FARM_OK: "HMDS data farm connection is OK:{detail}",
    ErrorCode.SEC_DEF_FARM_OK: "Sec-def data farm connection is OK:{detail}",
}

# The farm status notices real TWS sends right after a client connects (codes 2100-2199
# are warnings: ib_async logs them at INFO, the official client hands them to error()).
FARM_STATUS_ON_CONNECT: tuple[tuple[ErrorCode, str], ...] = (
    (ErrorCode.MARKET_DATA_FARM_OK, "usfarm"),
    (ErrorCode.MARKET_DATA_FARM_OK, "usopt"),
    (ErrorCode.HMDS_FARM_OK, "ushmds"),
    (ErrorCode.SEC_DEF_FARM_OK, "secdefnj"),
)


# Rejection reasons of the account realities (approximations of IB's wording).
NO_OPTION_PERMISSION_TEXT = (
    "No Trading Permission: your account is not permitted to trade options (OPT). "
    "Request option trading permissions in Client Portal"
)
CASH_ACCOUNT_TEXT = (
    "Your account is a cash account: short option positions that are not covered "
    "(naked puts or calls) need a margin account"
)


def fault_error_text(code: int, detail: str) -> str:
    """The text of an injected error: IB's wording when the gateway knows the code."""
    try:
        known = ErrorCode(code)
    except ValueError:
        return detail
    template = ERROR_TEXT.get(known)
    if template is None:
        return detail
    return template.format(detail=detail) if "{detail}" in template else template


# Domain order status -> IB order status string.
MAP_ORDER_STATUS: dict[OrderStatus, str] = {
    OrderStatus.PENDING: "PreSubmitted",
    OrderStatus.SUBMITTED: "Submitted",
    OrderStatus.PARTIALLY_FILLED: "Submitted",
    OrderStatus.FILLED: "Filled",
    OrderStatus.CANCELLED: "Cancelled",
    OrderStatus.REJECTED: "Inactive",
}

MAP_EXEC_SIDE: dict[str, str] = {"BUY": "BOT", "SELL": "SLD"}

# reqAccountSummary tags the gateway answers, in the order it answers them.
ACCOUNT_SUMMARY_TAGS: tuple[str, ...] = (
    "AccountType",
    "NetLiquidation",
    "TotalCashValue",
    "SettledCash",
    "AccruedCash",
    "BuyingPower",
    "EquityWithLoanValue",
    "PreviousDayEquityWithLoanValue",
    "GrossPositionValue",
    "RegTEquity",
    "RegTMargin",
    "SMA",
    "InitMarginReq",
    "MaintMarginReq",
    "AvailableFunds",
    "ExcessLiquidity",
    "Cushion",
    "FullInitMarginReq",
    "FullMaintMarginReq",
    "FullAvailableFunds",
    "FullExcessLiquidity",
    "LookAheadNextChange",
    "LookAheadInitMarginReq",
    "LookAheadMaintMarginReq",
    "LookAheadAvailableFunds",
    "LookAheadExcessLiquidity",
    "HighestSeverity",
    "DayTradesRemaining",
    "Leverage",
    "UnrealizedPnL",
    "RealizedPnL",
)
_UNITLESS_TAGS = frozenset(
    {
        "AccountType",
        "Cushion",
        "LookAheadNextChange",
        "HighestSeverity",
        "DayTradesRemaining",
        "Leverage",
    }
)


def account_values(
    snap: AccountSnapshot, gross_position_value: float, currency: str = "USD"
) -> list[tuple[str, str, str]]:
    """Every account tag as (tag, value, currency); unitless tags carry an empty currency."""
    nl = snap.net_liquidation
    available = nl - snap.init_margin
    values: dict[str, float | str] = {
        "AccountType": "INDIVIDUAL",
        "NetLiquidation": nl,
        "TotalCashValue": snap.cash,
        "SettledCash": snap.cash,
        "AccruedCash": 0.0,
        "BuyingPower": snap.buying_power,
        "EquityWithLoanValue": nl,
        "PreviousDayEquityWithLoanValue": nl - snap.day_pnl,
        "GrossPositionValue": gross_position_value,
        "RegTEquity": nl,
        "RegTMargin": snap.init_margin,
        "SMA": max(available, 0.0),
        "InitMarginReq": snap.init_margin,
        "MaintMarginReq": snap.maint_margin,
        "AvailableFunds": available,
        "ExcessLiquidity": snap.excess_liquidity,
        "Cushion": snap.excess_liquidity / nl if nl > 0 else 0.0,
        "FullInitMarginReq": snap.init_margin,
        "FullMaintMarginReq": snap.maint_margin,
        "FullAvailableFunds": available,
        "FullExcessLiquidity": snap.excess_liquidity,
        "LookAheadNextChange": 0,
        "LookAheadInitMarginReq": snap.init_margin,
        "LookAheadMaintMarginReq": snap.maint_margin,
        "LookAheadAvailableFunds": available,
        "LookAheadExcessLiquidity": snap.excess_liquidity,
        "HighestSeverity": 0,
        "DayTradesRemaining": -1,
        "Leverage": gross_position_value / nl if nl > 0 else 0.0,
        "UnrealizedPnL": snap.unrealized_pnl,
        "RealizedPnL": snap.realized_pnl,
    }
    rows: list[tuple[str, str, str]] = []
    for tag in ACCOUNT_SUMMARY_TAGS:
        value = values[tag]
        text = value if isinstance(value, str) else _num(value)
        rows.append((tag, text, "" if tag in _UNITLESS_TAGS else currency))
    return rows


def requested_summary_tags(tags: str) -> list[str]:
    """Known tags among a reqAccountSummary tag list (``$LEDGER``-style groups answer all)."""
    wanted = [t.strip() for t in tags.split(",") if t.strip()]
    if any(t.startswith("$LEDGER") for t in wanted):
        return list(ACCOUNT_SUMMARY_TAGS)
    known = set(ACCOUNT_SUMMARY_TAGS)
    return [t for t in wanted if t in known]


# --- field formatting ----------------------------------------------------------------
def _num(value: float | int) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return ""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value)) if value != 0 else "0"
    return repr(round(value, 8))


def format_field(value: Field) -> str:
    """One field as wire text: bools as 1/0, None and non-finite floats as empty."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return _num(value)


def encode_fields(fields: Iterable[Field]) -> bytes:
    """The NUL-terminated body of one message (without its length prefix)."""
    return b"".join(format_field(f).encode() + b"\0" for f in fields)


def ib_date(day: date | None) -> str:
    """An 8-digit IB date (empty for None)."""
    return "" if day is None else day.strftime("%Y%m%d")


def ib_time(ts: datetime) -> str:
    """An IB timestamp a client parses back to an aware datetime ("YYYYmmdd HH:MM:SS UTC")."""
    return ts.astimezone(UTC).strftime("%Y%m%d %H:%M:%S UTC")


def parse_ib_date(text: str) -> date | None:
    """An 8-digit IB date (or a 6-digit contract month, read as its first day); None if empty."""
    text = text.strip()
    if not text:
        return None
    if len(text) == 6:
        return date(int(text[:4]), int(text[4:6]), 1)
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


# --- contracts on the wire -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ComboLegSpec:
    """One leg of a BAG contract as the client sent it."""

    con_id: int
    ratio: int
    action: str
    exchange: str = "SMART"


@dataclass(frozen=True, slots=True)
class WireContract:
    """A contract as the wire carries it (camelCase fields of IB, snake-cased)."""

    con_id: int = 0
    symbol: str = ""
    sec_type: str = ""
    last_trade: str = ""  # lastTradeDateOrContractMonth: YYYYMMDD or YYYYMM
    strike: float = 0.0
    right: str = ""
    multiplier: str = ""
    exchange: str = ""
    primary_exchange: str = ""
    currency: str = ""
    local_symbol: str = ""
    trading_class: str = ""
    combo_legs: tuple[ComboLegSpec, ...] = field(default=())

    def core(self) -> tuple[Field, ...]:
        """conId..tradingClass with the exchange (position, openOrder, execDetails)."""
        return (
            self.con_id,
            self.symbol,
            self.sec_type,
            self.last_trade,
            self.strike,
            self.right,
            self.multiplier,
            self.exchange,
            self.currency,
            self.local_symbol,
            self.trading_class,
        )

    def portfolio_core(self) -> tuple[Field, ...]:
        """conId..tradingClass with the primary exchange in the exchange slot (portfolioValue)."""
        return (
            self.con_id,
            self.symbol,
            self.sec_type,
            self.last_trade,
            self.strike,
            self.right,
            self.multiplier,
            self.primary_exchange,
            self.currency,
            self.local_symbol,
            self.trading_class,
        )


def wire_float(raw: str) -> float:
    """A float field: clients send infinity as "Infinite" (the official one) or "inf"."""
    text = raw.strip()
    if text in ("Infinite", "+Infinite"):
        return math.inf
    if text == "-Infinite":
        return -math.inf
    return float(text)


class FieldReader:
    """Sequential reader over the text fields of one incoming message."""

    __slots__ = ("_fields", "_pos")

    def __init__(self, fields: Sequence[str], start: int = 1) -> None:
        self._fields = fields
        self._pos = start

    def text(self) -> str:
        """The next field ('' past the end: older clients send shorter messages)."""
        if self._pos >= len(self._fields):
            self._pos += 1
            return ""
        value = self._fields[self._pos]
        self._pos += 1
        return value

    def integer(self) -> int:
        raw = self.text()
        return int(float(raw)) if raw else 0

    def number(self) -> float:
        raw = self.text()
        return wire_float(raw) if raw else 0.0

    def optional_number(self) -> float | None:
        raw = self.text()
        if not raw:
            return None
        value = wire_float(raw)
        return None if math.isfinite(value) and value >= 1.7e308 else value  # IB's UNSET_DOUBLE

    def flag(self) -> bool:
        raw = self.text()
        return bool(int(raw)) if raw else False

    def skip(self, n: int = 1) -> None:
        self._pos += n

    def contract(self) -> WireContract:
        """The 12-field contract layout requests use (with primaryExchange)."""
        return WireContract(
            con_id=self.integer(),
            symbol=self.text(),
            sec_type=self.text(),
            last_trade=self.text(),
            strike=self.number(),
            right=self.text(),
            multiplier=self.text(),
            exchange=self.text(),
            primary_exchange=self.text(),
            currency=self.text(),
            local_symbol=self.text(),
            trading_class=self.text(),
        )


# --- incoming requests with a structure --------------------------------------------------
@dataclass(frozen=True, slots=True)
class MktDataRequest:
    req_id: int
    contract: WireContract
    generic_ticks: tuple[str, ...]
    snapshot: bool


def parse_mkt_data(fields: Sequence[str]) -> MktDataRequest:
    """reqMktData: id, version, reqId, contract, [legs], dnc, ticks, snapshot, regulatory, options."""
    r = FieldReader(fields, 2)
    req_id = r.integer()
    contract = r.contract()
    if contract.sec_type == "BAG":
        n = r.integer()
        legs = tuple(ComboLegSpec(r.integer(), r.integer(), r.text(), r.text()) for _ in range(n))
        contract = _with_legs(contract, legs)
    if r.flag():
        r.skip(3)  # delta-neutral contract: not simulated
    ticks = tuple(t.strip() for t in r.text().split(",") if t.strip())
    return MktDataRequest(req_id, contract, ticks, r.flag())


@dataclass(frozen=True, slots=True)
class PlaceOrderRequest:
    order_id: int
    contract: WireContract
    action: str
    quantity: float
    order_type: str
    limit_price: float | None
    tif: str
    account: str
    order_ref: str
    transmit: bool
    what_if: bool = False


# ib_async 2.1.0 at v178 sends whatIf this many fields before the end of a placeOrder
# without order conditions (the tail after it has a fixed length then).
_WHAT_IF_FROM_END = 30


def parse_place_order(fields: Sequence[str]) -> PlaceOrderRequest:
    """placeOrder (no version field from server version 145): the fields the simulation uses."""
    r = FieldReader(fields, 1)
    order_id = r.integer()
    contract = r.contract()
    r.skip(2)  # secIdType, secId
    action = r.text()
    quantity = r.number()
    order_type = r.text()
    limit_price = r.optional_number()
    r.skip(1)  # auxPrice
    tif = r.text()
    r.skip(1)  # ocaGroup
    account = r.text()
    r.skip(2)  # openClose, origin
    order_ref = r.text()
    transmit = r.text() != "0"  # empty means the default: transmit
    r.skip(7)  # parentId, blockOrder, sweepToFill, displaySize, triggerMethod, outsideRth, hidden
    if contract.sec_type == "BAG":
        n = r.integer()
        legs: list[ComboLegSpec] = []
        for _ in range(n):
            leg = ComboLegSpec(r.integer(), r.integer(), r.text(), r.text())
            r.skip(4)  # openClose, shortSaleSlot, designatedLocation, exemptCode
            legs.append(leg)
        contract = _with_legs(contract, tuple(legs))
    return PlaceOrderRequest(
        order_id,
        contract,
        action,
        quantity,
        order_type,
        limit_price,
        tif,
        account,
        order_ref,
        transmit,
        len(fields) > _WHAT_IF_FROM_END + 40 and fields[-_WHAT_IF_FROM_END] == "1",
    )


def _with_legs(c: WireContract, legs: tuple[ComboLegSpec, ...]) -> WireContract:
    return WireContract(
        c.con_id,
        c.symbol,
        c.sec_type,
        c.last_trade,
        c.strike,
        c.right,
        c.multiplier,
        c.exchange,
        c.primary_exchange,
        c.currency,
        c.local_symbol,
        c.trading_class,
        legs,
    )


@dataclass(frozen=True, slots=True)
class HistoricalDataRequest:
    req_id: int
    contract: WireContract
    end: str
    bar_size: str
    duration: str
    use_rth: bool
    what_to_show: str
    format_date: int
    keep_up_to_date: bool


def parse_historical_data(fields: Sequence[str]) -> HistoricalDataRequest:
    """reqHistoricalData (no version field from server version 124)."""
    r = FieldReader(fields, 1)
    req_id = r.integer()
    contract = r.contract()
    r.skip(1)  # includeExpired
    end = r.text()
    bar_size = r.text()
    duration = r.text()
    use_rth = r.flag()
    what = r.text()
    fmt = r.integer() or 1
    if contract.sec_type == "BAG":
        r.skip(4 * r.integer())
    keep = r.flag()
    return HistoricalDataRequest(
        req_id, contract, end, bar_size, duration, use_rth, what, fmt, keep
    )


_BAR_UNITS = {"sec": 1, "secs": 1, "min": 60, "mins": 60, "hour": 3600, "hours": 3600}
_BAR_UNITS |= {"day": 86400, "days": 86400, "week": 604800, "weeks": 604800}
_DURATION_UNITS = {"S": 1, "D": 86400, "W": 7 * 86400, "M": 30 * 86400, "Y": 365 * 86400}


def bar_seconds(bar_size: str) -> int:
    """'5 mins' -> 300; ValueError for a size IB does not know."""
    count, unit = bar_size.split()
    return int(count) * _BAR_UNITS[unit.lower()]


def duration_seconds(duration: str) -> int:
    """'2 D' -> 172800 (calendar time; months as 30 days, years as 365)."""
    count, unit = duration.split()
    return int(count) * _DURATION_UNITS[unit.upper()]


def parse_end_time(text: str, default: datetime) -> datetime:
    """endDateTime as a client sends it: '' (now), 'YYYYmmdd-HH:MM:SS' (UTC) or 'YYYYmmdd HH:MM:SS [zone]'."""
    text = text.strip()
    if not text:
        return default
    if len(text) > 8 and text[8] == "-":
        text = f"{text[:8]} {text[9:]} UTC"
    parts = text.split(" ")
    clock = parts[1] if len(parts) > 1 else "23:59:59"
    zone = ZoneInfo(parts[2]) if len(parts) > 2 else UTC
    naive = datetime.strptime(parts[0] + clock, "%Y%m%d%H:%M:%S")
    return naive.replace(tzinfo=zone).astimezone(UTC)


# --- outgoing messages ----------------------------------------------------------------------
def server_hello(now: datetime) -> tuple[Field, ...]:
    """The handshake answer: server version and connection time."""
    return (SERVER_VERSION, now.astimezone(UTC).strftime("%Y%m%d %H:%M:%S UTC"))


def next_valid_id(order_id: int) -> tuple[Field, ...]:
    return (Out.NEXT_VALID_ID, 1, order_id)


def managed_accounts(accounts: Sequence[str]) -> tuple[Field, ...]:
    return (Out.MANAGED_ACCTS, 1, ",".join(accounts))


def error_msg(req_id: int, code: int, text: str) -> tuple[Field, ...]:
    """errorMsg: id, version, reqId, code, text, advancedOrderRejectJson."""
    return (Out.ERR_MSG, 2, req_id, code, text, "")


def error_for(req_id: int, code: ErrorCode, detail: str = "") -> tuple[Field, ...]:
    return error_msg(req_id, int(code), ERROR_TEXT[code].format(detail=detail))


def current_time(ts: datetime) -> tuple[Field, ...]:
    return (Out.CURRENT_TIME, 1, int(ts.timestamp()))


def position(account: str, c: WireContract, quantity: float, avg_cost: float) -> tuple[Field, ...]:
    """position (16 fields)."""
    return (Out.POSITION_DATA, 3, account, *c.core(), quantity, avg_cost)


def position_end() -> tuple[Field, ...]:
    return (Out.POSITION_END, 1)


def portfolio_value(
    c: WireContract,
    quantity: float,
    market_price: float,
    market_value: float,
    avg_cost: float,
    unrealized: float,
    realized: float,
    account: str,
) -> tuple[Field, ...]:
    """portfolioValue (20 fields); every float must be finite (the client parses each)."""
    nums = [_finite(x) for x in (market_price, market_value, avg_cost, unrealized, realized)]
    return (Out.PORTFOLIO_VALUE, 8, *c.portfolio_core(), quantity, *nums, account)


def account_value(tag: str, value: str, currency: str, account: str) -> tuple[Field, ...]:
    return (Out.ACCT_VALUE, 2, tag, value, currency, account)


def account_update_time(ts: datetime) -> tuple[Field, ...]:
    return (Out.ACCT_UPDATE_TIME, 1, ts.strftime("%H:%M"))


def account_download_end(account: str) -> tuple[Field, ...]:
    return (Out.ACCT_DOWNLOAD_END, 1, account)


def account_update_multi(
    req_id: int, account: str, tag: str, value: str, currency: str
) -> tuple[Field, ...]:
    return (Out.ACCOUNT_UPDATE_MULTI, 1, req_id, account, "", tag, value, currency)


def account_update_multi_end(req_id: int) -> tuple[Field, ...]:
    return (Out.ACCOUNT_UPDATE_MULTI_END, 1, req_id)


def account_summary(
    req_id: int, account: str, tag: str, value: str, currency: str
) -> tuple[Field, ...]:
    return (Out.ACCOUNT_SUMMARY, 1, req_id, account, tag, value, currency)


def account_summary_end(req_id: int) -> tuple[Field, ...]:
    return (Out.ACCOUNT_SUMMARY_END, 1, req_id)


def open_order_end() -> tuple[Field, ...]:
    return (Out.OPEN_ORDER_END, 1)


def completed_orders_end() -> tuple[Field, ...]:
    return (Out.COMPLETED_ORDERS_END,)


def exec_details_end(req_id: int) -> tuple[Field, ...]:
    return (Out.EXECUTION_DATA_END, 1, req_id)


def contract_details_end(req_id: int) -> tuple[Field, ...]:
    return (Out.CONTRACT_DATA_END, 1, req_id)


@dataclass(frozen=True, slots=True)
class DetailsExtra:
    """The contractDetails fields beyond the contract itself."""

    market_name: str
    min_tick: float
    long_name: str
    contract_month: str = ""
    under_con_id: int = 0
    under_symbol: str = ""
    under_sec_type: str = ""
    valid_exchanges: str = "SMART"
    order_types: str = "LMT,MKT"
    time_zone: str = "US/Eastern"
    trading_hours: str = ""
    liquid_hours: str = ""
    stock_type: str = ""
    real_expiration: str = ""
    industry: str = ""
    category: str = ""
    subcategory: str = ""


def contract_details(req_id: int, c: WireContract, x: DetailsExtra) -> tuple[Field, ...]:
    """contractDetails at server version >= 164 (no version field, no mdSizeMultiplier)."""
    return (
        Out.CONTRACT_DATA,
        req_id,
        c.symbol,
        c.sec_type,
        c.last_trade,
        c.strike,
        c.right,
        c.exchange,
        c.currency,
        c.local_symbol,
        x.market_name,
        c.trading_class,
        c.con_id,
        x.min_tick,
        c.multiplier,
        x.order_types,
        x.valid_exchanges,
        1,  # priceMagnifier
        x.under_con_id,
        x.long_name,
        c.primary_exchange,
        x.contract_month,
        x.industry,
        x.category,
        x.subcategory,
        x.time_zone,
        x.trading_hours,
        x.liquid_hours,
        "",  # evRule
        "",  # evMultiplier
        0,  # secIdList count
        1,  # aggGroup
        x.under_symbol,
        x.under_sec_type,
        "26" if c.sec_type == "OPT" else "",  # marketRuleIds
        x.real_expiration,
        x.stock_type,
        1,  # minSize
        1,  # sizeIncrement
        1,  # suggestedSizeIncrement
    )


def sec_def_opt_params(
    req_id: int,
    exchange: str,
    underlying_con_id: int,
    trading_class: str,
    multiplier: str,
    expiries: Sequence[str],
    strikes: Sequence[float],
) -> tuple[Field, ...]:
    return (
        Out.SECURITY_DEFINITION_OPTION_PARAMETER,
        req_id,
        exchange,
        underlying_con_id,
        trading_class,
        multiplier,
        len(expiries),
        *expiries,
        len(strikes),
        *strikes,
    )


def sec_def_opt_params_end(req_id: int) -> tuple[Field, ...]:
    return (Out.SECURITY_DEFINITION_OPTION_PARAMETER_END, req_id)


def market_data_type(req_id: int, kind: int) -> tuple[Field, ...]:
    return (Out.MARKET_DATA_TYPE, 1, req_id, kind)


def tick_price(req_id: int, tick: TickType, price: float, size: float) -> tuple[Field, ...]:
    """tickPrice (7 fields): the attribute mask says 'can auto-execute' for bid/ask."""
    mask = 1 if tick in (TickType.BID, TickType.ASK) else 0
    return (Out.TICK_PRICE, 6, req_id, int(tick), price, size, mask)


def tick_size(req_id: int, tick: TickType, size: float) -> tuple[Field, ...]:
    return (Out.TICK_SIZE, 6, req_id, int(tick), size)


def tick_string(req_id: int, tick: TickType, value: str) -> tuple[Field, ...]:
    return (Out.TICK_STRING, 6, req_id, int(tick), value)


def dividends_text(past_12m: float, next_12m: float, next_date: date | None, amount: float) -> str:
    """Tick 59's value: "past12m,next12m,nextDate,nextAmount" (empty parts when unknown)."""

    def money(x: float) -> str:
        return f"{x:.4f}".rstrip("0").rstrip(".") if math.isfinite(x) else ""

    day = ib_date(next_date)
    return f"{money(past_12m)},{money(next_12m)},{day},{money(amount) if day else ''}"


def tick_generic(req_id: int, tick: int, value: float) -> tuple[Field, ...]:
    return (Out.TICK_GENERIC, 6, req_id, tick, value)


@dataclass(frozen=True, slots=True)
class OptionComputation:
    """One option computation tick's values (NaN = not computed)."""

    iv: float
    delta: float
    price: float
    pv_dividend: float
    gamma: float
    vega: float
    theta: float
    und_price: float


def tick_option_computation(
    req_id: int, tick: TickType, comp: OptionComputation
) -> tuple[Field, ...]:
    """tickOptionComputation (12 fields, no version from server version 156)."""

    def vol(x: float) -> float:
        return x if math.isfinite(x) else UNSET_VOL_OR_PRICE

    def greek(x: float) -> float:
        return x if math.isfinite(x) else UNSET_GREEK

    return (
        Out.TICK_OPTION_COMPUTATION,
        req_id,
        int(tick),
        1,  # tickAttrib: price based
        vol(comp.iv),
        greek(comp.delta),
        vol(comp.price),
        vol(comp.pv_dividend),
        greek(comp.gamma),
        greek(comp.vega),
        greek(comp.theta),
        vol(comp.und_price),
    )


# Live tick type -> its delayed twin (what a line without a subscription carries).
DELAYED_TICKS: dict[int, int] = {
    0: 69,
    1: 66,
    2: 67,
    3: 70,
    4: 68,
    5: 71,
    6: 72,
    7: 73,
    8: 74,
    9: 75,
    14: 76,
    10: 80,
    11: 81,
    12: 82,
    13: 83,
}


def delayed_tick(message: tuple[Field, ...]) -> tuple[Field, ...]:
    """``message`` (tickPrice, tickSize or tickOptionComputation) with the delayed tick type."""
    at = {Out.TICK_PRICE: 3, Out.TICK_SIZE: 3, Out.TICK_OPTION_COMPUTATION: 2}.get(
        Out(int(message[0] or 0))
    )
    if at is None:
        return message
    tick = int(message[at] or 0)
    return (*message[:at], DELAYED_TICKS.get(tick, tick), *message[at + 1 :])


def tick_snapshot_end(req_id: int) -> tuple[Field, ...]:
    return (Out.TICK_SNAPSHOT_END, 1, req_id)


def historical_data(
    req_id: int, start: str, end: str, bars: Sequence[tuple[str, float, float, float, float, float]]
) -> tuple[Field, ...]:
    """historicalData: bars as (date, open, high, low, close, volume); wap = close, count = 1."""
    out: list[Field] = [Out.HISTORICAL_DATA, req_id, start, end, len(bars)]
    for d, o, h, low, c, v in bars:
        out += [d, o, h, low, c, v, c, 1]
    return tuple(out)


def order_status(
    order_id: int,
    status: str,
    filled: float,
    remaining: float,
    avg_fill_price: float,
    perm_id: int,
    last_fill_price: float,
    client_id: int,
) -> tuple[Field, ...]:
    """orderStatus (12 fields, no version from server version 131)."""
    return (
        Out.ORDER_STATUS,
        order_id,
        status,
        filled,
        remaining,
        _finite(avg_fill_price),
        perm_id,
        0,  # parentId
        _finite(last_fill_price),
        client_id,
        "",  # whyHeld
        0,  # mktCapPrice
    )


@dataclass(frozen=True, slots=True)
class WireOrder:
    """What an openOrder message reports about one order."""

    order_id: int
    client_id: int
    perm_id: int
    action: str
    quantity: float
    order_type: str
    limit_price: float | None
    tif: str
    account: str
    order_ref: str
    status: str
    what_if: bool = False
    # What-if answers: init, maint, equity with loan -- before, change, after.
    margin: tuple[float, ...] = ()


def open_order(c: WireContract, o: WireOrder) -> tuple[Field, ...]:
    """openOrder at server version 178 (no version field, no faProfile)."""
    out: list[Field] = [Out.OPEN_ORDER, o.order_id, *c.core()]
    out += [o.action, o.quantity, o.order_type, o.limit_price, "", o.tif, "", o.account]
    out += ["", 0, o.order_ref, o.client_id, o.perm_id, 0, 0, 0, "", "", "", "", ""]
    # modelCode .. deltaNeutralAuxPrice (29 fields; empty deltaNeutralOrderType = no extras)
    out += ["", "", "", "", "", 0, "", -1, 0, "", "", "", "", "", "", 0, 0, 0, ""]
    out += [3, 0, 0, "", 0, 0, "", 0, "", ""]
    # continuousUpdate .. comboLegsDescrip
    out += [0, 0, "", "", "", "", ""]
    out.append(len(c.combo_legs))
    for leg in c.combo_legs:
        out += [leg.con_id, leg.ratio, leg.action, leg.exchange, 0, 0, "", -1]
    out += [0, 0]  # orderComboLegs, smartComboRoutingParams
    out += ["", "", ""]  # scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement
    out += [""]  # hedgeType
    out += [0, "", "", 0, 0]  # optOutSmartRouting, clearing account/intent, notHeld, dnc
    out += [""]  # algoStrategy
    out += [0, o.what_if, o.status]  # solicited, whatIf, status
    if o.what_if:  # a client parses these as numbers in a what-if answer
        margin = (list(o.margin) + [0.0] * 9)[:9]
        out += [repr(float(x)) for x in margin]  # margin before/change/after
        out += [1.0, 1.0, 1.0, "USD", ""]  # commission, min, max, currency, warning
    else:
        out += [""] * 9  # margin before/change/after
        out += ["", "", "", "", ""]  # commission, min, max, currency, warning
    out += [0, 0]  # randomizeSize, randomizePrice
    out += [0]  # conditions
    out += ["", "", "", "", "", "", "", 0, "", "", "", "", 0, 0, "", 0]
    out += ["", "", 0]  # duration, postToAts, autoCancelParent
    out += ["", "", "", "", ""]  # minTradeQty .. midOffsetAtHalf
    return tuple(out)


def completed_order(
    c: WireContract,
    o: WireOrder,
    filled: float,
    completed_time: str,
    completed_status: str,
) -> tuple[Field, ...]:
    """completedOrder at server version 178 (no order id, no version; from reqCompletedOrders)."""
    out: list[Field] = [Out.COMPLETED_ORDER, *c.core()]
    out += [o.action, o.quantity, o.order_type, o.limit_price, "", o.tif, "", o.account]
    out += ["", 0, o.order_ref, o.perm_id, 0, 0, 0, "", "", "", ""]  # openClose .. faPercentage
    # modelCode .. deltaNeutralAuxPrice (23 fields; empty deltaNeutralOrderType = no extras)
    out += ["", "", "", "", "", 0, "", -1, "", "", "", "", "", 0, 0, 0, "", 0, 0, "", 0, "", ""]
    out += [0, 0, "", "", ""]  # continuousUpdate .. comboLegsDescrip
    out.append(len(c.combo_legs))
    for leg in c.combo_legs:
        out += [leg.con_id, leg.ratio, leg.action, leg.exchange, 0, 0, "", -1]
    out += [0, 0]  # orderComboLegs, smartComboRoutingParams
    out += ["", "", ""]  # scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement
    out += [""]  # hedgeType
    out += ["", "", 0, 0]  # clearingAccount, clearingIntent, notHeld, deltaNeutralContract
    out += [""]  # algoStrategy
    out += [0, o.status, 0, 0]  # solicited, status, randomizeSize, randomizePrice
    out += [0]  # conditions
    out += ["", "", "", 0, 0, "", filled, 0, 0, "", 0, 0, 0]  # trailStopPrice .. parentPermId
    out += [completed_time, completed_status]
    out += ["", "", "", "", ""]  # minTradeQty .. midOffsetAtHalf
    return tuple(out)


@dataclass(frozen=True, slots=True)
class WireExecution:
    """What an execDetails message reports about one execution."""

    order_id: int
    exec_id: str
    time: str
    account: str
    exchange: str
    side: str
    shares: float
    price: float
    perm_id: int
    client_id: int
    cum_qty: float
    avg_price: float
    order_ref: str


def exec_details(req_id: int, c: WireContract, e: WireExecution) -> tuple[Field, ...]:
    """execDetails at server version 178 (no version field, with pendingPriceRevision)."""
    return (
        Out.EXECUTION_DATA,
        req_id,
        e.order_id,
        *c.core(),
        e.exec_id,
        e.time,
        e.account,
        e.exchange,
        e.side,
        e.shares,
        e.price,
        e.perm_id,
        e.client_id,
        0,  # liquidation
        e.cum_qty,
        e.avg_price,
        e.order_ref,
        "",  # evRule
        "",  # evMultiplier
        "",  # modelCode
        2,  # lastLiquidity: removed liquidity
        0,  # pendingPriceRevision
    )


def commission_report(exec_id: str, commission: float, realized_pnl: float) -> tuple[Field, ...]:
    """commissionReport (8 fields)."""
    return (Out.COMMISSION_REPORT, 1, exec_id, commission, "USD", _finite(realized_pnl), "", "")


def _finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0


def iter_frames(buffer: bytearray) -> Iterator[list[str]]:
    """Pop every complete length-prefixed message off ``buffer`` as its list of fields."""
    while len(buffer) >= 4:
        size = int.from_bytes(buffer[:4], "big")
        if len(buffer) < 4 + size:
            return
        body = bytes(buffer[4 : 4 + size])
        del buffer[: 4 + size]
        fields = body.decode(errors="backslashreplace").split("\0")
        if fields and fields[-1] == "":
            fields.pop()
        yield fields


def frame(fields: Iterable[Field]) -> bytes:
    """One length-prefixed message."""
    body = encode_fields(fields)
    return len(body).to_bytes(4, "big") + body


def parse_version_range(text: str) -> tuple[int, int]:
    """'v157..178' (optionally followed by connect options) -> (157, 178)."""
    spec = text.split(" ", 1)[0].lstrip("v")
    if ".." in spec:
        low, high = spec.split("..", 1)
        return int(low), int(high)
    return int(spec), int(spec)
