"""SimBroker: the broker port over the embedded simulated market.

Time belongs to the market: ``now()`` is the market's clock and ``wait()``
advances it, re-checking working orders along the way (every
``FillModel.check_interval_s`` while an order could fill, in larger steps
when every order rests at or below mid, and straight to the next event when
nothing is working). Session opens and closes are always stepped on exactly:
at the open the day-P&L base is taken; at the close DAY orders expire
(CANCELLED, "day order expired") and options expiring that day settle (OTM
vanish, ITM are exercised or assigned into stock at the strike).

If someone advances the market directly, the next call catches up on the
session events in between (orders are only matched while time passes through
``wait``).

Order handling choices (asserted by the contract suite):

* READONLY mode raises ``ReadOnlyModeError`` on ``place_order`` and
  ``cancel_order``; nothing is recorded.
* Everything wrong with an order itself (market closed for a leg, an unknown
  contract, a NaN/crossed/stale quote) makes it REJECTED with the reason: a
  value, not an exception, so a retry with the same order_ref returns the same
  rejection and nothing is ever sent on bad data.
* An order whose full fill (at mid) would need more margin plus option debit
  than the net liquidation is REJECTED ("insufficient equity"), unless it
  lowers the requirement: exits always pass.
* The same order_ref placed twice returns the existing order.

At an option's expiry close, working orders on it are CANCELLED ("contract
expired") and its streams stop. Futures are front-month only and are not
rolled or settled here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from tradelib.broker.port import (
    Broker,
    ConnectionEvent,
    EventHub,
    FillEvent,
    OptionChainInfo,
    OrderStatusEvent,
    QuoteEvent,
    admit_streams,
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
from tradelib.broker.sim_quotes import market_quotes, resolve_contract
from tradelib.domain import (
    NEW_YORK,
    AccountSnapshot,
    Contract,
    Dividend,
    Fill,
    Leg,
    OrderIntent,
    OrderState,
    OrderStatus,
    OrderType,
    Position,
    Quote,
    Right,
    SecType,
    TimeInForce,
    TradingMode,
    check_quote,
)
from tradelib.errors import (
    ContractError,
    NotConnectedError,
    ReadOnlyModeError,
    UnknownOrderError,
)
from tradelib.markethours import MarketHours
from tradelib.pricing import tick_rule_for, tick_size
from tradelib.risk.margin import margin_requirement
from tradelib.secrets import mask_account
from tradelib.sim import SimulatedMarket
from tradelib.sim.dividends import next_dividend

if TYPE_CHECKING:
    from tradelib.backtest.source import MarketSource
    from tradelib.config import TradingConfig

__all__ = ["CommissionSchedule", "FillModel", "SimBroker", "UnknownOrderError"]

_EPS = 1e-9
# Quotes older than this are stale for order validation (sim quotes are stamped "now").
MAX_QUOTE_AGE_S = 10.0
# IB's "No security definition has been found for the request".
_NO_SECURITY_CODE = 200
# IB's "Order rejected" family, used for market-closed and bad-quote rejections.
_REJECTED_CODE = 201


@dataclass(slots=True)
class _Order:
    """One order at the simulated exchange and its matching bookkeeping."""

    intent: OrderIntent
    legs: tuple[Leg, ...]  # resolved contracts, execution ratios
    state: OrderState
    filled_by_type: dict[SecType, float] = field(default_factory=dict)
    commission_charged: float = 0.0
    chunks: int = 0
    near: bool = True  # could fill at the next check (drives the step size)


class SimBroker(Broker):
    """The broker port over a market source (the simulated market, history, recorded chains):
    fills, commissions, margin, expiries."""

    def __init__(
        self,
        market: MarketSource,
        *,
        initial_cash: float = 100_000.0,
        line_budget: int = 100,
        mode: TradingMode = TradingMode.SIM,
        account_id: str = "SIM000001",
        commissions: CommissionSchedule | None = None,
        fill_seed: int = 0,
        fill_model: FillModel | None = None,
    ) -> None:
        if not (math.isfinite(initial_cash) and initial_cash > 0):
            raise ValueError(f"initial_cash must be > 0, got {initial_cash}")
        if line_budget <= 0:
            raise ValueError(f"line_budget must be > 0, got {line_budget}")
        self.events = EventHub()
        self.market = market
        self.commissions = commissions or CommissionSchedule()
        self.fill_model = fill_model or FillModel()
        self.fill_seed = int(fill_seed)
        self._mode = TradingMode(mode)
        self._account_id = account_id
        self._line_budget = int(line_budget)
        self._hours: MarketHours = market.hours
        self._connected = False
        self._ledger = Ledger(cash=float(initial_cash))
        self._orders: dict[str, _Order] = {}  # order_ref -> order
        self._fills: list[Fill] = []
        self._streams: dict[str, Contract] = {}  # contract key -> resolved contract
        self._resolved: dict[str, Contract] = {}  # contract key -> resolved contract
        self._next_order_id = 1
        self._expiry_seq = 0
        now = self.market.now()
        self._processed_to = now
        self._day_base_nl = float(initial_cash)
        self._last_close_nl: float | None = None  # net liquidation at the last session close

    @classmethod
    def from_config(cls, cfg: TradingConfig, market: MarketSource | None = None) -> SimBroker:
        """Build from ``cfg`` (line budget, simulation cash and seed); a market is made if none.

        The mode is READONLY when ``cfg.ib.mode`` is "readonly", else SIM: a
        simulated broker never presents itself as paper or live.
        """
        if market is None:
            market = SimulatedMarket.from_config(cfg)
        readonly = cfg.ib.mode == TradingMode.READONLY.value
        return cls(
            market,
            initial_cash=cfg.simulation.initial_cash,
            line_budget=cfg.market_data.line_budget,
            mode=TradingMode.READONLY if readonly else TradingMode.SIM,
            fill_seed=cfg.simulation.seed,
        )

    def __repr__(self) -> str:
        state = "connected" if self._connected else "disconnected"
        return f"SimBroker({mask_account(self._account_id)}, {self._mode.value}, {state})"

    @property
    def simulated_market(self) -> SimulatedMarket:
        """The market as the embedded simulator (the gateway and saved state need it).

        Raises ``TypeError`` over any other source (historical or recorded quotes):
        those run in backtests, in one process, never behind the gateway.
        """
        if not isinstance(self.market, SimulatedMarket):
            raise TypeError(f"{self.market.name} is not the simulated market")
        return self.market

    # --- session ----------------------------------------------------------------------
    @property
    def mode(self) -> TradingMode:
        return self._mode

    def connect(self) -> None:
        """Open the session (idempotent)."""
        if self._connected:
            return
        self._connected = True
        self._sync()
        self.events.emit(ConnectionEvent(True))

    def disconnect(self) -> None:
        """Close the session (idempotent); streams are dropped, orders stay at the broker."""
        if not self._connected:
            return
        self._connected = False
        self._streams.clear()
        self.events.emit(ConnectionEvent(False, "disconnect requested"))

    @property
    def is_connected(self) -> bool:
        return self._connected

    def now(self) -> datetime:
        """The simulated market time (UTC)."""
        return self.market.now()

    def wait(self, seconds: float) -> None:
        """Advance the market by ``seconds``, matching orders and handling opens and closes."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"wait: seconds must be finite and >= 0, got {seconds}")
        self._sync()
        end = self.market.now() + timedelta(seconds=seconds)
        while True:
            now = self.market.now()
            if now >= end:
                break
            boundary = min(self._next_boundary(now), end)
            step_to = min(self._next_step(now), boundary)
            self.market.advance_to(step_to)
            self._process_to(step_to, dt=(step_to - now).total_seconds())
        self._emit_stream_quotes()

    def is_market_open(self, contract: Contract) -> bool:
        """True when ``contract`` trades now (regular hours; futures on CME hours)."""
        self._require_session()
        return bool(self.market.is_open(contract.symbol))

    # --- account ---------------------------------------------------------------------------
    def account(self) -> AccountSnapshot:
        """Balances and Reg-T style margin now (see ``sim_margin``); init == maint margin."""
        self._require_session()
        positions = self._marked_positions()
        return self._snapshot_account(positions)

    def positions(self) -> list[Position]:
        """Every non-zero position marked at mid, with unrealized and realized P&L."""
        self._require_session()
        return self._marked_positions()

    # --- contracts and market data ------------------------------------------------------------
    def resolve(self, contract: Contract) -> Contract:
        """Complete ``contract`` from the market (con_id, multiplier...); ContractError if unknown."""
        self._require_session()
        return self._resolve(contract)

    def option_chain(self, underlying: str) -> OptionChainInfo:
        """Listed expiries and strikes of ``underlying``'s options."""
        self._require_session()
        symbol = underlying.strip().upper()
        expiries = tuple(self.market.expiries(symbol))
        strikes = {
            e: tuple(float(k) for k in np.asarray(self.market.strikes(symbol, e))) for e in expiries
        }
        return OptionChainInfo(symbol, expiries, strikes, 100.0, symbol, "SMART")

    def snapshot(self, contracts: Sequence[Contract]) -> list[Quote]:
        """One quote per contract, in order; options carry broker greeks and the underlying price."""
        self._require_session()
        resolved = [self._resolve(c) for c in contracts]
        return market_quotes(self.market, resolved)

    @property
    def line_budget(self) -> int:
        return self._line_budget

    def stream(self, contracts: Sequence[Contract]) -> None:
        """Start streaming; MarketDataLineLimitError (nothing started) if over the line budget."""
        self._require_session()
        new = admit_streams(self._streams, [self._resolve(c) for c in contracts], self._line_budget)
        self._streams.update(new)

    def unstream(self, contracts: Sequence[Contract]) -> None:
        """Stop streaming ``contracts`` (unknown ones are ignored)."""
        self._require_session()
        for c in contracts:
            self._streams.pop(self._stream_key(c), None)

    def streaming(self) -> list[Contract]:
        """Contracts currently streaming."""
        self._require_session()
        return list(self._streams.values())

    def latest(self, contract: Contract) -> Quote | None:
        """The current quote of a streamed contract (None if it is not streaming)."""
        self._require_session()
        resolved = self._streams.get(self._stream_key(contract))
        return None if resolved is None else market_quotes(self.market, [resolved])[0]

    def bars(
        self, contract: Contract, start: datetime, end: datetime, bar_seconds: int
    ) -> pl.DataFrame:
        """Historical OHLCV bars of a stock, index or future (options have none here)."""
        self._require_session()
        c = self._resolve(contract)
        if c.sec_type is SecType.OPTION:
            raise ContractError(f"no historical bars for option {c.key} in the simulated market")
        df = self.market.bars(c.symbol, start, end, bar_seconds)
        return df.select(["ts", "open", "high", "low", "close", "volume"])

    # --- orders ----------------------------------------------------------------------------------
    def place_order(self, intent: OrderIntent) -> OrderState:
        """Send ``intent``; the same order_ref twice returns the existing order (see module doc)."""
        self._require_session()
        if not self._mode.may_place_orders:
            raise ReadOnlyModeError(action=f"place order {intent.order_ref}")
        existing = self._orders.get(intent.order_ref)
        if existing is not None:
            return existing.state
        now = self.market.now()
        broker_id = self._next_order_id
        self._next_order_id += 1
        state = OrderState(
            order_ref=intent.order_ref,
            status=OrderStatus.SUBMITTED,
            quantity=intent.quantity,
            limit_price=intent.limit_price,
            broker_order_id=broker_id,
            perm_id=1_000_000 + broker_id,
            updated_at=now,
        )
        legs: tuple[Leg, ...] = intent.legs
        problem: tuple[str, int] | None = None
        try:
            legs = tuple(Leg(self._resolve(leg.contract), leg.ratio) for leg in intent.legs)
        except ContractError as exc:
            problem = (exc.message, _NO_SECURITY_CODE)
        if problem is None:
            problem = self._entry_problem(legs, intent.quantity, now)
        order = _Order(intent, legs, state)
        self._orders[intent.order_ref] = order
        if problem is not None:
            order.state = replace(
                state, status=OrderStatus.REJECTED, reason=problem[0], error_code=problem[1]
            )
            self.events.emit(OrderStatusEvent(order.state))
            return order.state
        self.events.emit(OrderStatusEvent(state))
        self._try_fill(order, now, dt=1.0)
        return order.state

    def cancel_order(self, order_ref: str) -> OrderState:
        """Cancel a working order; a terminal one is returned unchanged."""
        self._require_session()
        if not self._mode.may_place_orders:
            raise ReadOnlyModeError(action=f"cancel order {order_ref}")
        order = self._orders.get(order_ref)
        if order is None:
            raise UnknownOrderError(order_ref=order_ref)
        if not order.state.status.is_terminal:
            self._finish(order, OrderStatus.CANCELLED, "cancelled by request")
        return order.state

    def order(self, order_ref: str) -> OrderState | None:
        """Current state of the order with ``order_ref`` (None if unknown)."""
        self._require_session()
        found = self._orders.get(order_ref)
        return None if found is None else found.state

    def open_orders(self) -> list[OrderState]:
        """Every working (non-terminal) order."""
        self._require_session()
        return [o.state for o in self._working()]

    def executions(self, since: datetime | None = None) -> list[Fill]:
        """Fills since ``since`` (default: since midnight New York time of the current day)."""
        self._require_session()
        if since is None:
            local = self.market.now().astimezone(NEW_YORK)
            since = datetime.combine(local.date(), time(0), tzinfo=NEW_YORK).astimezone(UTC)
        return [f for f in self._fills if f.ts >= since]

    def dividend(self, symbol: str) -> Dividend | None:
        """The simulated underlying's next quarterly dividend (``tradelib.sim.dividends``)."""
        self._require_session()
        if symbol.strip().upper() not in self.market.underlyings:
            raise ContractError(f"no stock {symbol!r} in the simulated market: no dividends")
        today = self.market.now().astimezone(NEW_YORK).date()
        return next_dividend(symbol, today, self._hours)

    # --- internals: session ------------------------------------------------------------------------
    def _require_session(self) -> None:
        if not self._connected:
            raise NotConnectedError("SimBroker session is closed: call connect() first")
        self._sync()

    def _sync(self) -> None:
        """Catch up on session events if the market clock was moved by someone else."""
        now = self.market.now()
        if now > self._processed_to:
            self._process_to(now, dt=0.0)

    def _next_boundary(self, now: datetime) -> datetime:
        return min(self._hours.next_open(now), self._hours.next_close(now))

    def _next_step(self, now: datetime) -> datetime:
        working = [o for o in self._working() if self._legs_open(o.legs)]
        if not working:
            return datetime.max.replace(tzinfo=UTC)
        near = any(o.near for o in working)
        step = self.fill_model.check_interval_s if near else self.fill_model.idle_interval_s
        return now + timedelta(seconds=step)

    def _process_to(self, ts: datetime, *, dt: float) -> None:
        """Handle opens/closes in (processed_to, ts], then match working orders at ``ts``."""
        start = self._processed_to
        for day, open_ts, close_ts in self._hours.sessions_between(
            start, ts + timedelta(seconds=1)
        ):
            if start < open_ts <= ts:
                self._on_session_open(open_ts)
            if start < close_ts <= ts:
                self._on_session_close(day, close_ts)
        self._processed_to = ts
        if dt > 0:
            for order in self._working():
                self._try_fill(order, ts, dt)

    def _on_session_open(self, ts: datetime) -> None:
        # Day P&L runs from the previous close, as IB reports it, so an overnight gap
        # counts in the new day; before any close, from the first open.
        last_close = getattr(self, "_last_close_nl", None)
        if last_close is None:
            last_close = self._net_liquidation(self._marked_positions(at=ts))
        self._day_base_nl = last_close

    def _on_session_close(self, day: date, ts: datetime) -> None:
        for order in self._working():
            if order.intent.tif is TimeInForce.DAY:
                self._finish(order, OrderStatus.CANCELLED, "day order expired", ts=ts)
            elif any(_expired(leg.contract, day) for leg in order.legs):
                self._finish(order, OrderStatus.CANCELLED, "contract expired", ts=ts)
        for key, c in list(self._streams.items()):
            if _expired(c, day):
                del self._streams[key]
        self._settle_expiries(day, ts)
        self._last_close_nl = self._net_liquidation(self._marked_positions(at=ts))

    # --- internals: contracts and quotes -------------------------------------------------------------
    def _resolve(self, contract: Contract) -> Contract:
        cached = self._resolved.get(contract.key)
        if cached is not None:
            return cached
        resolved = resolve_contract(self.market, contract)
        self._resolved[contract.key] = resolved
        self._resolved.setdefault(resolved.key, resolved)
        return resolved

    def _stream_key(self, contract: Contract) -> str:
        # A future's key changes on resolution (month -> local symbol): look up the resolved one.
        try:
            return self._resolve(contract).key
        except ContractError:
            return contract.key

    def _emit_stream_quotes(self) -> None:
        if not self._connected or not self._streams:
            return
        for q in market_quotes(self.market, list(self._streams.values())):
            self.events.emit(QuoteEvent(q))

    # --- internals: orders --------------------------------------------------------------------------------
    def _working(self) -> list[_Order]:
        return [o for o in self._orders.values() if not o.state.status.is_terminal]

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

    # --- internals: positions, expiry, account ------------------------------------------------------------
    def _marked_positions(self, at: datetime | None = None) -> list[Position]:
        holdings = self._ledger.open_holdings()
        quotes = market_quotes(self.market, [h.contract for h in holdings], at)
        out: list[Position] = []
        for h, q in zip(holdings, quotes, strict=True):
            mark = q.mark
            mult = h.contract.multiplier
            value = h.quantity * mark * mult
            out.append(
                Position(
                    h.contract,
                    h.quantity,
                    h.avg_cost,
                    market_price=mark,
                    market_value=value,
                    unrealized_pnl=value - h.quantity * h.avg_cost,
                    realized_pnl=h.realized_pnl,
                )
            )
        return out

    def _net_liquidation(self, positions: Sequence[Position]) -> float:
        # Futures hold no premium: only their open P&L adds to net liquidation.
        marked = sum(
            p.unrealized_pnl if p.contract.sec_type is SecType.FUTURE else p.market_value
            for p in positions
            if math.isfinite(p.market_value)
        )
        return self._ledger.cash + marked

    def _snapshot_account(self, positions: list[Position]) -> AccountSnapshot:
        spots = {
            p.contract.symbol: float(self.market.spot(p.contract.symbol))
            for p in positions
            if p.contract.sec_type is SecType.OPTION
        }
        margin = margin_requirement(positions, spots).total
        nl = self._net_liquidation(positions)
        excess = nl - margin
        return AccountSnapshot(
            ts=self.market.now(),
            account=mask_account(self._account_id),
            net_liquidation=round(nl, 6),
            cash=round(self._ledger.cash, 6),
            # Options buying power: what is left above the margin requirement, no stock leverage.
            buying_power=round(max(excess, 0.0), 6),
            excess_liquidity=round(excess, 6),
            init_margin=margin,
            maint_margin=margin,
            unrealized_pnl=round(sum(p.unrealized_pnl for p in positions), 6),
            realized_pnl=round(self._ledger.realized_pnl, 6),
            day_pnl=round(nl - self._day_base_nl, 6),
        )

    def _settle_expiries(self, day: date, ts: datetime) -> None:
        for h in list(self._ledger.open_holdings()):
            c = h.contract
            if c.sec_type is not SecType.OPTION or not _expired(c, day):
                continue
            assert c.strike is not None and c.right is not None
            spot = float(self.market.spot(c.symbol, ts))
            intrinsic = spot - c.strike if c.right is Right.CALL else c.strike - spot
            qty = h.quantity
            self._book_expiry(c, -qty, 0.0, ts, f"expired {day}")
            # IB auto-exercises anything at least $0.01 in the money.
            if intrinsic >= 0.01 - _EPS:
                shares = qty * c.multiplier * (1 if c.right is Right.CALL else -1)
                stock = self._resolve(Contract.stock(c.symbol))
                self._book_expiry(stock, shares, c.strike, ts, f"exercise of {c.key}")

    def _book_expiry(
        self, contract: Contract, qty: float, price: float, ts: datetime, why: str
    ) -> None:
        self._expiry_seq += 1
        self._ledger.apply_trade(contract, qty, price, 0.0)
        fill = Fill(
            exec_id=f"sim.exp.{self._expiry_seq:06d}",
            order_ref=f"expiry:{why}",
            contract=contract,
            quantity=qty,
            price=price,
            ts=ts,
        )
        self._fills.append(fill)
        self.events.emit(FillEvent(fill))


def _expired(contract: Contract, day: date) -> bool:
    """True for an option whose expiry is ``day`` or earlier (it settles at that close)."""
    return (
        contract.sec_type is SecType.OPTION
        and contract.expiry is not None
        and contract.expiry <= day
    )
