"""How SimBroker matches its working orders: entry checks, margin, fill draws and executions.

``SimOrderMatching`` is a mixin of ``SimBroker``: its methods read and write the
broker's own attributes (declared below for the type checker), so a saved
broker holds exactly what it held before.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from tradelib.broker.port import (
    EventHub,
    FillEvent,
    OrderStatusEvent,
)
from tradelib.broker.sim_fills import (
    CommissionSchedule,
    FillModel,
    aggressiveness,
    fill_probability,
    leg_prices,
    marketable_price,
    on_tick_grid,
    uniform,
)
from tradelib.broker.sim_ledger import Ledger
from tradelib.broker.sim_quotes import market_quotes
from tradelib.domain import (
    Fill,
    Leg,
    OrderStatus,
    OrderType,
    Position,
    Quote,
    SecType,
    check_quote,
)
from tradelib.pricing import tick_rule_for, tick_size
from tradelib.risk.margin import margin_requirement

if TYPE_CHECKING:
    from tradelib.backtest.source import MarketSource
    from tradelib.broker.sim import _Order

_EPS = 1e-9
# Quotes older than this are stale for order validation (sim quotes are stamped "now").
MAX_QUOTE_AGE_S = 10.0
# IB's "Order rejected" family, used for market-closed and bad-quote rejections.
_REJECTED_CODE = 201


@dataclass(slots=True)
class LiveOrders:
    """The orders of ``orders`` not yet seen finished, in placement order (an index, not state).

    A finished order never works again, so it leaves the index for good; ``seen``
    counts the orders of ``orders`` (which only grows) already looked at.
    """

    orders: dict[str, _Order]
    seen: int = 0
    index: dict[str, _Order] = field(default_factory=dict)


class SimOrderMatching:
    """Order matching of ``SimBroker`` (mixin; the state lives on the broker)."""

    events: EventHub
    market: MarketSource
    commissions: CommissionSchedule
    fill_model: FillModel
    fill_seed: int
    _ledger: Ledger
    _orders: dict[str, _Order]
    _live: LiveOrders | None
    _fills: list[Fill]

    if TYPE_CHECKING:

        def _marked_positions(self, at: datetime | None = None) -> list[Position]: ...
        def _net_liquidation(self, positions: Sequence[Position]) -> float: ...

    # --- internals: orders --------------------------------------------------------------------------------
    def _working(self) -> list[_Order]:
        """Working orders in placement order.

        Scanning every order ever placed at each step made each day of a long
        backtest slower than the one before: the finished ones are left behind.
        """
        orders = self._orders
        live = getattr(self, "_live", None)
        if live is None or live.orders is not orders or live.seen > len(orders):
            live = LiveOrders(orders)
            self._live = live
        if live.seen < len(orders):
            live.index.update(itertools.islice(orders.items(), live.seen, None))
            live.seen = len(orders)
        index = live.index
        for ref in [ref for ref, o in index.items() if o.state.status.is_terminal]:
            del index[ref]
        return list(index.values())

    def _legs_open(self, legs: Sequence[Leg]) -> bool:
        return all(self.market.is_open(leg.contract.symbol) for leg in legs)

    def _entry_problem(
        self, legs: Sequence[Leg], quantity: int, now: datetime
    ) -> tuple[str, int] | None:
        for leg in legs:
            if not self.market.is_open(leg.contract.symbol):
                return (
                    f"market closed for {leg.contract.key} at {now.isoformat()}",
                    _REJECTED_CODE,
                )
            if leg.contract.sec_type is SecType.INDEX:
                return (f"{leg.contract.key} is an index and cannot be traded", _REJECTED_CODE)
        quotes = market_quotes(self.market, [leg.contract for leg in legs])
        for leg, q in zip(legs, quotes, strict=True):
            check = check_quote(q, now, MAX_QUOTE_AGE_S, allow_zero_bid=True)
            if not check.ok:
                return (f"bad quote for {leg.contract.key}: {check.reason}", _REJECTED_CODE)
        return self._margin_problem(legs, quantity, quotes)

    def _margin_problem(
        self, legs: Sequence[Leg], quantity: int, quotes: Sequence[Quote]
    ) -> tuple[str, int] | None:
        """Refuse an order whose full fill at mid would need more than the account's equity."""
        current = self._marked_positions()
        nl = self._net_liquidation(current)
        book = {p.contract.key: p for p in current}
        debit = 0.0
        for leg, q in zip(legs, quotes, strict=True):
            c, mult, mark = leg.contract, leg.contract.multiplier, q.mark
            qty = leg.ratio * quantity
            if c.sec_type is SecType.OPTION:
                # Options are paid in full; stock and futures are covered by their margin.
                debit += qty * mark * mult
            held = book.get(c.key)
            total = qty + (held.quantity if held is not None else 0.0)
            # Cost basis barely matters to the requirement: mark the pro-forma lot at mid.
            avg = held.avg_cost if held is not None and held.quantity * qty > 0 else mark * mult
            book[c.key] = Position(c, total, avg, mark, total * mark * mult)
        spots = {
            p.contract.symbol: float(self.market.spot(p.contract.symbol))
            for p in book.values()
            if p.contract.sec_type is SecType.OPTION
        }
        before = margin_requirement(current, spots).total
        after = margin_requirement(book.values(), spots).total
        needed = after + max(debit, 0.0)
        # Orders that reduce the requirement (exits) always pass: never trap a position.
        if after > before + _EPS and needed > nl + _EPS:
            return (
                f"insufficient equity: the order needs {needed:,.2f} (margin plus debit) "
                f"but net liquidation is {nl:,.2f}",
                _REJECTED_CODE,
            )
        return None

    def _try_fill(self, order: _Order, ts: datetime, dt: float) -> None:
        if not self._legs_open(order.legs):
            return
        quotes = market_quotes(self.market, [leg.contract for leg in order.legs])
        if any(not check_quote(q, ts, MAX_QUOTE_AGE_S, allow_zero_bid=True) for q in quotes):
            # A bad quote pauses matching; it never trades on it.
            order.near = False
            return
        ratios = [leg.ratio for leg in order.legs]
        mids = [q.mid for q in quotes]
        naturals = [q.ask if r > 0 else q.bid for r, q in zip(ratios, quotes, strict=True)]
        mid = sum(r * m for r, m in zip(ratios, mids, strict=True))
        natural = sum(r * n for r, n in zip(ratios, naturals, strict=True))
        limit = order.intent.limit_price
        ref = order.intent.order_ref
        stamp = int(ts.timestamp())
        cap = None if order.intent.order_type is OrderType.MARKET else limit
        if cap is None or cap >= natural - _EPS:
            draw = uniform(self.fill_seed, ref, "slip", stamp)
            net = round(marketable_price(cap, mid, natural, draw, self.fill_model), 2)
            if cap is not None:
                net = min(cap, net)
            order.near = True
        else:
            x = aggressiveness(cap, mid, natural)
            order.near = x > -0.5
            p = fill_probability(x, dt, self.fill_model)
            if p <= 0.0 or uniform(self.fill_seed, ref, "fill", stamp) >= p:
                return
            net = cap
        units = min(order.state.remaining, self._displayed_units(order.legs, quotes))
        if units <= 0:
            return
        ticks = [
            float(tick_size(p, tick_rule_for(leg.contract.symbol)))
            for leg, p in zip(order.legs, leg_prices(net, ratios, mids, naturals), strict=True)
        ]
        prices = on_tick_grid(net, ratios, leg_prices(net, ratios, mids, naturals), ticks)
        self._execute(order, units, prices, ts)

    @staticmethod
    def _displayed_units(legs: Sequence[Leg], quotes: Sequence[Quote]) -> float:
        units = math.inf
        for leg, q in zip(legs, quotes, strict=True):
            size = q.ask_size if leg.ratio > 0 else q.bid_size
            if math.isfinite(size):
                units = min(units, math.floor(size / abs(leg.ratio)))
        return max(units, 1.0) if math.isfinite(units) else math.inf

    def _execute(self, order: _Order, units: float, prices: list[float], ts: datetime) -> None:
        order.chunks += 1
        broker_id = order.state.broker_order_id or 0
        leg_qty = [leg.ratio * units for leg in order.legs]
        for leg, q in zip(order.legs, leg_qty, strict=True):
            t = leg.contract.sec_type
            order.filled_by_type[t] = order.filled_by_type.get(t, 0.0) + abs(q)
        total = self.commissions.order_total(order.filled_by_type)
        chunk_commission = max(total - order.commission_charged, 0.0)
        order.commission_charged = total
        abs_total = sum(abs(q) for q in leg_qty)
        # In cents, as IB reports them; the last leg takes what rounding left over.
        shares = [
            round(chunk_commission * abs(q) / abs_total, 2) if abs_total else 0.0 for q in leg_qty
        ]
        shares[-1] = round(chunk_commission - sum(shares[:-1]), 2)
        fills: list[Fill] = []
        for i, (leg, qty, price, fee) in enumerate(
            zip(order.legs, leg_qty, prices, shares, strict=True)
        ):
            price = round(price, 6)
            self._ledger.apply_trade(leg.contract, qty, price, fee)
            fills.append(
                Fill(
                    exec_id=f"sim.{broker_id:08d}.{order.chunks:03d}.{i + 1:02d}",
                    order_ref=order.intent.order_ref,
                    contract=leg.contract,
                    quantity=qty,
                    price=price,
                    ts=ts,
                    commission=fee,
                )
            )
        net = sum(leg.ratio * f.price for leg, f in zip(order.legs, fills, strict=True))
        st = order.state
        filled = st.filled_quantity + units
        prev = st.avg_fill_price if st.filled_quantity > 0 else 0.0
        avg = (prev * st.filled_quantity + net * units) / filled
        done = filled >= st.quantity - _EPS
        order.state = replace(
            st,
            status=OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED,
            filled_quantity=filled,
            avg_fill_price=round(avg, 6),
            updated_at=ts,
        )
        self._fills.extend(fills)
        for f in fills:
            self.events.emit(FillEvent(f))
        self.events.emit(OrderStatusEvent(order.state))

    def _finish(
        self, order: _Order, status: OrderStatus, reason: str, ts: datetime | None = None
    ) -> None:
        order.state = replace(
            order.state, status=status, reason=reason, updated_at=ts or self.market.now()
        )
        self.events.emit(OrderStatusEvent(order.state))
