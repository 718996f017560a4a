"""``RecordedChainSource``: a market over imported end-of-day option chains (quotes recorded).

Each day with a chain is one snapshot, taken ``snapshot_before_close`` before
the session's close (15:45 New York on a normal day, as vendors' "EOD"
snapshots are). Between snapshots the last one stands, stamped with its own
time, so a broker sees it go stale: trade at ``quote_time(day)``.

Spot, per underlying, in this order: the underlying's daily bars if given
(their close), else the chain's ``underlying_price`` column, else put-call
parity on the expiry nearest 30 days (median forward of the strikes where
call and put mids are closest, discounted at ``rate`` less the dividend
yield). ``spot_method(symbol)`` says which. IV and greeks missing from the
file are solved from the mid at that spot (``tradelib.pricing``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

from tradelib.backtest.chains.importer import ChainStore
from tradelib.backtest.history.files import DailyBars
from tradelib.backtest.history.source import calendar_for
from tradelib.backtest.listing import ContractBook
from tradelib.backtest.source import ForwardClock, check_right, option_quote_from_chain
from tradelib.errors import ContractError, DataRangeError
from tradelib.markethours import NEW_YORK, MarketHours
from tradelib.pricing import bs_greeks, iv_and_greeks
from tradelib.sim.sessions import SourceDays
from tradelib.sim.types import (
    FloatArray,
    SimChain,
    SimFuture,
    SimInstrument,
    SimOptionQuote,
    SimQuote,
)

YEAR_S = 365.0 * 86_400.0
MIN_T_YEARS = 60.0 / YEAR_S
PARITY_TENOR_DAYS = 30
_EPOCH = date(1970, 1, 1)


class RecordedChainSource:
    """A ``MarketSource`` over a ``ChainStore``: one recorded snapshot per day; quotes not modelled."""

    def __init__(
        self,
        store: ChainStore,
        *,
        underlying_bars: Mapping[str, DailyBars] | None = None,
        vol_index: DailyBars | None = None,
        rate: float = 0.04,
        dividend_yields: Mapping[str, float] | None = None,
        snapshot_before_close: timedelta = timedelta(minutes=15),
        start: date | None = None,
        hours: MarketHours | None = None,
    ) -> None:
        if len(store) == 0:
            raise ValueError("the chain store is empty")
        self.store = store
        self.rate = rate
        self._yields = dict(dividend_yields or {})
        self._bars = dict(underlying_bars or {})
        self._vix = vol_index
        self._offset = snapshot_before_close
        all_days = sorted({d for s in store.underlyings for d in store.days(s)})
        self.hours = hours or calendar_for(all_days[0], all_days[-1])
        self._days = all_days
        self._day_set = set(all_days)
        self._served = SourceDays(
            self.hours,
            all_days[0],
            all_days[-1],
            self._outside,
            days=all_days,
            before_close=snapshot_before_close,
        )
        self._snap = np.array(
            [
                self.hours.session_bounds(d)[1].timestamp() - self._offset.total_seconds()
                for d in all_days
            ]
        )
        self.contracts = ContractBook(
            store.underlyings, None if vol_index is None else vol_index.symbol, self.hours
        )
        self._spots: dict[tuple[str, date], float] = {}
        self._chains: dict[tuple[str, date, date], SimChain] = {}
        self._listed: dict[tuple[str, date], list[date]] = {}
        self._closes: dict[date, datetime] = {}
        first = start or all_days[0]
        self._check_range(first, first)
        i = int(
            np.searchsorted(np.array(all_days, dtype="datetime64[D]"), np.datetime64(first, "D"))
        )
        self._clock = ForwardClock(datetime.fromtimestamp(float(self._snap[i]), tz=UTC))

    def __repr__(self) -> str:
        return f"RecordedChainSource({self.name}, {self._days[0]}..{self._days[-1]}, {len(self.store):,} quotes)"

    # --- description -----------------------------------------------------------------------
    @property
    def name(self) -> str:
        """Say what the source is and that its quotes are recorded."""
        return f"chains({','.join(self.underlyings)}; recorded end-of-day)"

    @property
    def modelled(self) -> bool:
        """Quotes are recorded, not modelled."""
        return False

    @property
    def intraday(self) -> bool:
        """One snapshot a day."""
        return False

    @property
    def underlyings(self) -> tuple[str, ...]:
        """Return the underlyings with chains."""
        return self.store.underlyings

    @property
    def vol_index(self) -> str | None:
        """Return the volatility index symbol, if one was given."""
        return None if self._vix is None else self._vix.symbol

    def spot_method(self, symbol: str) -> str:
        """Say where ``symbol``'s spot comes from: "bars", "underlying_price" or "parity"."""
        self.contracts.underlying_con_id(symbol)
        if symbol in self._bars:
            return "bars"
        if "underlying_price" in self.store.has:
            return "underlying_price"
        return "parity"

    def trading_days(self, start: date | None = None, end: date | None = None) -> list[date]:
        """Return the days with a chain in ``[start, end]``; ``DataRangeError`` outside the data."""
        return self._served.trading_days(start, end)

    def quote_time(self, day: date) -> datetime:
        """Return when ``day``'s snapshot was taken."""
        return self._served.quote_time(day)

    def _check_range(self, lo: date, hi: date) -> None:
        self._served.check(lo, hi)

    def _outside(self, lo: date, hi: date) -> DataRangeError:
        return DataRangeError(
            source=self.name,
            problem=f"{lo}..{hi} reaches outside the data",
            first=self._days[0],
            last=self._days[-1],
        )

    # --- clock --------------------------------------------------------------------------------
    def now(self) -> datetime:
        """Return the source's current time (UTC)."""
        return self._clock.now()

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds``."""
        self._clock.advance(seconds)

    def advance_to(self, ts: datetime) -> None:
        """Move forward to ``ts``."""
        self._clock.advance_to(ts)

    def _active(self, ts: datetime | None) -> tuple[date, datetime, datetime]:
        """Return (snapshot day, snapshot time, query time) in force at ``ts``."""
        t = self._clock.at(ts)
        i = int(np.searchsorted(self._snap, t.timestamp(), side="right")) - 1
        if i < 0:
            raise DataRangeError(
                source=self.name,
                problem=f"{t.isoformat()} is before the first snapshot",
                first=self._days[0],
                last=self._days[-1],
            )
        return self._days[i], datetime.fromtimestamp(float(self._snap[i]), tz=UTC), t

    # --- prices -------------------------------------------------------------------------------
    def _day_spot(self, symbol: str, day: date) -> float:
        key = (symbol, day)
        found = self._spots.get(key)
        if found is not None:
            return found
        method = self.spot_method(symbol)
        if method == "bars":
            b = self._bars[symbol]
            value = float(b.close[b.index_of(day)])
        else:
            rows = self.store.day_rows(symbol, day)
            given = self.store.columns["underlying_price"][rows]
            given = given[np.isfinite(given)]
            value = (
                float(np.median(given.astype(np.float64)))
                if given.size
                else self._parity_spot(symbol, day)
            )
        self._spots[key] = value
        return value

    def _parity_spot(self, symbol: str, day: date) -> float:
        st = self.store
        best: tuple[int, float] | None = None
        for expiry in st.expiries(symbol, day):
            rows = st.expiry_rows(symbol, day, expiry)
            k, call = st.strike[rows], st.is_call[rows]
            mid = (st.columns["bid"][rows] + st.columns["ask"][rows]) / 2.0
            live = st.columns["bid"][rows] > 0
            calls = dict(zip(k[call & live].tolist(), mid[call & live].tolist(), strict=True))
            pairs = [
                (s, calls[s] - m)
                for s, m in zip(k[~call & live].tolist(), mid[~call & live].tolist(), strict=True)
                if s in calls
            ]
            if len(pairs) < 3:
                continue
            dte = (expiry - day).days
            if best is not None and abs(dte - PARITY_TENOR_DAYS) >= best[0]:
                continue
            t = max(dte, 1) / 365.0
            pairs.sort(key=lambda p: abs(p[1]))
            forwards = [s + diff * math.exp(self.rate * t) for s, diff in pairs[:3]]
            q = self._yields.get(symbol, 0.0)
            best = (
                abs(dte - PARITY_TENOR_DAYS),
                float(np.median(forwards)) * math.exp(-(self.rate - q) * t),
            )
        if best is None:
            raise ContractError(
                f"{symbol} {day}: no expiry with 3 call/put pairs bid: cannot infer spot by parity"
            )
        return best[1]

    def is_open(self, symbol: str, ts: datetime | None = None) -> bool:
        """Return whether ``symbol`` trades at ``ts`` (regular hours of a day with a chain)."""
        if symbol != self.vol_index:
            self.contracts.underlying_con_id(symbol)
        when = self._clock.now() if ts is None else ts
        day = when.astimezone(NEW_YORK).date()
        return self.hours.is_open(when) and day in self._day_set

    def spot(self, symbol: str, ts: datetime | None = None) -> float:
        """Return the underlying (or vol index) at the snapshot in force at ``ts``."""
        day, _, _ = self._active(ts)
        if self._vix is not None and symbol == self._vix.symbol:
            return round(float(self._vix.close[self._vix.index_of(day)]), 2)
        return round(self._day_spot(symbol, day), 2)

    def quote(self, symbol: str, ts: datetime | None = None) -> SimQuote:
        """Return a one-cent market around the spot, stamped at the snapshot."""
        _day, snap, _ = self._active(ts)
        price = self.spot(symbol, ts)
        con_id = self.contracts.underlying_con_id(symbol)
        if symbol == self.vol_index:
            return SimQuote(symbol, con_id, math.nan, math.nan, price, 0, 0, snap)
        bid = math.floor(price * 100.0 - 0.5 + 1e-9) / 100.0
        return SimQuote(symbol, con_id, round(bid, 2), round(bid + 0.01, 2), price, 100, 100, snap)

    # --- options ------------------------------------------------------------------------------
    def expiries(self, symbol: str, ts: datetime | None = None) -> list[date]:
        """Return the expiries of the snapshot in force that have not expired by ``ts``."""
        self.contracts.option_con_id(symbol, _EPOCH, 1.0, "C")  # raises for unknown symbols
        day, _, t = self._active(ts)
        today = t.astimezone(NEW_YORK).date()
        listed = self._listed.get((symbol, day))
        if listed is None:
            listed = self._listed[(symbol, day)] = self.store.expiries(symbol, day)
        out = [e for e in listed if e >= today]
        if out and out[0] == today and t >= self._close(today):
            out = out[1:]
        return out

    def strikes(self, symbol: str, expiry: date, ts: datetime | None = None) -> FloatArray:
        """Return the strikes recorded for ``expiry`` (ascending)."""
        return np.unique(self.option_chain(symbol, expiry, ts).strike)

    def option_chain(self, symbol: str, expiry: date, ts: datetime | None = None) -> SimChain:
        """Return the recorded chain of one expiry, calls first at each strike."""
        if expiry not in self.expiries(symbol, ts):
            raise ContractError(
                f"{symbol} expiry {expiry} is not in the chain in force at {self._clock.at(ts).isoformat()}"
            )
        day, snap, _ = self._active(ts)
        key = (symbol, day, expiry)
        chain = self._chains.get(key)
        if chain is None:
            chain = self._build(symbol, day, snap, expiry)
            if len(self._chains) > 512:
                self._chains.clear()
            self._chains[key] = chain
        return chain

    def _build(self, symbol: str, day: date, snap: datetime, expiry: date) -> SimChain:
        st = self.store
        rows = st.expiry_rows(symbol, day, expiry)
        cols = {k: v[rows] for k, v in st.columns.items()}
        strike, is_call = st.strike[rows], st.is_call[rows]
        spot = self._day_spot(symbol, day)
        close = self._close(expiry)
        years = max((close - snap).total_seconds() / YEAR_S, MIN_T_YEARS)
        q = self._yields.get(symbol, 0.0)
        bid, ask = cols["bid"], cols["ask"]
        mid = (bid + ask) / 2.0
        iv = cols["iv"].astype(np.float64)
        greeks = {g: cols[g].astype(np.float64) for g in ("delta", "gamma", "vega", "theta")}
        need_iv = ~np.isfinite(iv)
        if need_iv.any():
            res, g = iv_and_greeks(
                mid[need_iv], spot, strike[need_iv], years, self.rate, q, is_call[need_iv]
            )
            iv[need_iv] = res.iv
            for name in greeks:
                greeks[name][need_iv] = getattr(g, name)
        need = ~need_iv & ~np.all([np.isfinite(v) for v in greeks.values()], axis=0)
        if need.any():
            g = bs_greeks(spot, strike[need], years, iv[need], self.rate, q, is_call[need])
            for name in greeks:
                fill = ~np.isfinite(greeks[name][need])
                greeks[name][np.flatnonzero(need)[fill]] = getattr(g, name)[fill]
        chain = SimChain(
            underlying=symbol,
            expiry=expiry,
            underlying_price=round(spot, 2),
            ts=snap,
            con_id=self.contracts.option_con_ids(symbol, expiry, strike, is_call),
            strike=strike,
            is_call=is_call,
            bid=bid,
            ask=ask,
            last=mid,
            mid=mid,
            iv=iv,
            delta=greeks["delta"],
            gamma=greeks["gamma"],
            theta=greeks["theta"],
            vega=greeks["vega"],
            bid_size=cols["bid_size"].astype(np.int64),
            ask_size=cols["ask_size"].astype(np.int64),
            open_interest=cols["open_interest"].astype(np.int64),
        )
        for arr in (chain.con_id, chain.bid, chain.ask, chain.mid, chain.iv, chain.delta, chain.gamma,
                    chain.theta, chain.vega, chain.bid_size, chain.ask_size, chain.open_interest):  # fmt: skip
            arr.setflags(write=False)
        return chain

    def _close(self, day: date) -> datetime:
        found = self._closes.get(day)
        if found is None:
            found = self._closes[day] = self.hours.session_bounds(day)[1]
        return found

    def option_quote(
        self, symbol: str, expiry: date, strike: float, right: str, ts: datetime | None = None
    ) -> SimOptionQuote:
        """Return one recorded option; ``ContractError`` if the chain has no such strike."""
        right = check_right(right)
        chain = self.option_chain(symbol, expiry, ts)
        hits = np.flatnonzero(
            (np.abs(chain.strike - strike) < 1e-9) & (chain.is_call == (right == "C"))
        )
        if hits.size == 0:
            raise ContractError(
                f"{symbol} {expiry} {strike:g} {right} is not in the recorded chain"
            )
        return option_quote_from_chain(chain, int(hits[0]), right)

    # --- contracts, futures, bars ---------------------------------------------------------------
    def con_id(
        self,
        symbol: str,
        *,
        expiry: date | None = None,
        strike: float | None = None,
        right: str | None = None,
    ) -> int:
        """Return the id of an underlying, or (with all three) an option."""
        given = [x is not None for x in (expiry, strike, right)]
        if not any(given):
            return self.contracts.underlying_con_id(symbol)
        if not all(given):
            raise ContractError(
                f"an option con_id needs expiry, strike and right; got {symbol} {expiry} {strike} {right}"
            )
        assert expiry is not None and strike is not None and right is not None
        return self.contracts.option_con_id(symbol, expiry, float(strike), check_right(right))

    def instrument(self, con_id: int) -> SimInstrument:
        """Return what ``con_id`` stands for."""
        return self.contracts.instrument(int(con_id))

    def futures_contract(self, root: str, ts: datetime | None = None) -> SimFuture:
        """Refuse: recorded chains carry no futures."""
        raise ContractError(f"{root!r}: a recorded-chain source lists no futures")

    def bars(self, symbol: str, start: datetime, end: datetime, bar_seconds: int) -> pl.DataFrame:
        """Return daily bars (86400 only) of completed snapshot days in ``[start, end)``.

        From the underlying's bars when given, else the snapshot spot as O=H=L=C, volume 0.
        """
        if bar_seconds != 86_400:
            raise ValueError(
                f"end-of-day chains have daily bars only (bar_seconds 86400), got {bar_seconds!r}"
            )
        s, e = start.timestamp(), min(end.timestamp(), self._clock.now().timestamp() + 1)
        rows: list[tuple[datetime, float, float, float, float, int]] = []
        for d, snap in zip(self._days, self._snap.tolist(), strict=True):
            opened = self.hours.session_bounds(d)[0]
            if not (s <= opened.timestamp() < e and snap < e):
                continue
            if symbol in self._bars:
                b = self._bars[symbol]
                i = b.index_of(d)
                rows.append(
                    (
                        opened,
                        float(b.open[i]),
                        float(b.high[i]),
                        float(b.low[i]),
                        float(b.close[i]),
                        int(b.volume[i]),
                    )
                )
            else:
                p = self._day_spot(symbol, d)
                rows.append((opened, p, p, p, p, 0))
        return pl.DataFrame(
            rows,
            schema={
                "ts": pl.Datetime("us", "UTC"),
                "open": pl.Float64,
                "high": pl.Float64,
                "low": pl.Float64,
                "close": pl.Float64,
                "volume": pl.Int64,
            },
            orient="row",
        )
