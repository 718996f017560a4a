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
    OptionChainInfo,
    OrderStatusEvent,
    QuoteEvent,
    admit_streams,
)
from tradelib.broker.sim_account import SimAccounting, _expired
from tradelib.broker.sim_fills import (
    CommissionSchedule,
    FillModel,
)
from tradelib.broker.sim_ledger import Ledger
from tradelib.broker.sim_matching import (
    SimOrderMatching,
)
from tradelib.broker.sim_quotes import chain_snapshot, market_quotes, resolve_contract
from tradelib.domain import (
    NEW_YORK,
    AccountSnapshot,
    ChainSnapshot,
    Contract,
    Dividend,
    Fill,
    Leg,
    OrderIntent,
    OrderState,
    OrderStatus,
    Position,
    Quote,
    Right,
    SecType,
    TimeInForce,
    TradingMode,
)
from tradelib.errors import (
    ContractError,
    NotConnectedError,
    ReadOnlyModeError,
    UnknownOrderError,
)
from tradelib.markethours import MarketHours
from tradelib.secrets import mask_account
from tradelib.sim import SimulatedMarket
from tradelib.sim.dividends import next_dividend

if TYPE_CHECKING:
    from tradelib.backtest.source import MarketSource
    from tradelib.config import TradingConfig

__all__ = ["CommissionSchedule", "FillModel", "SimBroker", "UnknownOrderError"]

# IB's "No security definition has been found for the request".
_NO_SECURITY_CODE = 200


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


class SimBroker(SimOrderMatching, SimAccounting, Broker):
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
        # tolist: the Python floats float(k) gives, without a call per strike
        strikes = {
            e: tuple(np.asarray(self.market.strikes(symbol, e), dtype=np.float64).tolist())
            for e in expiries
        }
        return OptionChainInfo(symbol, expiries, strikes, 100.0, symbol, "SMART")

    def snapshot(self, contracts: Sequence[Contract]) -> list[Quote]:
        """One quote per contract, in order; options carry broker greeks and the underlying price."""
        self._require_session()
        resolved = [self._resolve(c) for c in contracts]
        return market_quotes(self.market, resolved)

    def snapshot_chain(
        self, underlying: str, info: OptionChainInfo, expiries: Sequence[date]
    ) -> ChainSnapshot | None:
        """The listed options of ``expiries`` priced as whole chains (see ``sim_quotes``).

        None when a subclass quotes differently (overrides ``snapshot``): its answer stands.
        """
        self._require_session()
        if type(self).snapshot is not SimBroker.snapshot:
            return None

        def resolve(expiry: date, strike: float, right: Right) -> Contract:
            # The contract the caller would have built and snapshotted.
            return self._resolve(
                Contract.option(
                    underlying,
                    expiry,
                    strike,
                    right,
                    multiplier=info.multiplier,
                    trading_class=info.trading_class,
                )
            )

        return chain_snapshot(self.market, info, expiries, resolve)

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
