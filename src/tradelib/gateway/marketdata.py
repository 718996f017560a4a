"""Quotes to tick messages: what a reqMktData line sends, first in full and then as changes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tradelib.domain import Quote, Right
from tradelib.gateway.parsing import (
    Field,
    OptionComputation,
    TickType,
    tick_option_computation,
    tick_price,
    tick_size,
)

Message = tuple[Field, ...]


@dataclass(slots=True)
class LineState:
    """What one market-data line last sent, so updates carry only what changed."""

    sent: dict[str, tuple[float, ...]] = field(default_factory=dict)


def _changed(state: LineState, key: str, value: tuple[float, ...]) -> bool:
    if state.sent.get(key) == value:
        return False
    state.sent[key] = value
    return True


def quote_ticks(
    req_id: int,
    quote: Quote,
    state: LineState,
    *,
    close: float = math.nan,
    open_interest: bool = False,
) -> list[Message]:
    """Tick messages for ``quote`` that differ from what ``state`` last sent (all of them at first).

    Bid and ask go as tickPrice with their size plus the matching tickSize;
    options add bid/ask/last/model option computations and, when asked with
    generic tick 101, their open interest as tick 27 (calls) or 28 (puts).
    """
    out: list[Message] = []
    sides = (
        ("bid", quote.bid, quote.bid_size, TickType.BID, TickType.BID_SIZE),
        ("ask", quote.ask, quote.ask_size, TickType.ASK, TickType.ASK_SIZE),
    )
    for key, price, size, ptick, stick in sides:
        if not math.isfinite(price):
            continue
        lots = size if math.isfinite(size) else 0.0
        if _changed(state, key, (price, lots)):
            out.append(tick_price(req_id, ptick, price, lots))
            out.append(tick_size(req_id, stick, lots))
    if math.isfinite(quote.last) and quote.last > 0 and _changed(state, "last", (quote.last,)):
        out.append(tick_price(req_id, TickType.LAST, quote.last, 1.0))
        out.append(tick_size(req_id, TickType.LAST_SIZE, 1.0))
    if math.isfinite(close) and _changed(state, "close", (close,)):
        out.append(tick_price(req_id, TickType.CLOSE, close, 0.0))
    g = quote.greeks
    if g is not None:
        und = quote.underlying_price
        values = (g.iv, g.delta, g.gamma, g.vega, g.theta, und, quote.bid, quote.ask, quote.last)
        if _changed(state, "greeks", values):
            for tick, price in (
                (TickType.BID_OPTION, quote.bid),
                (TickType.ASK_OPTION, quote.ask),
                (TickType.LAST_OPTION, quote.last),
                (TickType.MODEL_OPTION, quote.mid),
            ):
                comp = OptionComputation(g.iv, g.delta, price, 0.0, g.gamma, g.vega, g.theta, und)
                out.append(tick_option_computation(req_id, tick, comp))
    oi = quote.open_interest
    if open_interest and g is not None and math.isfinite(oi) and _changed(state, "oi", (oi,)):
        tick = (
            TickType.OPTION_CALL_OPEN_INTEREST
            if quote.contract.right is Right.CALL
            else TickType.OPTION_PUT_OPEN_INTEREST
        )
        out.append(tick_size(req_id, tick, oi))
    return out
