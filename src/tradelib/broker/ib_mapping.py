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

Split by concern: ``ib_wire`` (codes, tables, the ``Ib*`` views, contracts),
``ib_order_mapping`` (order plans, states, fills) and this module (account,
positions, quotes, dividends, bars), which re-exports the other two so IBBroker
reads every translation as ``ib_mapping.x``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import Protocol

import numpy as np

from tradelib.broker.ib_order_mapping import (
    ComboLegPlan,
    OrderErrorInfo,
    OrderPlan,
    domain_fill,
    has_commission,
    ib_price,
    order_state,
    plan_of_ib_order,
    plan_order,
    state_from_fills,
)
from tradelib.broker.ib_wire import (
    _SESSION_CLOSE,
    _YEAR_S,
    BAR_SIZES,
    CODE_BAD_TICK,
    CODE_CLIENT_ID_IN_USE,
    CODE_CONNECTIVITY_LOST,
    CODE_HISTORICAL_DATA,
    CODE_NO_SECURITY,
    CODE_ORDER_CANCELLED,
    CODE_ORDER_REJECTED,
    CODE_RESTORED_DATA_KEPT,
    CODE_RESTORED_DATA_LOST,
    CODE_TOO_MANY_TICKERS,
    DELAYED_DATA_TYPES,
    GENERIC_DIVIDENDS,
    GENERIC_OPEN_INTEREST,
    MAP_EXEC_SIGN,
    MAP_MARKET_DATA_TYPE,
    MAP_ORDER_STATUS,
    MAP_ORDER_TYPE,
    MAP_RIGHT,
    MAP_SEC_TYPE,
    MAP_TIF,
    REQUIRED_ACCOUNT_TAGS,
    SUMMARY_TAGS,
    SYSTEM_CODES,
    UNSET_PRICE,
    IbCommissionReport,
    IbContract,
    IbExecution,
    IbFill,
    IbOptionComputation,
    IbOrder,
    IbOrderStatus,
    IbPortfolioItem,
    IbPosition,
    IbTicker,
    contract_fields,
    domain_contract,
    ib_date,
    is_warning,
    parse_ib_date,
)
from tradelib.domain import (
    NEW_YORK,
    AccountSnapshot,
    Contract,
    OptionGreeks,
    Position,
    Quote,
    Right,
    SecType,
)
from tradelib.domain.market import Dividend
from tradelib.pricing import iv_and_greeks


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


__all__ = [
    "BAR_SIZES",
    "CODE_BAD_TICK",
    "CODE_CLIENT_ID_IN_USE",
    "CODE_CONNECTIVITY_LOST",
    "CODE_HISTORICAL_DATA",
    "CODE_NO_SECURITY",
    "CODE_ORDER_CANCELLED",
    "CODE_ORDER_REJECTED",
    "CODE_RESTORED_DATA_KEPT",
    "CODE_RESTORED_DATA_LOST",
    "CODE_TOO_MANY_TICKERS",
    "DELAYED_DATA_TYPES",
    "GENERIC_DIVIDENDS",
    "GENERIC_OPEN_INTEREST",
    "MAP_EXEC_SIGN",
    "MAP_MARKET_DATA_TYPE",
    "MAP_ORDER_STATUS",
    "MAP_ORDER_TYPE",
    "MAP_RIGHT",
    "MAP_SEC_TYPE",
    "MAP_TIF",
    "REQUIRED_ACCOUNT_TAGS",
    "SUMMARY_TAGS",
    "SYSTEM_CODES",
    "UNSET_PRICE",
    "ComboLegPlan",
    "IbCommissionReport",
    "IbContract",
    "IbDividends",
    "IbExecution",
    "IbFill",
    "IbOptionComputation",
    "IbOrder",
    "IbOrderStatus",
    "IbPortfolioItem",
    "IbPosition",
    "IbTicker",
    "OrderErrorInfo",
    "OrderPlan",
    "account_snapshot",
    "bar_size_setting",
    "bar_start",
    "broker_greeks",
    "contract_fields",
    "domain_contract",
    "domain_dividend",
    "domain_fill",
    "domain_position",
    "domain_quote",
    "duration_text",
    "expiry_close",
    "has_commission",
    "ib_date",
    "ib_datetime",
    "ib_price",
    "is_warning",
    "missing_account_fields",
    "order_state",
    "parse_ib_date",
    "plan_of_ib_order",
    "plan_order",
    "session_day_start",
    "spot_symbols",
    "state_from_fills",
    "with_model_greeks",
]
