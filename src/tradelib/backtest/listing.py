"""Contracts of a backtest source: stable ids, listed expiries and strike grids (pure functions).

Ids are source-local: the symbol's index in the source's sorted symbol list,
so any symbol and any expiry date (1970-2149) has one, unlike the simulated
market's compact ids (SPY/QQQ/IWM from 2020 on).
"""

from __future__ import annotations

import math
import zlib
from datetime import date, timedelta

import numpy as np

from tradelib.errors import ContractError
from tradelib.markethours import MarketHours
from tradelib.sim.contracts import (
    UNDERLYING_CON_IDS,
    expiries_listed_on,
    option_instrument,
    strike_lattice,
)
from tradelib.sim.types import FloatArray, IntArray, SimInstrument

# Option id: flag | symbol(8 bits) | expiry days since 1970(16) | call(1) | strike/1000 USD(35)
_OPT_FLAG = 1 << 62
_EPOCH = date(1970, 1, 1)
_STRIKE_SCALE = 1000
_STRIKE_BITS = 35


class ContractBook:
    """Ids and instruments of a source's underlyings and their options."""

    def __init__(self, underlyings: tuple[str, ...], vol_index: str | None, hours: MarketHours):
        if len(underlyings) > 255:
            raise ValueError("at most 255 underlyings per source")
        self.underlyings = tuple(sorted(underlyings))
        self.vol_index = vol_index
        self.hours = hours
        self._index = {s: i for i, s in enumerate(self.underlyings)}

    def underlying_con_id(self, symbol: str) -> int:
        """Return the id of an underlying or the vol index (IB's real ids where known)."""
        if symbol not in self._index and symbol != self.vol_index:
            raise ContractError(f"unknown symbol {symbol!r} (known: {', '.join(self.underlyings)})")
        known = UNDERLYING_CON_IDS.get(symbol)
        return (
            known if known is not None else 100_000_000 + zlib.crc32(symbol.encode()) % 100_000_000
        )

    def option_con_id(self, symbol: str, expiry: date, strike: float, right: str) -> int:
        """Return the id of one option; ``right`` is "C" or "P"."""
        i = self._symbol_index(symbol)
        if right not in ("C", "P"):
            raise ContractError(f"option right must be 'C' or 'P', got {right!r}")
        days = (expiry - _EPOCH).days
        units = round(strike * _STRIKE_SCALE)
        if not 0 <= days < 1 << 16 or not 0 < units < 1 << _STRIKE_BITS:
            raise ContractError(f"{symbol} {expiry} {strike} is outside the id range")
        return _OPT_FLAG | i << 52 | days << 36 | (right == "C") << _STRIKE_BITS | units

    def option_con_ids(
        self, symbol: str, expiry: date, strikes: FloatArray, is_call: np.ndarray
    ) -> IntArray:
        """Vectorised ``option_con_id`` for one expiry."""
        head = _OPT_FLAG | self._symbol_index(symbol) << 52 | (expiry - _EPOCH).days << 36
        units = np.round(np.asarray(strikes) * _STRIKE_SCALE).astype(np.int64)
        return np.asarray(
            head | (np.asarray(is_call).astype(np.int64) << _STRIKE_BITS) | units, dtype=np.int64
        )

    def instrument(self, con_id: int) -> SimInstrument:
        """Return what ``con_id`` stands for; raise ``ContractError`` if nothing here."""
        for symbol in (*self.underlyings, *([self.vol_index] if self.vol_index else [])):
            if con_id == self.underlying_con_id(symbol):
                if symbol == self.vol_index:
                    return SimInstrument(con_id, "IND", symbol, symbol, "CBOE", "CBOE", "USD", 1)
                return SimInstrument(
                    con_id, "STK", symbol, symbol, "SMART", "ARCA", "USD", 1, trading_class=symbol
                )
        if con_id & _OPT_FLAG and con_id < _OPT_FLAG << 1:
            rest = con_id ^ _OPT_FLAG
            i, days = rest >> 52, (rest >> 36) & 0xFFFF
            call, units = (rest >> _STRIKE_BITS) & 1, rest & ((1 << _STRIKE_BITS) - 1)
            if i < len(self.underlyings) and units > 0:
                symbol = self.underlyings[i]
                expiry = _EPOCH + timedelta(days=int(days))
                strike = units / _STRIKE_SCALE
                right = "C" if call else "P"
                return option_instrument(con_id, symbol, expiry, strike, right)
        raise ContractError(f"unknown con_id {con_id}")

    def _symbol_index(self, symbol: str) -> int:
        i = self._index.get(symbol)
        if i is None:
            raise ContractError(
                f"{symbol!r} has no options here (optionable: {', '.join(self.underlyings)})"
            )
        return i


def listed_expiries(
    today: date,
    weekly_days: tuple[int, ...],
    hours: MarketHours,
    *,
    weeks: int = 8,
    months: int = 6,
) -> list[date]:
    """Return the expiries listed on ``today`` (today's own included), ascending.

    The simulated market's listing rule (``expiries_listed_on``): weeklies on
    ``weekly_days`` (Mon=0) ``weeks`` ahead, monthly third Fridays of this and
    the next ``months`` months, holiday expiries moved to the previous trading day.
    """
    return expiries_listed_on(today, weekly_days, hours, weeks=weeks, months=months)


def strike_grid(spot: float, t_years: float, vol: float, fine_step: float) -> FloatArray:
    """Return listed strikes: ``fine_step`` near the money, 5x coarser beyond, wider with time.

    Puts reach deeper (6 sd) than calls (3.5 sd), as listings do.
    """
    sd = vol * math.sqrt(max(t_years, 1.0 / 365.0))
    return strike_lattice(spot, sd, fine_step, 5.0 * fine_step)


def default_fine_step(spot: float) -> float:
    """Return a listing-like strike step for an underlying priced ``spot``."""
    if spot < 25:
        return 0.5
    if spot < 1000:
        return 1.0
    return 5.0
