"""Decoding the incoming TWS API requests that have a structure (market data, orders, history)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from tradelib.gateway.protocol import (
    ComboLegSpec,
    FieldReader,
    WireContract,
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
