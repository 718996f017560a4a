"""The simulated market: prices, quotes, option chains, futures and bars at any moment.

``SimulatedMarket`` owns a simulated "now" that only moves forward. Every
query takes an optional ``ts`` (default: now) and refuses the future, so there
is no look-ahead. State at any timestamp is a pure function of the config and
that timestamp, however the market got there (see ``tradelib.sim.paths``).
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from tradelib.errors import ContractError
from tradelib.markethours import NEW_YORK, MarketHours, require_utc
from tradelib.sim import contracts as ct
from tradelib.sim.bars import MarketBars
from tradelib.sim.config import (
    FUTURES,
    INDEX_SYMBOLS,
    REGIME_SPECS,
    UNDERLYINGS,
    VIX,
    SimMarketConfig,
    default_start,
)
from tradelib.sim.options import MarketOptions, _check_right
from tradelib.sim.paths import (
    MODEL_VERSION,
    Block,
    History,
    ModelParams,
    PathState,
    generate_block,
    generate_history,
)
from tradelib.sim.seconds import YEAR_S, _dt, _epoch, _ny_date
from tradelib.sim.sessions import SourceDays
from tradelib.sim.surface import mix_hash
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

MAX_CACHED_BLOCKS = 16  # ~3-8 MB each; older blocks are regenerated on demand

SessionBar = tuple[int, float, float, float, float, int]


@dataclass(frozen=True, slots=True)
class MarketMemo:
    """What a market worked out that is costly to redo, for a market rebuilt elsewhere.

    Each generated session's bounds and the path state it starts from, and the
    daily bar of every finished session. All are pure functions of the config
    and the calendar, so a market in another process that adopts them answers
    exactly as if it had generated them, without regenerating every second since
    its first day (what each papermill job of a simulated account did).
    """

    config: SimMarketConfig
    calendar: str
    model_version: int  # tradelib.sim.paths.MODEL_VERSION of the market that worked it out
    history: str  # fingerprint of the history window's sessions (the calendar there)
    days: tuple[date, ...]
    bounds: tuple[tuple[int, int, int], ...]  # (block start, session open, session close)
    states: tuple[PathState, ...]  # states[k]: where block k starts (states[0]: history's end)
    session_bars: dict[tuple[str, int], SessionBar]


class SimulatedMarket(MarketOptions, MarketBars):
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

    def memo(self) -> MarketMemo:
        """Return the sessions, path states and finished daily bars worked out so far."""
        return MarketMemo(
            config=self.config,
            calendar=self.hours.name,
            model_version=MODEL_VERSION,
            history=self._history_fingerprint(),
            days=tuple(self._days),
            bounds=tuple(zip(self._block_start, self._block_open, self._block_close, strict=True)),
            states=tuple(self._states),
            session_bars=dict(self._session_bars),
        )

    def adopt(self, memo: MarketMemo) -> bool:
        """Take over ``memo`` if it describes this very market; return whether it did.

        A memo of another config, calendar or model version, or one whose sessions or
        starting state disagree with this market's own (a calendar that gained or lost
        a session since), is ignored: the market then works everything out itself.
        """
        try:
            fits = self._fits(memo)
        except Exception:  # a memo this market cannot even check (a day off the calendar)
            fits = False
        if not fits:
            return False
        self._days = list(memo.days)
        self._block_start = [b[0] for b in memo.bounds]
        self._block_open = [b[1] for b in memo.bounds]
        self._block_close = [b[2] for b in memo.bounds]
        self._states = list(memo.states)
        self._session_bars.update(memo.session_bars)
        self._blocks.clear()
        self._series_of.clear()
        return True

    def _fits(self, memo: MarketMemo) -> bool:
        if (
            memo.config != self.config
            or memo.calendar != self.hours.name
            or memo.model_version != MODEL_VERSION
            or memo.history != self._history_fingerprint()
            or not memo.days
            or len(memo.bounds) != len(memo.days)
            or not 1 <= len(memo.states) <= len(memo.days) + 1
            or memo.days[0] != self._days[0]
            or memo.bounds[0][0] != self._block_start[0]
            or not _same_state(memo.states[0], self._states[0])
        ):
            return False
        previous_day, previous_close = None, memo.bounds[0][0]
        for day, (start, open_, close) in zip(memo.days, memo.bounds, strict=True):
            if previous_day is not None and day != self.hours.next_trading_day(previous_day):
                return False  # a session the calendar has between two of the memo's
            o, c = self.hours.session_bounds(day)
            if (start, open_, close) != (previous_close, _epoch(o), _epoch(c)):
                return False
            previous_day, previous_close = day, close
        return True

    def _history_fingerprint(self) -> str:
        digest = hashlib.sha256(self._hist_open.tobytes() + self._hist_close.tobytes())
        return digest.hexdigest()[:32]

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


def _same_state(a: PathState, b: PathState) -> bool:
    return bool(np.array_equal(a.log_level, b.log_level)) and (
        a.regime,
        a.trend_sign,
        a.log_vix,
        a.rv2,
    ) == (b.regime, b.trend_sign, b.log_vix, b.rv2)
