"""Value types the simulated market hands out. Prices in USD, timestamps tz-aware UTC."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class SimRegime(StrEnum):
    """The true (hidden) market regime driving the simulation."""

    CALM = "calm"
    TRENDING = "trending"
    HIGH_VOL = "high_vol"
    CRASH = "crash"


REGIMES: tuple[SimRegime, ...] = tuple(SimRegime)


@dataclass(frozen=True, slots=True)
class SimQuote:
    """Top of book for a stock, index or future.

    ``bid``/``ask``/``last`` in price units of the instrument (USD; index points
    for futures and VIX); sizes in shares or contracts. An index (VIX) has NaN
    bid/ask and zero sizes. ``ts`` is when the prices were current: the query
    time while the market is open, the last close while it is shut.
    """

    symbol: str
    con_id: int
    bid: float
    ask: float
    last: float
    bid_size: int
    ask_size: int
    ts: datetime

    @property
    def mid(self) -> float:
        """Midpoint of bid and ask (``last`` for an index)."""
        if math.isnan(self.bid) or math.isnan(self.ask):
            return self.last
        return (self.bid + self.ask) / 2.0


@dataclass(frozen=True, slots=True)
class SimOptionQuote:
    """Quote and greeks of one option (per share; multiply by ``multiplier`` for a contract).

    ``iv`` is the surface implied vol (0.2 = 20%); ``delta`` per $1 of the
    underlying, ``gamma`` per $1, ``theta`` per calendar day, ``vega`` per vol
    point (0.01). ``open_interest`` in contracts.
    """

    symbol: str
    expiry: date
    strike: float
    right: str
    con_id: int
    bid: float
    ask: float
    last: float
    mid: float
    iv: float
    delta: float
    gamma: float
    theta: float
    vega: float
    bid_size: int
    ask_size: int
    open_interest: int
    underlying_price: float
    ts: datetime
    multiplier: int = 100


@dataclass(frozen=True, slots=True, eq=False)
class SimChain:
    """Every strike x (call, put) of one expiry at one moment, as parallel read-only arrays.

    Rows are sorted by strike, calls first at each strike. Units as in
    ``SimOptionQuote``.
    """

    underlying: str
    expiry: date
    underlying_price: float
    ts: datetime
    con_id: IntArray
    strike: FloatArray
    is_call: BoolArray
    bid: FloatArray
    ask: FloatArray
    last: FloatArray
    mid: FloatArray
    iv: FloatArray
    delta: FloatArray
    gamma: FloatArray
    theta: FloatArray
    vega: FloatArray
    bid_size: IntArray
    ask_size: IntArray
    open_interest: IntArray
    multiplier: int = 100

    def __len__(self) -> int:
        return int(self.strike.shape[0])

    def row(self, strike: float, right: str) -> int:
        """Return the row index of (strike, right); raise ``KeyError`` if absent."""
        want_call = right.upper() == "C"
        hits = np.flatnonzero((self.strike == strike) & (self.is_call == want_call))
        if hits.size == 0:
            raise KeyError(f"no {right} {strike} in the {self.underlying} {self.expiry} chain")
        return int(hits[0])


@dataclass(frozen=True, slots=True)
class SimFuture:
    """A futures contract: ``multiplier`` is USD per index point."""

    root: str
    local_symbol: str
    expiry: date
    multiplier: int
    exchange: str
    con_id: int


@dataclass(frozen=True, slots=True)
class SimInstrument:
    """What a con_id stands for. ``sec_type`` is IB's: STK, IND, FUT or OPT."""

    con_id: int
    sec_type: str
    symbol: str
    local_symbol: str
    exchange: str
    primary_exchange: str
    currency: str
    multiplier: int
    expiry: date | None = None
    strike: float | None = None
    right: str | None = None
    trading_class: str = ""
