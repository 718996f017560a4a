"""``HistoricalSource``: a market over user-brought daily bars and a volatility index.

Underlying prices follow the files exactly at each day's open, high, low and
close; in between they move along seeded Brownian bridges (see ``bridge``).
Option quotes are MODELLED (``modelled`` is True): a surface whose level
follows the volatility index and whose put skew steepens with it, priced with
the simulated market's spreads (see ``model``). Expiries follow the listing
rules on the exchange calendar. Prices are as traded (not dividend-adjusted).
"""

from __future__ import annotations

import math
import zlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from tradelib.backtest.history.bridge import bridge_path
from tradelib.backtest.history.files import DailyBars, history_files, load_daily_bars
from tradelib.backtest.history.model import estimate_atm_ratio, known_atm_ratio, modelled_chain
from tradelib.backtest.listing import (
    ContractBook,
    default_fine_step,
    listed_expiries,
    strike_grid,
)
from tradelib.backtest.source import ForwardClock, check_right, option_quote_from_chain
from tradelib.errors import BacktestDataError, ContractError, DataRangeError
from tradelib.markethours import DEFAULT_FIRST_DAY, DEFAULT_LAST_DAY, NEW_YORK, MarketHours
from tradelib.sim.config import UNDERLYINGS
from tradelib.sim.contracts import is_monthly
from tradelib.sim.sessions import SourceDays
from tradelib.sim.surface import mix_hash
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
MAX_CACHED_CHAINS = 128
MAX_CACHED_QUOTES = 4096
_BAR_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Datetime("us", "UTC"),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Int64(),
}


@dataclass(frozen=True, slots=True)
class HistoryModel:
    """Knobs of the quote model; per-symbol maps fall back to the simulated ETFs' values.

    ``atm_iv_ratio``: 30-day ATM IV / vol index (unknown symbols: estimated from
    realised vol). ``weekly_days``: weekdays with weekly expiries (unknown: Friday).
    ``spread_mult``: option bid/ask width vs SPY (unknown: 1.0). Rates and yields
    are decimals, continuously compounded.
    """

    seed: int = 7
    rate: float = 0.04
    dividend_yields: Mapping[str, float] = field(default_factory=dict)
    atm_iv_ratio: Mapping[str, float] = field(default_factory=dict)
    weekly_days: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    spread_mult: Mapping[str, float] = field(default_factory=dict)
    default_dividend_yield: float = 0.013


@dataclass(frozen=True, slots=True)
class _Spec:
    atm_ratio: float
    weekly_days: tuple[int, ...]
    spread_mult: float
    div_yield: float
    fine_step: float


def _epoch(ts: datetime) -> int:
    return math.floor(ts.timestamp())


