"""The simulated market: prices, quotes, option chains, futures and bars at any moment.

``SimulatedMarket`` owns a simulated "now" that only moves forward. Every
query takes an optional ``ts`` (default: now) and refuses the future, so there
is no look-ahead. State at any timestamp is a pure function of the config and
that timestamp, however the market got there (see ``tradelib.sim.paths``).
"""

from __future__ import annotations

import bisect
import math
from collections import OrderedDict
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import numpy as np
import polars as pl

from tradelib.errors import ContractError
from tradelib.markethours import NEW_YORK, MarketHours, require_utc
from tradelib.pricing import bs_greeks
from tradelib.sim import contracts as ct
from tradelib.sim.config import (
    FUTURES,
    INDEX_SYMBOLS,
    REGIME_SPECS,
    UNDERLYINGS,
    VIX,
    SimMarketConfig,
    default_start,
)
from tradelib.sim.paths import (
    SESSION_S,
    Block,
    History,
    ModelParams,
    PathState,
    generate_block,
    generate_history,
)
from tradelib.sim.sessions import SourceDays
from tradelib.sim.surface import atm_vol, mix_hash, option_book, surface_iv
from tradelib.sim.types import (
    REGIMES,
    FloatArray,
    IntArray,
    SimChain,
    SimFuture,
    SimInstrument,
    SimOptionQuote,
    SimQuote,
    SimRegime,
)

YEAR_S = 365.0 * 86_400.0  # ACT/365, as tradelib.pricing expects
MIN_T_YEARS = 60.0 / YEAR_S  # price an expiring option as if a minute were left
DAY_S = 86_400
MAX_CACHED_BLOCKS = 16  # ~3-8 MB each; older blocks are regenerated on demand
MAX_CACHED_SERIES = 16  # one symbol's 1-second series of one block: ~0.5-2 MB each
_SEED_ETF_VOLUME, _SEED_FUT_VOLUME = 3, 4
_BAR_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Datetime("us", "UTC"),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Int64(),
}
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


def _epoch(ts: datetime) -> int:
    return math.floor(ts.timestamp())


