"""The simulated market's options: listed expiries, chains and single option quotes.

``MarketOptions`` is a mixin of ``SimulatedMarket`` (the facade): it prices
strikes off the surface at one second and keeps the latest answers.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from tradelib.errors import ContractError
from tradelib.markethours import MarketHours
from tradelib.pricing import bs_greeks
from tradelib.sim import contracts as ct
from tradelib.sim.config import (
    REGIME_SPECS,
    UNDERLYINGS,
    SimMarketConfig,
)
from tradelib.sim.seconds import MIN_T_YEARS, YEAR_S, _dt, _epoch, _ny_date
from tradelib.sim.surface import atm_vol, mix_hash, option_book, surface_iv
from tradelib.sim.types import (
    REGIMES,
    FloatArray,
    SimChain,
    SimOptionQuote,
)

_CHAIN_ARRAYS = (
    "con_id",
    "strike",
    "is_call",
    "bid",
    "ask",
    "last",
    "mid",
    "iv",
    "delta",
    "gamma",
    "theta",
    "vega",
    "bid_size",
    "ask_size",
    "open_interest",
)


class MarketOptions:
    """Option expiries, chains and quotes of ``SimulatedMarket`` (mixin; state lives there)."""

    config: SimMarketConfig
    hours: MarketHours
    _listings: dict[tuple[str, date], list[date]]
    _inputs_at: dict[tuple[str, date, int], dict[str, Any]]
    _chains_at: dict[tuple[str, date, int], SimChain]
    _quotes_at: dict[tuple[str, date, float, str, int], SimOptionQuote]

    if TYPE_CHECKING:

        def _at(self, ts: datetime | None) -> int: ...
        def _underlying(self, symbol: str) -> int: ...
        def _etf_price(self, i: int, t: int) -> tuple[float, int]: ...
        def _vix_value(self, t: int) -> tuple[float, int]: ...
        def _regime_index(self, t: int) -> int: ...

    # --- options --------------------------------------------------------------------------------
    def expiries(self, symbol: str, ts: datetime | None = None) -> list[date]:
        """Return the option expiries listed at ``ts`` that have not yet expired, ascending."""
        self._underlying(symbol)
        t = self._at(ts)
        today = _ny_date(t)
        key = (symbol, today)
        listed = self._listings.get(key)
        if listed is None:
            listed = ct.listed_expiries(symbol, today, self.hours)
            self._listings[key] = listed
        if listed and listed[0] == today and t >= _epoch(self.hours.session_bounds(today)[1]):
            return listed[1:]
        return list(listed)

    def _check_expiry(self, symbol: str, expiry: date, t: int) -> None:
        if not isinstance(expiry, date) or isinstance(expiry, datetime):
            raise ContractError(f"{symbol} expiry must be a date, got {expiry!r}")
        if expiry not in self.expiries(symbol, _dt(t)):
            if ct.is_expiry(symbol, expiry, self.hours) and expiry <= _ny_date(t):
                raise ContractError(f"{symbol} expiry {expiry} has expired")
            raise ContractError(f"{symbol} expiry {expiry} is not listed on {_ny_date(t)}")

    def _option_inputs(self, symbol: str, expiry: date, t: int) -> dict[str, Any]:
        key = (symbol, expiry, t)
        cached = self._inputs_at.get(key)
        if cached is None:
            cached = _remember(self._inputs_at, key, self._compute_option_inputs(symbol, expiry, t))
        return cached

    def _compute_option_inputs(self, symbol: str, expiry: date, t: int) -> dict[str, Any]:
        i = self._underlying(symbol)
        self._check_expiry(symbol, expiry, t)
        price, seen = self._etf_price(i, t)
        spot = round(price, 2)
        vix, _ = self._vix_value(seen)
        regime = REGIMES[self._regime_index(seen)]
        spec = UNDERLYINGS[symbol]
        close = _epoch(self.hours.session_bounds(expiry)[1])
        years = max((close - seen) / YEAR_S, MIN_T_YEARS)
        rate, q = self.config.rate, self.config.dividend_yield(symbol)
        return {
            "i": i,
            "spot": spot,
            "seen": seen,
            "years": years,
            "rate": rate,
            "q": q,
            "forward": spot * math.exp((rate - q) * years),
            "atm": atm_vol(vix, spec.atm_iv_ratio, years),
            "regime": regime,
            "width": spec.option_spread_mult * REGIME_SPECS[regime].spread_mult,
            "monthly": ct.is_monthly(expiry, self.hours),
        }

    def strikes(self, symbol: str, expiry: date, ts: datetime | None = None) -> FloatArray:
        """Return the listed strikes of one expiry (ascending, USD)."""
        t = self._at(ts)
        p = self._option_inputs(symbol, expiry, t)
        return ct.strike_grid(symbol, p["spot"], p["years"])

    def option_chain(self, symbol: str, expiry: date, ts: datetime | None = None) -> SimChain:
        """Return every strike x (call, put) of one expiry: quotes, surface IV and greeks."""
        t = self._at(ts)
        key = (symbol, expiry, t)
        cached = self._chains_at.get(key)
        if cached is not None:
            return cached
        p = self._option_inputs(symbol, expiry, t)
        grid = ct.strike_grid(symbol, p["spot"], p["years"])
        strikes = np.repeat(grid, 2)
        is_call = np.tile(np.array([True, False]), grid.size)
        return _remember(self._chains_at, key, self._price(symbol, expiry, strikes, is_call, p))

    def option_quote(
        self, symbol: str, expiry: date, strike: float, right: str, ts: datetime | None = None
    ) -> SimOptionQuote:
        """Return the quote of one option; ``right`` is "C" or "P"."""
        t = self._at(ts)
        right = _check_right(right)
        key = (symbol, expiry, float(strike), right, t)
        cached = self._quotes_at.get(key)
        if cached is not None:
            return cached
        p = self._option_inputs(symbol, expiry, t)
        ct.check_strike(symbol, float(strike), p["spot"])
        chain = self._price(symbol, expiry, np.array([float(strike)]), np.array([right == "C"]), p)
        return _remember(self._quotes_at, key, self._option_quote_of(symbol, expiry, right, chain))

    @staticmethod
    def _option_quote_of(symbol: str, expiry: date, right: str, chain: SimChain) -> SimOptionQuote:
        return SimOptionQuote(
            symbol=symbol,
            expiry=expiry,
            strike=float(chain.strike[0]),
            right=right,
            con_id=int(chain.con_id[0]),
            bid=float(chain.bid[0]),
            ask=float(chain.ask[0]),
            last=float(chain.last[0]),
            mid=float(chain.mid[0]),
            iv=float(chain.iv[0]),
            delta=float(chain.delta[0]),
            gamma=float(chain.gamma[0]),
            theta=float(chain.theta[0]),
            vega=float(chain.vega[0]),
            bid_size=int(chain.bid_size[0]),
            ask_size=int(chain.ask_size[0]),
            open_interest=int(chain.open_interest[0]),
            underlying_price=chain.underlying_price,
            ts=chain.ts,
        )

    def _price(
        self,
        symbol: str,
        expiry: date,
        strikes: FloatArray,
        is_call: np.ndarray,
        p: dict[str, Any],
    ) -> SimChain:
        years = p["years"]
        put_skew = REGIME_SPECS[p["regime"]].put_skew
        iv, m = surface_iv(p["forward"], strikes, years, p["atm"], put_skew)
        g = bs_greeks(p["spot"], strikes, years, iv, p["rate"], p["q"], is_call)
        bid, ask, mid, last = option_book(g.price, m, p["width"])
        con_ids = ct.option_con_ids(symbol, expiry, strikes, is_call)
        seed = self.config.seed
        # Sizes refresh every second; open interest once a day.
        near = np.exp(-0.5 * (m / 2.0) ** 2)
        cap = (20 + 480 * near).astype(np.int64)
        size_hash = mix_hash(seed, con_ids, p["seen"], np.arange(2)[:, None])
        bid_size = np.where(bid > 0, 1 + size_hash[0] % cap, 0)
        ask_size = 1 + size_hash[1] % cap
        day = _ny_date(p["seen"]).toordinal()
        peak = 60_000.0 * (3.0 if p["monthly"] else 1.0)
        oi_scale = peak * (0.01 + 0.99 * np.exp(-0.5 * (m / 1.5) ** 2))
        noise = 0.5 + (mix_hash(seed, con_ids, day) % 1000) / 1000.0
        open_interest = np.round(oi_scale * noise).astype(np.int64)
        chain = SimChain(
            underlying=symbol,
            expiry=expiry,
            underlying_price=p["spot"],
            ts=_dt(p["seen"]),
            con_id=con_ids,
            strike=strikes.astype(np.float64),
            is_call=is_call.astype(bool),
            bid=bid,
            ask=ask,
            last=last,
            mid=mid,
            iv=iv,
            delta=g.delta,
            gamma=g.gamma,
            theta=g.theta,
            vega=g.vega,
            bid_size=bid_size.astype(np.int64),
            ask_size=ask_size.astype(np.int64),
            open_interest=open_interest,
        )
        for name in _CHAIN_ARRAYS:
            getattr(chain, name).setflags(write=False)
        return chain


_REMEMBERED = 4096  # answers kept per kind; a cycle asks far fewer in one second


_V = TypeVar("_V")


def _remember(memo: dict[Any, _V], key: Any, value: _V) -> _V:
    """Store ``value`` under ``key`` (forgetting everything once full) and return it."""
    if len(memo) >= _REMEMBERED:
        memo.clear()
    memo[key] = value
    return value


def _check_right(right: str) -> str:
    r = right.upper() if isinstance(right, str) else right
    if r not in ("C", "P"):
        raise ContractError(f"option right must be 'C' or 'P', got {right!r}")
    return str(r)
