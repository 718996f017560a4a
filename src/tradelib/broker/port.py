"""The broker port: the one interface every broker implementation offers.

Two implementations pass one shared contract test suite: ``SimBroker`` (the
embedded simulated market, the default) and ``IBBroker`` (ib_async). Rules,
strategies, risk and jobs see only this interface and cannot tell them apart.

The port is synchronous: calls block until the broker answers (IBBroker runs
ib_async's event loop underneath). Time belongs to the broker: ``now()`` is
the simulated time for SimBroker and the wall clock for IB; ``wait()`` lets
the market move (it advances the simulated clock or sleeps).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import polars as pl

from tradelib.domain import (
    AccountSnapshot,
    ChainSnapshot,
    Contract,
    Dividend,
    Fill,
    OrderIntent,
    OrderState,
    Position,
    Quote,
    TradingMode,
)
from tradelib.errors import MarketDataLineLimitError


@dataclass(frozen=True, slots=True)
class OptionChainInfo:
    """Expiries and strikes listed for an underlying's options."""

    underlying: str
    expiries: tuple[date, ...]
    strikes: dict[date, tuple[float, ...]] = field(default_factory=dict)
    multiplier: float = 100.0
    trading_class: str = ""
    exchange: str = "SMART"

    def strikes_for(self, expiry: date) -> tuple[float, ...]:
        """Strikes listed for ``expiry`` (empty when the expiry is unknown)."""
        return self.strikes.get(expiry, ())


@dataclass(frozen=True, slots=True)
class OrderStatusEvent:
    state: OrderState


@dataclass(frozen=True, slots=True)
class FillEvent:
    fill: Fill


@dataclass(frozen=True, slots=True)
class QuoteEvent:
    quote: Quote


@dataclass(frozen=True, slots=True)
class ConnectionEvent:
    connected: bool
    reason: str = ""


BrokerEvent = OrderStatusEvent | FillEvent | QuoteEvent | ConnectionEvent
EventHandler = Callable[[BrokerEvent], None]


class EventHub:
    """Minimal synchronous publish/subscribe for broker events."""

    __slots__ = ("_handlers",)

    def __init__(self) -> None:
        self._handlers: list[EventHandler] = []

    def subscribe(self, handler: EventHandler) -> Callable[[], None]:
        """Register ``handler``; returns a function that unregisters it."""
        self._handlers.append(handler)
        return lambda: self._handlers.remove(handler) if handler in self._handlers else None

    def emit(self, event: BrokerEvent) -> None:
        for handler in list(self._handlers):
            handler(event)


def admit_streams(
    streaming: Collection[str], resolved: Sequence[Contract], budget: int
) -> dict[str, Contract]:
    """The contracts of ``resolved`` not yet in ``streaming`` (keys), checked against ``budget``.

    Raise :class:`MarketDataLineLimitError` (so nothing starts) when streaming
    them would exceed the budget: both brokers stop here, before IB's error 101.
    """
    new = {c.key: c for c in resolved if c.key not in streaming}
    if len(streaming) + len(new) > budget:
        raise MarketDataLineLimitError(in_use=len(streaming), budget=budget, requested=len(new))
    return new


class Broker(ABC):
    """Account, market data and order routing behind one interface."""

    events: EventHub

    # --- session -------------------------------------------------------------------
    @property
    @abstractmethod
    def mode(self) -> TradingMode:
        """Trading mode; in READONLY no order is ever placed, modified or cancelled."""

    @abstractmethod
    def connect(self) -> None:
        """Open the session (idempotent)."""

    @abstractmethod
    def disconnect(self) -> None:
        """Close the session (idempotent); streams are dropped."""

    @property
    @abstractmethod
    def is_connected(self) -> bool: ...

    @abstractmethod
    def now(self) -> datetime:
        """The broker's current time (UTC): simulated time for SimBroker."""

    @abstractmethod
    def wait(self, seconds: float) -> None:
        """Let ``seconds`` of market time pass, processing events meanwhile."""

    @abstractmethod
    def is_market_open(self, contract: Contract) -> bool:
        """True when ``contract`` trades now (regular hours for stocks and options)."""

    # --- account ---------------------------------------------------------------------
    @abstractmethod
    def account(self) -> AccountSnapshot:
        """Balances and margin now (account id masked)."""

    @abstractmethod
    def positions(self) -> list[Position]:
        """Every non-zero position, contracts resolved (con_id set)."""

    # --- contracts and market data ------------------------------------------------------
    @abstractmethod
    def resolve(self, contract: Contract) -> Contract:
        """Return ``contract`` completed by the broker (con_id, multiplier...); ContractError if unknown."""

    @abstractmethod
    def option_chain(self, underlying: str) -> OptionChainInfo:
        """Listed expiries and strikes for ``underlying``'s options."""

    @abstractmethod
    def snapshot(self, contracts: Sequence[Contract]) -> list[Quote]:
        """One quote per contract (same order); options carry greeks and the underlying price."""

    def snapshot_chain(
        self, underlying: str, info: OptionChainInfo, expiries: Sequence[date]
    ) -> ChainSnapshot | None:
        """Every option ``info`` lists at ``expiries`` quoted in one call, or None.

        None (this default) means the broker quotes contract by contract: build the
        contracts and ``snapshot`` them. A broker that answers gives exactly what
        that snapshot would (same quotes, same contracts once resolved).
        """
        del underlying, info, expiries
        return None

    @property
    @abstractmethod
    def line_budget(self) -> int:
        """How many streaming market-data lines may be open at once."""

    @abstractmethod
    def stream(self, contracts: Sequence[Contract]) -> None:
        """Start streaming ``contracts``; MarketDataLineLimitError (nothing started) if over budget."""

    @abstractmethod
    def unstream(self, contracts: Sequence[Contract]) -> None:
        """Stop streaming ``contracts`` (unknown ones are ignored)."""

    @abstractmethod
    def streaming(self) -> list[Contract]:
        """Contracts currently streaming."""

    @abstractmethod
    def latest(self, contract: Contract) -> Quote | None:
        """Latest streamed quote for ``contract`` (None if not streaming or no data yet)."""

    @abstractmethod
    def bars(
        self, contract: Contract, start: datetime, end: datetime, bar_seconds: int
    ) -> pl.DataFrame:
        """Historical OHLCV bars (columns ts, open, high, low, close, volume; ts = bar start, UTC)."""

    # --- orders --------------------------------------------------------------------------
    @abstractmethod
    def place_order(self, intent: OrderIntent) -> OrderState:
        """Send ``intent``; a second call with the same order_ref returns the existing order."""

    @abstractmethod
    def cancel_order(self, order_ref: str) -> OrderState:
        """Cancel a working order (a terminal order is returned unchanged)."""

    @abstractmethod
    def order(self, order_ref: str) -> OrderState | None:
        """Current state of the order with ``order_ref`` (None if the broker has none)."""

    @abstractmethod
    def open_orders(self) -> list[OrderState]:
        """Every working (non-terminal) order."""

    @abstractmethod
    def executions(self, since: datetime | None = None) -> list[Fill]:
        """Fills (per leg) since ``since`` (default: the current session)."""

    @abstractmethod
    def dividend(self, symbol: str) -> Dividend | None:
        """The next ex-dividend date and amount of ``symbol`` (None: none announced)."""
