"""Building the outgoing TWS API messages: each builder emits exactly its layout's fields.

An API client negotiating server version 178 unpacks several messages at a
fixed field count, so every builder here returns exactly the fields it reads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from tradelib.gateway.protocol import (
    ERROR_TEXT,
    SERVER_VERSION,
    UNSET_GREEK,
    UNSET_VOL_OR_PRICE,
    ErrorCode,
    Field,
    Out,
    TickType,
    WireContract,
    ib_date,
)


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