def _dt(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def calendar_for(first: date, last: date, name: str = "XNYS") -> MarketHours:
    """Return an exchange calendar covering ``first``..``last`` plus a year of expiries."""
    lo = min(DEFAULT_FIRST_DAY, first - timedelta(days=30))
    hi = max(DEFAULT_LAST_DAY, last + timedelta(days=400))
    return MarketHours(name, first_day=lo, last_day=hi)


class HistoricalSource:
    """A ``MarketSource`` over daily bars per symbol plus a volatility index; quotes modelled."""

    def __init__(
        self,
        bars: Mapping[str, DailyBars] | Sequence[DailyBars],
        vol_index: DailyBars,
        *,
        model: HistoryModel | None = None,
        start: date | None = None,
        hours: MarketHours | None = None,
    ) -> None:
        items = list(bars.values()) if isinstance(bars, Mapping) else list(bars)
        if not items:
            raise ValueError("a historical source needs at least one underlying")
        self.model = model or HistoryModel()
        every = [*items, vol_index]
        first = max(b.first_day for b in every)
        last = min(b.last_day for b in every)
        if first > last:
            spans = ", ".join(f"{b.symbol} {b.first_day}..{b.last_day}" for b in every)
            raise BacktestDataError(file="history", problem=f"the files share no day ({spans})")
        self.hours = hours or calendar_for(first, last)
        self._days = np.array(self.hours.trading_days(first, last), dtype="datetime64[D]")
        self._bars = {b.symbol: _slice(b, self._days) for b in items}
        self._vix = _slice(vol_index, self._days)
        self._vol_index = vol_index.symbol
        self._served = SourceDays(self.hours, self.first_day, self.last_day, self._outside)
        bounds = [self.hours.session_bounds(d.astype(date)) for d in self._days]
        self._open = np.array([_epoch(o) for o, _ in bounds], dtype=np.int64)
        self._close = np.array([_epoch(c) for _, c in bounds], dtype=np.int64)
        self._paths: dict[tuple[str, int], FloatArray] = {}
        self._listings: dict[tuple[str, date], list[date]] = {}
        self._closes: dict[date, int] = {}  # expiry -> epoch second of its close
        # Full chains by (symbol, expiry, second): a broker marks, checks margin and fills
        # off the same chain several times within one second.
        self._chain_cache: OrderedDict[tuple[str, date, int], SimChain] = OrderedDict()
        self._quote_cache: dict[tuple[str, date, float, str, int], SimOptionQuote] = {}
        self._specs = {s: self._spec(b) for s, b in self._bars.items()}
        self.contracts = ContractBook(tuple(self._bars), self._vol_index, self.hours)
        begin = self.first_day if start is None else start
        self._check_range(begin, begin)
        day0 = self.hours.trading_day_on_or_before(begin) if begin >= self.first_day else begin
        self._clock = ForwardClock(self.hours.session_bounds(max(day0, self.first_day))[0])

    @classmethod
    def from_files(
        cls,
        underlyings: Mapping[str, str | Path] | Sequence[str | Path],
        vol_index: str | Path,
        *,
        model: HistoryModel | None = None,
        start: date | None = None,
        calendar: str = "XNYS",
    ) -> HistoricalSource:
        """Load and validate the files (a symbol's name is its key, else the file stem)."""
        pairs = (
            list(underlyings.items())
            if isinstance(underlyings, Mapping)
            else [(None, p) for p in underlyings]
        )
        rough = [load_daily_bars(p, s) for s, p in pairs]
        rough_vix = load_daily_bars(vol_index, vol_index=True)
        hours = calendar_for(
            min(b.first_day for b in [*rough, rough_vix]),
            max(b.last_day for b in [*rough, rough_vix]),
            calendar,
        )
        bars = [load_daily_bars(p, s, hours=hours) for s, p in pairs]
        vix = load_daily_bars(vol_index, hours=hours, vol_index=True)
        return cls(bars, vix, model=model, start=start, hours=hours)

    @classmethod
    def from_dir(
        cls,
        directory: str | Path,
        symbols: Sequence[str] | None = None,
        *,
        vol_index: str = "VIX",
        model: HistoryModel | None = None,
        start: date | None = None,
    ) -> HistoricalSource:
        """Load ``SYMBOL.csv``/``.parquet`` files (``^VIX.csv`` works too) from ``directory``."""
        root = Path(directory)
        files = history_files(root, vol_index)
        wanted = list(symbols) if symbols is not None else [s for s in files if s != vol_index]
        missing = [s for s in wanted if s not in files]
        if missing or not wanted:
            raise BacktestDataError(
                file=str(root),
                problem=f"no file for {', '.join(missing) or 'any underlying'} (found {', '.join(files)})",
            )
        return cls.from_files(
            {s: files[s] for s in wanted}, files[vol_index], model=model, start=start
        )

    def __repr__(self) -> str:
        return f"HistoricalSource({self.name}, {self.first_day}..{self.last_day})"

    # --- MarketSource: description -------------------------------------------------------
    @property
    def name(self) -> str:
        """Say what the source is and that its quotes are modelled."""
        return f"history({','.join(self.underlyings)}; {self._vol_index}; quotes modelled)"

    @property
    def modelled(self) -> bool:
        """Option quotes are modelled from the bars and the vol index."""
        return True

    @property
    def intraday(self) -> bool:
        """Prices move along bridged paths through the session."""
        return True

    @property
    def underlyings(self) -> tuple[str, ...]:
        """Return the optionable symbols, sorted."""
        return self.contracts.underlyings

    @property
    def vol_index(self) -> str:
        """Return the volatility index symbol."""
        return self._vol_index

    @property
    def first_day(self) -> date:
        """Return the first day every file has."""
        return self._days[0].astype(date)  # type: ignore[no-any-return]

    @property
    def last_day(self) -> date:
        """Return the last day every file has."""
        return self._days[-1].astype(date)  # type: ignore[no-any-return]

    def trading_days(self, start: date | None = None, end: date | None = None) -> list[date]:
        """Return the exchange days in ``[start, end]``; ``DataRangeError`` outside the data."""
        return self._served.trading_days(start, end)

    def quote_time(self, day: date) -> datetime:
        """Return the session open of ``day``."""
        return self._served.quote_time(day)

    def _check_range(self, lo: date, hi: date) -> None:
        self._served.check(lo, hi)

    def _outside(self, lo: date, hi: date) -> DataRangeError:
        return DataRangeError(
            source=self.name,
            problem=f"{lo}..{hi} reaches outside the data",
            first=self.first_day,
            last=self.last_day,
        )

    # --- clock -----------------------------------------------------------------------------
    def now(self) -> datetime:
        """Return the source's current time (UTC)."""
        return self._clock.now()

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds``."""
        self._clock.advance(seconds)

    def advance_to(self, ts: datetime) -> None:
        """Move forward to ``ts``; past the last close of the data is refused."""
        if ts.timestamp() > self._close[-1] + 6 * 3600:
            raise DataRangeError(
                source=self.name,
                problem=f"{ts.isoformat()} is after the data",
                first=self.first_day,
                last=self.last_day,
            )
        self._clock.advance_to(ts)

    # --- prices ----------------------------------------------------------------------------
    def _series(self, symbol: str) -> DailyBars:
        if symbol == self._vol_index:
            return self._vix
        found = self._bars.get(symbol)
        if found is None:
            known = ", ".join([*self._bars, self._vol_index])
            raise ContractError(f"unknown symbol {symbol!r} (known: {known})")
        return found

    def _path(self, symbol: str, i: int) -> FloatArray:
        key = (symbol, i)
        path = self._paths.get(key)
        if path is None:
            b = self._series(symbol)
            steps = int(self._close[i] - self._open[i]) // 60
            day = int(self._days[i].astype(np.int64))
            rng = np.random.default_rng([self.model.seed, zlib.crc32(symbol.encode()), day])
            path = bridge_path(
                float(b.open[i]), float(b.high[i]), float(b.low[i]), float(b.close[i]), steps, rng
            )
            self._paths[key] = path
        return path

    def _price(self, symbol: str, t: int) -> tuple[float, int]:
        """Return ``(price, second it was current)`` at epoch second ``t``."""
        b = self._series(symbol)
        i = int(np.searchsorted(self._open, t, side="right")) - 1
        if i < 0:
            raise DataRangeError(
                source=self.name,
                problem=f"{_dt(t).isoformat()} is before the first open",
                first=self.first_day,
                last=self.last_day,
            )
        if t >= self._close[i]:
            return float(b.close[i]), int(self._close[i]) - 1
        path = self._path(symbol, i)
        x = (t - self._open[i]) / 60.0
        k = min(int(x), path.size - 2)
        return float(path[k] + (x - k) * (path[k + 1] - path[k])), t

    def _t(self, ts: datetime | None) -> int:
        return _epoch(self._clock.at(ts))

    def is_open(self, symbol: str, ts: datetime | None = None) -> bool:
        """Return whether ``symbol`` trades at ``ts`` (regular hours of a day with data)."""
        self._series(symbol)
        when = self._clock.now() if ts is None else ts
        return (
            self.hours.is_open(when)
            and self.first_day <= when.astimezone(NEW_YORK).date() <= self.last_day
        )

    def spot(self, symbol: str, ts: datetime | None = None) -> float:
        """Return the last price ($0.01) of an underlying or the vol index."""
        return round(self._price(symbol, self._t(ts))[0], 2)

    def quote(self, symbol: str, ts: datetime | None = None) -> SimQuote:
        """Return top of book: a one-cent market for a stock; an index has only ``last``."""
        t = self._t(ts)
        price, seen = self._price(symbol, t)
        con_id = self.contracts.underlying_con_id(symbol)
        if symbol == self._vol_index:
            return SimQuote(symbol, con_id, math.nan, math.nan, round(price, 2), 0, 0, _dt(seen))
        bid = math.floor(price * 100.0 - 0.5 + 1e-9) / 100.0
        ask = round(bid + 0.01, 2)
        sizes = mix_hash(self.model.seed, con_id, seen, np.arange(2))
        bid_size, ask_size = (int(1 + s % 40) * 100 for s in sizes)
        last = min(max(round(price, 2), bid), ask)
        return SimQuote(symbol, con_id, round(bid, 2), ask, last, bid_size, ask_size, _dt(seen))

    # --- options -------------------------------------------------------------------------------
    def _spec(self, b: DailyBars) -> _Spec:
        m, s = self.model, b.symbol
        known = UNDERLYINGS.get(s)
        ratio = (
            m.atm_iv_ratio.get(s)
            or known_atm_ratio(s)
            or estimate_atm_ratio(b.close, self._vix.close)
        )
        return _Spec(
            atm_ratio=ratio,
            weekly_days=m.weekly_days.get(s, known.weekly_days if known else (4,)),
            spread_mult=m.spread_mult.get(s, known.option_spread_mult if known else 1.0),
            div_yield=m.dividend_yields.get(
                s, {"SPY": 0.012, "QQQ": 0.006, "IWM": 0.013}.get(s, m.default_dividend_yield)
            ),
            fine_step=default_fine_step(float(np.median(b.close))),
        )

    def _optionable(self, symbol: str) -> _Spec:
        spec = self._specs.get(symbol)
        if spec is None:
            raise ContractError(
                f"{symbol!r} has no options here (optionable: {', '.join(self.underlyings)})"
            )
        return spec

    def expiries(self, symbol: str, ts: datetime | None = None) -> list[date]:
        """Return the expiries listed at ``ts`` that have not expired, ascending."""
        spec = self._optionable(symbol)
        t = self._t(ts)
        today = _dt(t).astimezone(NEW_YORK).date()
        listed = self._listings.get((symbol, today))
        if listed is None:
            listed = listed_expiries(today, spec.weekly_days, self.hours)
            self._listings[(symbol, today)] = listed
        if listed and listed[0] == today and t >= _epoch(self.hours.session_bounds(today)[1]):
            return listed[1:]
        return list(listed)

    def _inputs(self, symbol: str, expiry: date, t: int) -> tuple[_Spec, float, float, int, float]:
        spec = self._optionable(symbol)
        if expiry not in self.expiries(symbol, _dt(t)):
            raise ContractError(
                f"{symbol} expiry {expiry} is not listed on {_dt(t).astimezone(NEW_YORK).date()}"
            )
        price, seen = self._price(symbol, t)
        vix, _ = self._price(self._vol_index, seen)
        close = self._closes.get(expiry)
        if close is None:
            close = self._closes[expiry] = _epoch(self.hours.session_bounds(expiry)[1])
        years = max((close - seen) / YEAR_S, MIN_T_YEARS)
        return spec, round(price, 2), vix, seen, years

    def strikes(self, symbol: str, expiry: date, ts: datetime | None = None) -> FloatArray:
        """Return the listed strikes of one expiry (ascending, USD)."""
        spec, spot, _, _, years = self._inputs(symbol, expiry, self._t(ts))
        return strike_grid(spot, years, 0.18 * spec.atm_ratio, spec.fine_step)

    def _chain(
        self, symbol: str, expiry: date, strikes: FloatArray, is_call: np.ndarray, t: int
    ) -> SimChain:
        spec, spot, vix, seen, years = self._inputs(symbol, expiry, t)
        return modelled_chain(
            symbol=symbol,
            expiry=expiry,
            spot=spot,
            vol_index=vix,
            years=years,
            rate=self.model.rate,
            div_yield=spec.div_yield,
            atm_ratio=spec.atm_ratio,
            spread_mult=spec.spread_mult,
            strikes=strikes,
            is_call=is_call,
            con_ids=self.contracts.option_con_ids(symbol, expiry, strikes, is_call),
            ts=_dt(seen),
            seed=self.model.seed,
            monthly=is_monthly(expiry, self.hours),
        )

    def option_chain(self, symbol: str, expiry: date, ts: datetime | None = None) -> SimChain:
        """Return every listed strike x (call, put) of one expiry, modelled."""
        t = self._t(ts)
        key = (symbol, expiry, t)
        cached = self._chain_cache.get(key)
        if cached is not None:
            return cached
        grid = self.strikes(symbol, expiry, _dt(t))
        chain = self._chain(
            symbol, expiry, np.repeat(grid, 2), np.tile([True, False], grid.size), t
        )
        self._chain_cache[key] = chain
        while len(self._chain_cache) > MAX_CACHED_CHAINS:
            self._chain_cache.popitem(last=False)
        return chain

    def option_quote(
        self, symbol: str, expiry: date, strike: float, right: str, ts: datetime | None = None
    ) -> SimOptionQuote:
        """Return one option's modelled quote (any positive strike)."""
        right = check_right(right)
        if not (math.isfinite(strike) and strike > 0):
            raise ContractError(f"{symbol} strike {strike!r} must be a positive number")
        t = self._t(ts)
        # A pure function of (terms, second): monitoring asks the same legs repeatedly.
        key = (symbol, expiry, float(strike), right, t)
        cached = self._quote_cache.get(key)
        if cached is not None:
            return cached
        chain = self._chain(symbol, expiry, np.array([float(strike)]), np.array([right == "C"]), t)
        quote = option_quote_from_chain(chain, 0, right)
        if len(self._quote_cache) >= MAX_CACHED_QUOTES:
            self._quote_cache.clear()
        self._quote_cache[key] = quote
        return quote

    # --- contracts, futures, bars ------------------------------------------------------------
    def con_id(
        self,
        symbol: str,
        *,
        expiry: date | None = None,
        strike: float | None = None,
        right: str | None = None,
    ) -> int:
        """Return the id of an underlying, the vol index, or (with all three) an option."""
        given = [x is not None for x in (expiry, strike, right)]
        if not any(given):
            return self.contracts.underlying_con_id(symbol)
        if not all(given):
            raise ContractError(
                f"an option con_id needs expiry, strike and right; got {symbol} {expiry} {strike} {right}"
            )
        assert expiry is not None and strike is not None and right is not None
        if not self.hours.is_trading_day(expiry):
            raise ContractError(f"{symbol} has no expiry on {expiry} (not a trading day)")
        return self.contracts.option_con_id(symbol, expiry, float(strike), check_right(right))

    def instrument(self, con_id: int) -> SimInstrument:
        """Return what ``con_id`` stands for."""
        return self.contracts.instrument(int(con_id))

    def futures_contract(self, root: str, ts: datetime | None = None) -> SimFuture:
        """Refuse: a historical source has no futures."""
        raise ContractError(f"{root!r}: a historical source lists no futures")

    def bars(self, symbol: str, start: datetime, end: datetime, bar_seconds: int) -> pl.DataFrame:
        """Return bars in ``[start, end)`` up to now: daily (86400) from the files, intraday
        (multiples of 60 s) from the bridged paths; ``ts`` is the bar start, UTC."""
        b = self._series(symbol)
        if not isinstance(bar_seconds, int) or not (
            bar_seconds == 86_400 or (60 <= bar_seconds < 86_400 and bar_seconds % 60 == 0)
        ):
            raise ValueError(
                f"bar_seconds must be 86400 or a multiple of 60 below it, got {bar_seconds!r}"
            )
        s, e = _epoch(start), min(_epoch(end), _epoch(self._clock.now()) + 1)
        lo = max(int(np.searchsorted(self._close, s, side="right")), 0)
        hi = int(np.searchsorted(self._open, e, side="left"))
        rows: dict[str, list[float]] = {k: [] for k in _BAR_SCHEMA}
        for i in range(lo, hi):
            done = self._close[i] <= e
            if bar_seconds == 86_400:
                if not s <= self._open[i] < e:
                    continue
                if done:
                    vals = (b.open[i], b.high[i], b.low[i], b.close[i])
                else:
                    seen = self._path(symbol, i)[: int((e - 1 - self._open[i]) // 60) + 1]
                    vals = (seen[0], seen.max(), seen.min(), seen[-1])
                frac = 1.0 if done else (e - self._open[i]) / (self._close[i] - self._open[i])
                for k, v in zip(
                    ("ts", "open", "high", "low", "close", "volume"),
                    (self._open[i], *vals, int(b.volume[i] * frac)),
                    strict=True,
                ):
                    rows[k].append(v)
                continue
            path = self._path(symbol, i)
            minutes = self._open[i] + 60 * np.arange(path.size - 1)
            keep = (minutes >= s) & (minutes + 60 <= e)
            if not keep.any():
                continue
            per = b.volume[i] / (path.size - 1)
            bucket = minutes - minutes % bar_seconds
            for q in np.unique(bucket[keep]):
                sel = np.flatnonzero(keep & (bucket == q))
                seg = path[sel[0] : sel[-1] + 2]
                for k, v in zip(
                    ("ts", "open", "high", "low", "close", "volume"),
                    (int(q), seg[0], seg.max(), seg.min(), seg[-1], int(per * sel.size)),
                    strict=True,
                ):
                    rows[k].append(v)
        if not rows["ts"]:
            return pl.DataFrame(schema=_BAR_SCHEMA)
        return pl.DataFrame(
            {
                "ts": pl.Series(np.asarray(rows["ts"], dtype=np.int64) * 1_000_000).cast(
                    pl.Datetime("us", "UTC")
                ),
                **{
                    k: np.round(np.asarray(rows[k], dtype=np.float64), 2)
                    for k in ("open", "high", "low", "close")
                },
                "volume": np.asarray(rows["volume"], dtype=np.int64),
            }
        )


def _slice(b: DailyBars, days: np.ndarray) -> DailyBars:
    i = int(np.searchsorted(b.day, days[0]))
    j = i + days.size
    if j > len(b) or not np.array_equal(b.day[i:j], days):
        raise BacktestDataError(
            file=str(b.path), problem=f"does not cover every session {days[0]}..{days[-1]}"
        )
    return DailyBars(
        b.symbol, b.path, b.day[i:j], b.open[i:j], b.high[i:j], b.low[i:j], b.close[i:j],
        b.volume[i:j], None if b.adj_close is None else b.adj_close[i:j],
    )  # fmt: skip
