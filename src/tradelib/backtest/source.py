"""The one interface every backtest market answers to: ``MarketSource``.

It is the surface ``SimBroker`` already reads from ``tradelib.sim.SimulatedMarket``
(a forward-only clock, spot and top-of-book quotes, listed expiries and strikes,
option chains as parallel arrays, stable contract ids, bars), plus what a
backtest must know about where its numbers come from: the trading days it can
serve, the volatility index it follows, and whether its option quotes are
``modelled`` (made up from a model) or recorded (what a market really showed).

Three sources implement it: the simulated market itself, ``HistoricalSource``
(user-brought daily OHLC + a volatility index, quotes modelled) and
``RecordedChainSource`` (imported end-of-day chains, quotes recorded).
Values are the simulated market's own types (``SimQuote``, ``SimChain``,
``SimOptionQuote``, ``SimInstrument``): same units, same conventions.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Protocol, runtime_checkable

import polars as pl

from tradelib.errors import ContractError
from tradelib.markethours import MarketHours, require_utc
from tradelib.sim.types import (
    FloatArray,
    SimChain,
    SimFuture,
    SimInstrument,
    SimOptionQuote,
    SimQuote,
)

__all__ = ["ForwardClock", "MarketSource", "check_right", "option_quote_from_chain"]


@runtime_checkable
class MarketSource(Protocol):
    """A market a broker and a backtest can run over; times UTC, prices USD.

    Every query takes ``ts`` (default: ``now()``) and refuses a ``ts`` after
    ``now()``: a source never shows the future. ``intraday`` False means quotes
    are one recorded snapshot per day, stamped with the snapshot time
    (``quote_time(day)``); they are stale at any other moment.
    """

    hours: MarketHours

    @property
    def name(self) -> str:
        """Say what the source is, e.g. ``"history(SPY,QQQ,IWM; VIX)"``."""
        ...

    @property
    def modelled(self) -> bool:
        """True when option quotes come from a model, False when recorded."""
        ...

    @property
    def intraday(self) -> bool:
        """True when quotes move through the session, False for one snapshot a day."""
        ...

    @property
    def underlyings(self) -> tuple[str, ...]:
        """Return the optionable symbols."""
        ...

    @property
    def vol_index(self) -> str | None:
        """Return the volatility index symbol (``spot(vol_index)``), None when there is none."""
        ...

    def trading_days(self, start: date | None = None, end: date | None = None) -> list[date]:
        """Return the exchange days with data in ``[start, end]``; outside the data, raise."""
        ...

    def quote_time(self, day: date) -> datetime:
        """Return when ``day``'s quotes are taken: its open for intraday sources, else the snapshot."""
        ...

    def now(self) -> datetime: ...

    def advance(self, seconds: float) -> None: ...

    def advance_to(self, ts: datetime) -> None: ...

    def is_open(self, symbol: str, ts: datetime | None = None) -> bool: ...

    def spot(self, symbol: str, ts: datetime | None = None) -> float: ...

    def quote(self, symbol: str, ts: datetime | None = None) -> SimQuote: ...

    def expiries(self, symbol: str, ts: datetime | None = None) -> list[date]: ...

    def strikes(self, symbol: str, expiry: date, ts: datetime | None = None) -> FloatArray: ...

    def option_chain(self, symbol: str, expiry: date, ts: datetime | None = None) -> SimChain: ...

    def option_quote(
        self, symbol: str, expiry: date, strike: float, right: str, ts: datetime | None = None
    ) -> SimOptionQuote: ...

    def con_id(
        self,
        symbol: str,
        *,
        expiry: date | None = None,
        strike: float | None = None,
        right: str | None = None,
    ) -> int: ...

    def instrument(self, con_id: int) -> SimInstrument: ...

    def futures_contract(self, root: str, ts: datetime | None = None) -> SimFuture: ...

    def bars(
        self, symbol: str, start: datetime, end: datetime, bar_seconds: int
    ) -> pl.DataFrame: ...


class ForwardClock:
    """A clock that only moves forward and refuses questions about the future."""

    def __init__(self, start: datetime) -> None:
        self._now = require_utc(start, "start")

    def now(self) -> datetime:
        """Return the source's current time (UTC)."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds`` (>= 0)."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(
                f"seconds must be finite and >= 0 (time never goes back), got {seconds!r}"
            )
        self._now += timedelta(seconds=seconds)

    def advance_to(self, ts: datetime) -> None:
        """Move forward to ``ts``; raise ``ValueError`` if it is in the past."""
        target = require_utc(ts, "ts")
        if target < self._now:
            raise ValueError(
                f"ts {target.isoformat()} is before the source's time {self._now.isoformat()}; "
                "time never goes backwards"
            )
        self._now = target

    def at(self, ts: datetime | None) -> datetime:
        """Return ``ts`` (default now), refusing the future (no look-ahead)."""
        if ts is None:
            return self._now
        t = require_utc(ts, "ts")
        if t > self._now:
            raise ValueError(
                f"ts {t.isoformat()} is after the source's time {self._now.isoformat()} (no look-ahead)"
            )
        return t


def option_quote_from_chain(chain: SimChain, j: int, right: str) -> SimOptionQuote:
    """Return row ``j`` of ``chain`` as one option quote."""
    return SimOptionQuote(
        symbol=chain.underlying,
        expiry=chain.expiry,
        strike=float(chain.strike[j]),
        right=right,
        con_id=int(chain.con_id[j]),
        bid=float(chain.bid[j]),
        ask=float(chain.ask[j]),
        last=float(chain.last[j]),
        mid=float(chain.mid[j]),
        iv=float(chain.iv[j]),
        delta=float(chain.delta[j]),
        gamma=float(chain.gamma[j]),
        theta=float(chain.theta[j]),
        vega=float(chain.vega[j]),
        bid_size=int(chain.bid_size[j]),
        ask_size=int(chain.ask_size[j]),
        open_interest=int(chain.open_interest[j]),
        underlying_price=chain.underlying_price,
        ts=chain.ts,
        multiplier=chain.multiplier,
    )


def check_right(right: str) -> str:
    """Return "C" or "P"; raise ``ContractError`` for anything else."""
    r = right.upper() if isinstance(right, str) else right
    if r not in ("C", "P"):
        raise ContractError(f"option right must be 'C' or 'P', got {right!r}")
    return str(r)