def _dt(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def _ny_date(seconds: int) -> date:
    return _dt(seconds).astimezone(NEW_YORK).date()


class SimulatedMarket:
    """A seeded, deterministic market for SPY/QQQ/IWM, their options, VIX and ES/NQ/RTY.

    Units: prices in USD (futures and VIX in index points); timestamps UTC;
    option greeks per share (delta per $1, theta per calendar day, vega per vol point).
    """

    def __init__(
        self, config: SimMarketConfig | None = None, calendar: MarketHours | None = None
    ) -> None:
        config = config or SimMarketConfig()
        self.hours = calendar or MarketHours()
        if config.start is None:
            # The edge of the model: resolve "today" once, here, never deeper inside.
            today = datetime.now(UTC).astimezone(NEW_YORK).date()
            config = replace(config, start=default_start(today, self.hours))
        assert config.start is not None
        self.config: SimMarketConfig = config
        self._now = require_utc(config.start, "config.start")
        self._params = ModelParams.from_config(config)

        first_close = self.hours.next_close(self._now)
        first_day = self.hours.session_for(first_close - timedelta(seconds=1))
        assert first_day is not None
        history_days = self.hours.trading_days(
            first_day - timedelta(days=3 * config.history_days + 30), first_day
        )
        history_days = history_days[:-1][-config.history_days :]
        if len(history_days) < config.history_days:
            raise ValueError(
                f"history_days {config.history_days} reaches before the calendar's range"
            )
        self._history: History = generate_history(self._params, config, history_days)
        bounds = [self.hours.session_bounds(d) for d in history_days]
        self._hist_open = np.array([_epoch(o) for o, _ in bounds], dtype=np.int64)
        self._hist_close = np.array([_epoch(c) for _, c in bounds], dtype=np.int64)

        # Block k spans [close of day k-1, close of day k); day -1 is the last history day.
        self._days: list[date] = []
        self._block_start: list[int] = []
        self._block_open: list[int] = []
        self._block_close: list[int] = []
        self._states: list[PathState] = [self._history.end_state]
        self._blocks: OrderedDict[int, Block] = OrderedDict()
        # (symbol, block) -> the daily bar of a finished session (open ts, o, h, l, c, volume)
        self._session_bars: dict[tuple[str, int], tuple[int, float, float, float, float, int]] = {}
        self._append_day(first_day, int(self._hist_close[-1]))
        self._served = SourceDays(self.hours, first_day, self.hours.last_day, self._outside)
        self._listings: dict[tuple[str, date], list[date]] = {}
        # Answers are pure functions of (arguments, second): a monitoring cycle asks the
        # same option and chain several times in one second, so keep the latest ones.
        self._inputs_at: dict[tuple[str, date, int], dict[str, Any]] = {}
        self._chains_at: dict[tuple[str, date, int], SimChain] = {}
        self._quotes_at: dict[tuple[str, date, float, str, int], SimOptionQuote] = {}
        self._option_ids: dict[tuple[str, date, float, str], int] = {}
        # (symbol, block) -> its 1-second series: intraday bars re-read today's block every cycle
        self._series_of: OrderedDict[tuple[str, int], tuple[IntArray, FloatArray, IntArray]] = (
            OrderedDict()
        )

    # --- construction helpers ---------------------------------------------------------
    @classmethod
    def from_config(cls, cfg: Any, calendar: MarketHours | None = None) -> SimulatedMarket:
        """Build from a ``TradingConfig``: uses ``cfg.simulation.seed`` and ``.start_date`` only.

        ``start_date`` None means today (New York); a non-trading day means the
        trading day before it; the market starts at 09:45 New York time.
        """
        hours = calendar or MarketHours()
        sim = cfg.simulation
        day = sim.start_date or datetime.now(UTC).astimezone(NEW_YORK).date()
        config = SimMarketConfig(seed=int(sim.seed), start=default_start(day, hours))
        return cls(config, hours)

    def __repr__(self) -> str:
        return f"SimulatedMarket(seed={self.config.seed}, now={self._now.isoformat()})"

    # --- as a backtest market source (tradelib.backtest.MarketSource) ------------------------
    @property
    def name(self) -> str:
        """Say what this market is."""
        return f"sim(seed={self.config.seed})"

    @property
    def modelled(self) -> bool:
        """Every quote here comes from the model."""
        return True

    @property
    def intraday(self) -> bool:
        """Quotes move every second of the session."""
        return True

    @property
    def underlyings(self) -> tuple[str, ...]:
        """Return the optionable ETFs."""
        return self.config.underlyings

    @property
    def vol_index(self) -> str:
        """Return the volatility index symbol."""
        return VIX

    def trading_days(self, start: date | None = None, end: date | None = None) -> list[date]:
        """Return the sessions in ``[start, end]``: from the first simulated day by default.

        The market is generated lazily, so any range the calendar covers is served.
        """
        return self._served.trading_days(start, end)

    def quote_time(self, day: date) -> datetime:
        """Return the session open of ``day`` (quotes exist all session)."""
        return self._served.quote_time(day)

    def _outside(self, lo: date, hi: date) -> ValueError:
        if lo < self._served.first:
            return ValueError(
                f"start {lo} is before the simulation's first day {self._served.first}"
            )
        return ValueError(f"end {hi} is after the calendar's last day {self._served.last}")

    # --- time -------------------------------------------------------------------------------
    def now(self) -> datetime:
        """Return the current simulated time (UTC)."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the market forward by ``seconds`` (>= 0); prices are generated lazily."""
        if not seconds >= 0:
            raise ValueError(
                f"seconds must be >= 0 (the market never goes backwards), got {seconds!r}"
            )
        self._now += timedelta(seconds=seconds)

    def advance_to(self, ts: datetime) -> None:
        """Move the market forward to ``ts``; raise ``ValueError`` if it is in the past."""
        target = require_utc(ts, "ts")
        if target < self._now:
            raise ValueError(
                f"ts {target.isoformat()} is before the market's time {self._now.isoformat()}; "
                "the market never goes backwards"
            )
        self._now = target

    def _at(self, ts: datetime | None) -> int:
        if ts is None:
            return _epoch(self._now)
        t = require_utc(ts, "ts")
        if t > self._now:
            raise ValueError(
                f"ts {t.isoformat()} is after the market's time {self._now.isoformat()} (no look-ahead)"
            )
        seconds = _epoch(t)
        if seconds < self._hist_open[0]:
            raise ValueError(f"ts {t.isoformat()} is before the simulated history")
        return seconds

    # --- blocks ------------------------------------------------------------------------------
    def _append_day(self, day: date, start: int) -> None:
        o, c = self.hours.session_bounds(day)
        self._days.append(day)
        self._block_start.append(start)
        self._block_open.append(_epoch(o))
        self._block_close.append(_epoch(c))

    def _block_index(self, t: int) -> int:
        """Return the block containing second ``t`` (-1 for history)."""
        if t < self._block_start[0]:
            return -1
        while self._block_close[-1] <= t:
            self._append_day(self.hours.next_trading_day(self._days[-1]), self._block_close[-1])
        return bisect.bisect_right(self._block_close, t)

    def _block(self, k: int) -> Block:
        cached = self._blocks.get(k)
        if cached is not None:
            self._blocks.move_to_end(k)
            return cached
        while len(self._states) <= k:
            self._block(len(self._states) - 1)
        start, close = self._block_start[k], self._block_close[k]
        intervals = [
            (_epoch(lo), _epoch(hi))
            for lo, hi in self.hours.futures_open_intervals(_dt(start), _dt(close))
        ]
        block = generate_block(
            self._params,
            self._days[k],
            start,
            self._block_open[k],
            close,
            intervals,
            self._states[k],
        )
        if len(self._states) == k + 1:
            self._states.append(block.end_state)
        self._blocks[k] = block
        while len(self._blocks) > MAX_CACHED_BLOCKS:
            self._blocks.popitem(last=False)
        return block

    def cached_bytes(self) -> int:
        """Return the memory held by cached 1-second blocks."""
        return sum(b.nbytes() for b in self._blocks.values())

    # --- raw state lookups -------------------------------------------------------------------
    def _session_point(self, t: int) -> tuple[int, int]:
        """Return ``(block, offset into its session)`` of the last regular-session second <= t.

        Block -1 means history; the offset is then a history day index.
        """
        k = self._block_index(t)
        if k >= 0:
            if t >= self._block_open[k]:
                return k, t - self._block_open[k]
            if k > 0:
                return k - 1, self._block_close[k - 1] - self._block_open[k - 1] - 1
        i = int(np.searchsorted(self._hist_open, t, side="right")) - 1
        return -1, max(i, 0)

    def _etf_price(self, i: int, t: int) -> tuple[float, int]:
        k, off = self._session_point(t)
        if k < 0:
            # Daily resolution: the close once the session ended, else its open.
            h = self._history
            if t >= self._hist_close[off]:
                return float(h.close[off, i]), int(self._hist_close[off]) - 1
            return float(h.open[off, i]), int(min(t, self._hist_close[off] - 1))
        return float(self._block(k).spot[off, i]), self._block_open[k] + off

    def _vix_value(self, t: int) -> tuple[float, int]:
        k, off = self._session_point(t)
        if k < 0:
            h = self._history
            if t >= self._hist_close[off]:
                return float(h.vix_close[off]), int(self._hist_close[off]) - 1
            return float(h.vix_open[off]), int(min(t, self._hist_close[off] - 1))
        return float(self._block(k).vix[off]), self._block_open[k] + off

    def _latent(self, i: int, t: int) -> tuple[float, int]:
        """Return the latent log level of index ``i`` and the last futures-trading second <= t."""
        k = self._block_index(t)
        if k < 0:
            j = max(int(np.searchsorted(self._hist_close, t, side="right")) - 1, 0)
            return float(np.log(self._history.close[j, i])), min(t, int(self._hist_close[j]))
        b = self._block(k)
        off = t - b.start
        last = int(b.last_fut_open[off])
        return float(b.latent[off, i]), (b.start + last if last >= 0 else t)

    def _regime_index(self, t: int) -> int:
        k = self._block_index(t)
        if k < 0:
            i = max(int(np.searchsorted(self._hist_open, t, side="right")) - 1, 0)
            return int(self._history.regime[i])
        b = self._block(k)
        return int(b.regime[(t - b.start) // 3600])

    # --- symbols --------------------------------------------------------------------------------
    def _kind(self, symbol: str) -> str:
        if symbol in self.config.underlyings:
            return "etf"
        if symbol == VIX:
            return "vix"
        if symbol in self.config.futures:
            return "fut"
        known = [*self.config.underlyings, VIX, *self.config.futures]
        raise ContractError(f"unknown symbol {symbol!r} (known: {', '.join(known)})")

    def _underlying(self, symbol: str) -> int:
        if symbol not in self.config.underlyings:
            raise ContractError(
                f"{symbol!r} has no options here (optionable: {', '.join(self.config.underlyings)})"
            )
        return INDEX_SYMBOLS.index(symbol)

    # --- public market state --------------------------------------------------------------------
    def regime(self, ts: datetime | None = None) -> SimRegime:
        """Return the true regime at ``ts`` (default now)."""
        return REGIMES[self._regime_index(self._at(ts))]

    def is_open(self, symbol: str, ts: datetime | None = None) -> bool:
        """Return whether ``symbol`` trades at ``ts``: regular hours, or CME hours for futures."""
        kind = self._kind(symbol)
        when = self._now if ts is None else require_utc(ts, "ts")
        if kind == "fut":
            return self.hours.futures_is_open(when)
        return self.hours.is_open(when)

    def spot(self, symbol: str, ts: datetime | None = None) -> float:
        """Return the last price of an ETF ($0.01), VIX (0.01) or front-month future (its tick)."""
        t = self._at(ts)
        kind = self._kind(symbol)
        if kind == "etf":
            return round(self._etf_price(INDEX_SYMBOLS.index(symbol), t)[0], 2)
        if kind == "vix":
            return round(self._vix_value(t)[0], 2)
        return self._future_price(symbol, t)[0]

    def _future_price(self, root: str, t: int) -> tuple[float, int]:
        spec = FUTURES[root]
        log_level, seen = self._latent(INDEX_SYMBOLS.index(spec.index), t)
        fut = self._front(root, t)
        carry = self._carry(spec.index, fut.expiry, t)
        price = math.exp(log_level) * self.config.ratio_of(root) * carry
        return round(round(price / spec.tick) * spec.tick, 2), seen

    def _carry(self, symbol: str, expiry: date, t: int) -> float:
        close = _epoch(self.hours.session_bounds(expiry)[1])
        years = max(close - t, 0) / YEAR_S
        return math.exp((self.config.rate - self.config.dividend_yield(symbol)) * years)

    def quote(self, symbol: str, ts: datetime | None = None) -> SimQuote:
        """Return top of book; an index (VIX) has NaN bid/ask and only ``last``."""
        t = self._at(ts)
        kind = self._kind(symbol)
        mult = REGIME_SPECS[REGIMES[self._regime_index(t)]].spread_mult
        if kind == "vix":
            value, seen = self._vix_value(t)
            con_id = ct.underlying_con_id(VIX)
            return SimQuote(VIX, con_id, math.nan, math.nan, round(value, 2), 0, 0, _dt(seen))
        if kind == "etf":
            i = INDEX_SYMBOLS.index(symbol)
            price, seen = self._etf_price(i, t)
            tick = 0.01
            con_id = ct.underlying_con_id(symbol)
            ticks = max(1, math.ceil(mult * (1.0 if symbol != "IWM" else 1.3) - 0.5))
            last = round(price, 2)
            lot = 100
        else:
            last, seen = self._future_price(symbol, t)
            price = last
            tick = FUTURES[symbol].tick
            con_id = self.futures_contract(symbol, _dt(t)).con_id
            ticks = max(1, math.ceil(mult / 2.0))
            lot = 1
        bid_ticks = math.floor(price / tick - ticks / 2.0 + 1e-9)
        bid = round(bid_ticks * tick, 2)
        ask = round((bid_ticks + ticks) * tick, 2)
        sizes = mix_hash(self.config.seed, con_id, seen, np.arange(2))
        bid_size, ask_size = (int(1 + s % 40) * lot for s in sizes)
        return SimQuote(
            symbol, con_id, bid, ask, min(max(last, bid), ask), bid_size, ask_size, _dt(seen)
        )

    # --- futures -------------------------------------------------------------------------------
    def _front(self, root: str, t: int) -> SimFuture:
        year, month, expiry = ct.front_month(
            _ny_date(t), self.config.roll_days_before_expiry, self.hours
        )
        return SimFuture(
            root=root,
            local_symbol=ct.futures_local_symbol(root, year, month),
            expiry=expiry,
            multiplier=FUTURES[root].multiplier,
            exchange="CME",
            con_id=ct.futures_con_id(root, year, month),
        )

    def futures_contract(self, root: str, ts: datetime | None = None) -> SimFuture:
        """Return the front-month contract of ``root`` (rolled ``roll_days_before_expiry`` early)."""
        if self._kind(root) != "fut":
            raise ContractError(
                f"{root!r} is not a futures root (roots: {', '.join(self.config.futures)})"
            )
        return self._front(root, self._at(ts))

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

    # --- contract ids -------------------------------------------------------------------------------
    def con_id(
        self,
        symbol: str,
        *,
        expiry: date | None = None,
        strike: float | None = None,
        right: str | None = None,
    ) -> int:
        """Return the stable con_id of an ETF, VIX, future or option.

        A futures root alone means its front month now; ``expiry`` picks a
        quarterly contract; a local symbol like ``"ESZ6"`` works too. An option
        needs ``expiry``, ``strike`` and ``right``.
        """
        if expiry is not None and strike is not None and right is not None:
            known = self._option_ids.get((symbol, expiry, strike, right))
            if known is not None:
                return known
        parsed = ct.parse_futures_local_symbol(symbol, _ny_date(_epoch(self._now)))
        if parsed is not None and parsed[0] in self.config.futures:
            root, year, month = parsed
            return ct.futures_con_id(root, year, month)
        kind = self._kind(symbol)
        if kind == "fut":
            if strike is not None or right is not None:
                raise ContractError(f"futures {symbol} take no strike or right")
            if expiry is None:
                return self.futures_contract(symbol).con_id
            for month in ct.QUARTER_MONTHS:
                if ct.futures_expiry(expiry.year, month, self.hours) == expiry:
                    return ct.futures_con_id(symbol, expiry.year, month)
            raise ContractError(f"{symbol} has no contract expiring {expiry}")
        given = [x is not None for x in (expiry, strike, right)]
        if not any(given):
            return ct.underlying_con_id(symbol)
        if kind != "etf" or not all(given):
            raise ContractError(
                f"an option con_id needs an optionable symbol with expiry, strike and right; got "
                f"{symbol} expiry={expiry} strike={strike} right={right}"
            )
        assert expiry is not None and strike is not None and right is not None
        given_right = right
        right = _check_right(right)
        if not ct.is_expiry(symbol, expiry, self.hours):
            raise ContractError(f"{symbol} has no expiry on {expiry}")
        step = UNDERLYINGS[symbol].fine_step
        if not (strike > 0 and abs(strike / step - round(strike / step)) < 1e-9):
            raise ContractError(f"{symbol} strike {strike} is not a positive multiple of {step}")
        con_id = ct.option_con_id(symbol, expiry, float(strike), right)
        # An option's id depends on nothing but its terms (never on now): keep it.
        self._option_ids[(symbol, expiry, strike, given_right)] = con_id
        return con_id

    def instrument(self, con_id: int) -> SimInstrument:
        """Return what ``con_id`` stands for; raise ``ContractError`` if nothing."""
        inst = ct.decode_con_id(int(con_id), self.hours)
        allowed = {*self.config.underlyings, VIX, *self.config.futures}
        if inst.symbol not in allowed:
            raise ContractError(
                f"con_id {con_id} ({inst.local_symbol}) is not traded in this market"
            )
        return inst

    # --- bars -------------------------------------------------------------------------------------
    def bars(self, symbol: str, start: datetime, end: datetime, bar_seconds: int) -> pl.DataFrame:
        """Return OHLCV bars in ``[start, end)`` (capped at now), ``ts`` = bar start (UTC).

        ``bar_seconds`` < 86400 gives intraday bars aligned to multiples of
        ``bar_seconds`` since the epoch, from the 1-second data of generated
        days only (ETFs/VIX in regular hours, futures in CME hours).
        ``bar_seconds`` == 86400 gives one bar per session, stamped at its open,
        for history and generated days alike (a future's daily bar spans the
        previous close to this close). Volume in shares or contracts; VIX has 0.
        """
        kind = self._kind(symbol)
        s, e = _epoch(require_utc(start, "start")), _epoch(require_utc(end, "end"))
        if not isinstance(bar_seconds, int) or not 1 <= bar_seconds <= DAY_S:
            raise ValueError(f"bar_seconds must be an int in 1..86400, got {bar_seconds!r}")
        e = min(e, _epoch(self._now) + 1)
        if e <= s:
            return pl.DataFrame(schema=_BAR_SCHEMA)
        if bar_seconds == DAY_S:
            return self._daily_bars(symbol, kind, s, e)
        return self._intraday_bars(symbol, kind, s, e, bar_seconds)

    def _series(self, symbol: str, kind: str, k: int) -> tuple[IntArray, FloatArray, IntArray]:
        """Return (epoch seconds, rounded prices, volumes) of one block for one symbol."""
        key = (symbol, k)
        cached = self._series_of.get(key)
        if cached is not None:
            self._series_of.move_to_end(key)
            return cached
        series = self._compute_series(symbol, kind, k)
        for array in series:
            array.setflags(write=False)
        self._series_of[key] = series
        while len(self._series_of) > MAX_CACHED_SERIES:
            self._series_of.popitem(last=False)
        return series

    def _compute_series(
        self, symbol: str, kind: str, k: int
    ) -> tuple[IntArray, FloatArray, IntArray]:
        b = self._block(k)
        rng_key = [self.config.seed, 0, b.day.toordinal(), 0]
        if kind == "fut":
            offs = np.flatnonzero(b.fut_open)
            times = b.start + offs
            spec = FUTURES[symbol]
            idx = INDEX_SYMBOLS.index(spec.index)
            level = np.exp(b.latent[offs, idx]) * self.config.ratio_of(symbol)
            carry = np.empty(offs.size)
            # The front contract (and so the carry) changes only at New York midnight.
            days = np.array([_ny_date(int(x)).toordinal() for x in times[::3600]] + [0])
            for ordinal in np.unique(days[days > 0]):
                d = date.fromordinal(int(ordinal))
                lo = _epoch(datetime.combine(d, datetime.min.time(), tzinfo=NEW_YORK))
                sel = (times >= lo) & (times < lo + DAY_S + 3600)
                fut = self._front(symbol, lo + 43_200)
                exp_close = _epoch(self.hours.session_bounds(fut.expiry)[1])
                years = np.maximum(exp_close - times[sel], 0) / YEAR_S
                rate = self.config.rate - self.config.dividend_yield(spec.index)
                carry[sel] = np.exp(rate * years)
            prices = np.round(np.round(level * carry / spec.tick) * spec.tick, 2)
            rng_key[1], rng_key[3] = _SEED_FUT_VOLUME, list(FUTURES).index(symbol)
            rate_s = spec.daily_volume / 86_400.0 * np.where(offs >= b.open_off, 2.5, 0.35)
        else:
            times = b.open + np.arange(b.n - b.open_off)
            if kind == "vix":
                return times, np.round(b.vix, 2), np.zeros(times.size, dtype=np.int64)
            idx = INDEX_SYMBOLS.index(symbol)
            prices = np.round(b.spot[:, idx], 2)
            x = np.linspace(0.0, 1.0, times.size)
            u_shape = 0.6 + 1.6 * (np.exp(-x / 0.06) + np.exp(-(1.0 - x) / 0.08))
            rng_key[1], rng_key[3] = _SEED_ETF_VOLUME, idx
            rate_s = UNDERLYINGS[symbol].daily_volume / SESSION_S * u_shape / u_shape.mean()
        mult = self._params.volume_mult[b.regime[(times - b.start) // 3600]]
        volume = np.random.default_rng(rng_key).poisson(rate_s * mult).astype(np.int64)
        return times, prices, volume

    def _blocks_between(self, s: int, e: int) -> range:
        if e <= self._block_start[0]:
            return range(0)
        first = max(self._block_index(max(s, self._block_start[0])), 0)
        last = self._block_index(e - 1)
        return range(first, last + 1)

    def _intraday_bars(self, symbol: str, kind: str, s: int, e: int, bar: int) -> pl.DataFrame:
        parts: list[tuple[IntArray, FloatArray, IntArray]] = []
        for k in self._blocks_between(s, e):
            times, prices, volume = self._series(symbol, kind, k)
            sel = slice(int(np.searchsorted(times, s)), int(np.searchsorted(times, e)))
            if times[sel].size:
                parts.append((times[sel], prices[sel], volume[sel]))
        if not parts:
            return pl.DataFrame(schema=_BAR_SCHEMA)
        times = np.concatenate([p[0] for p in parts])
        prices = np.concatenate([p[1] for p in parts])
        volume = np.concatenate([p[2] for p in parts])
        bucket = times - times % bar
        starts = np.concatenate([[0], np.flatnonzero(np.diff(bucket)) + 1])
        ends = np.concatenate([starts[1:] - 1, [times.size - 1]])
        return _frame(
            bucket[starts],
            prices[starts],
            np.maximum.reduceat(prices, starts),
            np.minimum.reduceat(prices, starts),
            prices[ends],
            np.add.reduceat(volume, starts),
        )

    def _daily_bars(self, symbol: str, kind: str, s: int, e: int) -> pl.DataFrame:
        rows: list[tuple[int, float, float, float, float, int]] = []
        lo = int(np.searchsorted(self._hist_open, s))
        hi = int(np.searchsorted(self._hist_open, e))
        for j in range(lo, hi):
            rows.append(self._history_row(symbol, kind, j))
        if e > self._block_open[0]:
            for k in self._blocks_between(max(s, self._block_start[0]), e):
                if not s <= self._block_open[k] < e:
                    continue
                done = self._block_close[k] <= e  # a whole session: its bar never changes
                cached = self._session_bars.get((symbol, k)) if done else None
                if cached is not None:
                    rows.append(cached)
                    continue
                times, prices, volume = self._series(symbol, kind, k)
                n = int(np.searchsorted(times, e))
                if n == 0:
                    continue
                p = prices[:n]
                row = (
                    self._block_open[k],
                    p[0],
                    float(p.max()),
                    float(p.min()),
                    p[-1],
                    int(volume[:n].sum()),
                )
                if done:
                    # Regime and risk read months of daily bars every cycle: regenerating
                    # each past session's seconds was most of a backtest's time.
                    self._session_bars[(symbol, k)] = row
                rows.append(row)
        if not rows:
            return pl.DataFrame(schema=_BAR_SCHEMA)
        cols = list(zip(*rows, strict=True))
        return _frame(*(np.asarray(c) for c in cols))

    def _history_row(
        self, symbol: str, kind: str, j: int
    ) -> tuple[int, float, float, float, float, int]:
        key = (symbol, -1 - j)  # history day j; generated sessions use block numbers >= 0
        row = self._session_bars.get(key)
        if row is None:
            row = self._session_bars[key] = self._compute_history_row(symbol, kind, j)
        return row

    def _compute_history_row(
        self, symbol: str, kind: str, j: int
    ) -> tuple[int, float, float, float, float, int]:
        h = self._history
        ts = int(self._hist_open[j])
        if kind == "vix":
            vals = (h.vix_open[j], h.vix_high[j], h.vix_low[j], h.vix_close[j])
            return ts, *(round(float(v), 2) for v in vals), 0  # type: ignore[return-value]
        if kind == "etf":
            i = INDEX_SYMBOLS.index(symbol)
            vals = (h.open[j, i], h.high[j, i], h.low[j, i], h.close[j, i])
            return ts, *(round(float(v), 2) for v in vals), int(h.volume[j, i])  # type: ignore[return-value]
        spec = FUTURES[symbol]
        i = INDEX_SYMBOLS.index(spec.index)
        close_t = int(self._hist_close[j])
        fut = self._front(symbol, close_t - 1)
        factor = self.config.ratio_of(symbol) * self._carry(spec.index, fut.expiry, close_t)
        vals = (h.open[j, i], h.high[j, i], h.low[j, i], h.close[j, i])
        prices = [round(round(float(v) * factor / spec.tick) * spec.tick, 2) for v in vals]
        volume = int(spec.daily_volume * self._params.volume_mult[h.regime[j]])
        return ts, prices[0], prices[1], prices[2], prices[3], volume


def _frame(
    ts: np.ndarray, o: np.ndarray, hi: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts": pl.Series(np.asarray(ts, dtype=np.int64) * 1_000_000).cast(
                pl.Datetime("us", "UTC")
            ),
            "open": np.asarray(o, dtype=np.float64),
            "high": np.asarray(hi, dtype=np.float64),
            "low": np.asarray(lo, dtype=np.float64),
            "close": np.asarray(c, dtype=np.float64),
            "volume": np.asarray(v, dtype=np.int64),
        }
    )


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
