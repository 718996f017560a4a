"""The TWS API socket protocol's vocabulary (server version 178): ids, codes, fields, framing.

Nothing here touches a socket: message ids, tick types, status strings, error
texts, how one value becomes a text field (and back: ``FieldReader``), the
contract layout shared by requests and replies, and the length-prefixed frame.
Incoming requests are decoded in ``requests``, outgoing messages built in
``messages``; ``parsing`` re-exports all three.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import IntEnum

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

    def core(self, exchange: str | None = None) -> tuple[Field, ...]:
        """conId..tradingClass with the exchange (position, openOrder, execDetails).

        ``exchange`` fills the exchange slot instead (portfolioValue puts the primary there).
        """
        return (
            self.con_id,
            self.symbol,
            self.sec_type,
            self.last_trade,
            self.strike,
            self.right,
            self.multiplier,
            self.exchange if exchange is None else exchange,
            self.currency,
            self.local_symbol,
            self.trading_class,
        )

    def portfolio_core(self) -> tuple[Field, ...]:
        """conId..tradingClass with the primary exchange in the exchange slot (portfolioValue)."""
        return self.core(self.primary_exchange)


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
