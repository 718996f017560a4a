"""A market-data tape: what a market showed the jobs, recorded, and the same answers replayed.

``RecordingSource`` wraps any ``MarketSource`` and notes every answer it gives
(spot, quotes, expiries, strikes, chains, contract ids, instruments, bars, and
the errors it raised), keyed by the question and the market time it was asked
at. ``TapeSource`` is a ``MarketSource`` over such a tape: it answers the same
question at the same time with the same value, bit for bit, and refuses any
question the recorded day never asked (``TapeMissError`` names it). Replaying a
day's jobs over the tape therefore sees exactly what the live jobs saw; the
first question they ask differently shows where replay and live parted.

A tape is a list of ``TapeEntry`` (``key``, market time, method, the pickled
answer); ``tape_frame`` and ``entries_from_frame`` move it to and from a
polars frame (the lake's ``market_tape`` table stores it). Answers are pickled
because they must come back exact: float arrays of a chain, a bars frame, an
exception with its message.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import polars as pl

from tradelib.backtest.source import ForwardClock, MarketSource
from tradelib.errors import TradelibError
from tradelib.markethours import MarketHours, require_utc
from tradelib.sim.types import (
    FloatArray,
    SimChain,
    SimFuture,
    SimInstrument,
    SimOptionQuote,
    SimQuote,
)

__all__ = [
    "HEADER",
    "RecordingSource",
    "TapeEntry",
    "TapeMissError",
    "TapeSource",
    "entries_from_frame",
    "tape_frame",
]

HEADER = "header"  # the entry describing the source (name, calendar, symbols)
# Answers that do not depend on time (contract ids and what they name): keyed without one.
_TIMELESS = frozenset({"con_id", "instrument"})


class TapeMissError(TradelibError):
    """Replay asked the tape a question the recorded day never asked."""

    template = (
        "the market tape has no answer to {question} at {at}: the replay asked something "
        "the recorded day did not ({hint})"
    )


@dataclass(frozen=True, slots=True)
class TapeEntry:
    """One recorded answer: ``key`` names the question and the market time it was asked at."""

    key: str
    ts: datetime
    method: str
    value: bytes  # pickle of ("ok", answer) or ("raise", exception)


def _arg(value: Any) -> str:
    if isinstance(value, datetime):
        return require_utc(value, "ts").isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def question_key(method: str, at: datetime, *args: Any) -> str:
    """The tape key of ``method(*args)`` asked at market time ``at``."""
    when = "-" if method in _TIMELESS else at.isoformat()
    return "|".join([method, when, *(_arg(a) for a in args)])


@dataclass(frozen=True, slots=True)
class _Header:
    name: str
    modelled: bool
    intraday: bool
    underlyings: tuple[str, ...]
    vol_index: str | None
    calendar: str
    first_day: date
    last_day: date


class RecordingSource:
    """A ``MarketSource`` that answers from ``inner`` and notes every answer in ``entries``.

    Time-moving calls pass through unrecorded: the replay moves its own clock the
    same way because the same code runs. ``inner`` is what is saved with a
    simulated account (a recording wrapper is never part of the state).
    """

    def __init__(self, inner: MarketSource) -> None:
        self.inner = inner
        self.hours = inner.hours
        self.entries: dict[str, TapeEntry] = {}
        header = _Header(
            inner.name,
            inner.modelled,
            inner.intraday,
            tuple(inner.underlyings),
            inner.vol_index,
            inner.hours.name,
            inner.hours.first_day,
            inner.hours.last_day,
        )
        now = inner.now()
        self.entries[HEADER] = TapeEntry(HEADER, now, HEADER, pickle.dumps(("ok", header)))

    # --- what the source is ----------------------------------------------------------
    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def modelled(self) -> bool:
        return self.inner.modelled

    @property
    def intraday(self) -> bool:
        return self.inner.intraday

    @property
    def underlyings(self) -> tuple[str, ...]:
        return tuple(self.inner.underlyings)

    @property
    def vol_index(self) -> str | None:
        return self.inner.vol_index

    # --- the clock (not recorded) --------------------------------------------------------
    def now(self) -> datetime:
        return self.inner.now()

    def advance(self, seconds: float) -> None:
        self.inner.advance(seconds)

    def advance_to(self, ts: datetime) -> None:
        self.inner.advance_to(ts)

    # --- recorded questions ------------------------------------------------------------
    def _ask(
        self, method: str, ts: datetime | None, args: tuple[Any, ...], call: Callable[[], Any]
    ) -> Any:
        at = self.inner.now() if ts is None else require_utc(ts, "ts")
        key = question_key(method, at, *args)
        try:
            answer = call()
        except Exception as exc:
            self.entries.setdefault(key, TapeEntry(key, at, method, pickle.dumps(("raise", exc))))
            raise
        self.entries.setdefault(key, TapeEntry(key, at, method, pickle.dumps(("ok", answer))))
        return answer

    def trading_days(self, start: date | None = None, end: date | None = None) -> list[date]:
        return self._ask(  # type: ignore[no-any-return]
            "trading_days", None, (start, end), lambda: self.inner.trading_days(start, end)
        )

    def quote_time(self, day: date) -> datetime:
        return self._ask("quote_time", None, (day,), lambda: self.inner.quote_time(day))  # type: ignore[no-any-return]

    def is_open(self, symbol: str, ts: datetime | None = None) -> bool:
        return self._ask("is_open", ts, (symbol,), lambda: self.inner.is_open(symbol, ts))  # type: ignore[no-any-return]

    def spot(self, symbol: str, ts: datetime | None = None) -> float:
        return self._ask("spot", ts, (symbol,), lambda: self.inner.spot(symbol, ts))  # type: ignore[no-any-return]

    def quote(self, symbol: str, ts: datetime | None = None) -> SimQuote:
        return self._ask("quote", ts, (symbol,), lambda: self.inner.quote(symbol, ts))  # type: ignore[no-any-return]

    def expiries(self, symbol: str, ts: datetime | None = None) -> list[date]:
        return self._ask("expiries", ts, (symbol,), lambda: self.inner.expiries(symbol, ts))  # type: ignore[no-any-return]

    def strikes(self, symbol: str, expiry: date, ts: datetime | None = None) -> FloatArray:
        return self._ask(  # type: ignore[no-any-return]
            "strikes", ts, (symbol, expiry), lambda: self.inner.strikes(symbol, expiry, ts)
        )

    def option_chain(self, symbol: str, expiry: date, ts: datetime | None = None) -> SimChain:
        return self._ask(  # type: ignore[no-any-return]
            "option_chain",
            ts,
            (symbol, expiry),
            lambda: self.inner.option_chain(symbol, expiry, ts),
        )

    def option_quote(
        self, symbol: str, expiry: date, strike: float, right: str, ts: datetime | None = None
    ) -> SimOptionQuote:
        return self._ask(  # type: ignore[no-any-return]
            "option_quote",
            ts,
            (symbol, expiry, float(strike), right),
            lambda: self.inner.option_quote(symbol, expiry, strike, right, ts),
        )

    def con_id(
        self,
        symbol: str,
        *,
        expiry: date | None = None,
        strike: float | None = None,
        right: str | None = None,
    ) -> int:
        args = (symbol, expiry, None if strike is None else float(strike), right)
        return self._ask(  # type: ignore[no-any-return]
            "con_id",
            None,
            args,
            lambda: self.inner.con_id(symbol, expiry=expiry, strike=strike, right=right),
        )

    def instrument(self, con_id: int) -> SimInstrument:
        return self._ask("instrument", None, (con_id,), lambda: self.inner.instrument(con_id))  # type: ignore[no-any-return]

    def futures_contract(self, root: str, ts: datetime | None = None) -> SimFuture:
        return self._ask(  # type: ignore[no-any-return]
            "futures_contract", ts, (root,), lambda: self.inner.futures_contract(root, ts)
        )

    def bars(self, symbol: str, start: datetime, end: datetime, bar_seconds: int) -> pl.DataFrame:
        return self._ask(  # type: ignore[no-any-return]
            "bars",
            None,
            (symbol, start, end, bar_seconds),
            lambda: self.inner.bars(symbol, start, end, bar_seconds),
        )


class TapeSource:
    """A ``MarketSource`` that answers only from a recorded tape, at the recorded times."""

    def __init__(self, entries: Iterable[TapeEntry], start: datetime) -> None:
        self._entries = {e.key: e for e in entries}
        if HEADER not in self._entries:
            raise TapeMissError(
                question="what the source is", at=start.isoformat(), hint="no header: not a tape"
            )
        header = self._answer(self._entries[HEADER])
        assert isinstance(header, _Header)
        self._header = header
        self.hours = MarketHours(
            header.calendar, first_day=header.first_day, last_day=header.last_day
        )
        self._clock = ForwardClock(start)
        self.asked = 0
        # the recorded market's own config, kept with an account saved over the tape
        self.config: Any = None

    @property
    def entries(self) -> int:
        """How many answers the tape holds."""
        return len(self._entries) - 1

    @staticmethod
    def _answer(entry: TapeEntry) -> Any:
        kind, value = pickle.loads(entry.value)  # the lake's own tape, never foreign input
        if kind == "raise":
            raise value
        return value

    def _ask(self, method: str, ts: datetime | None, *args: Any) -> Any:
        at = self._clock.at(ts)
        key = question_key(method, at, *args)
        entry = self._entries.get(key)
        if entry is None:
            raise TapeMissError(
                question=f"{method}({', '.join(_arg(a) for a in args)})",
                at=at.isoformat(),
                hint=f"{self.entries} answers recorded",
            )
        self.asked += 1
        return self._answer(entry)

    @property
    def name(self) -> str:
        return f"tape of {self._header.name}"

    @property
    def modelled(self) -> bool:
        return self._header.modelled

    @property
    def intraday(self) -> bool:
        return self._header.intraday

    @property
    def underlyings(self) -> tuple[str, ...]:
        return self._header.underlyings

    @property
    def vol_index(self) -> str | None:
        return self._header.vol_index

    def now(self) -> datetime:
        return self._clock.now()

    def advance(self, seconds: float) -> None:
        self._clock.advance(seconds)

    def advance_to(self, ts: datetime) -> None:
        self._clock.advance_to(ts)

    def trading_days(self, start: date | None = None, end: date | None = None) -> list[date]:
        return self._ask("trading_days", None, start, end)  # type: ignore[no-any-return]

    def quote_time(self, day: date) -> datetime:
        return self._ask("quote_time", None, day)  # type: ignore[no-any-return]

    def is_open(self, symbol: str, ts: datetime | None = None) -> bool:
        return self._ask("is_open", ts, symbol)  # type: ignore[no-any-return]

    def spot(self, symbol: str, ts: datetime | None = None) -> float:
        return self._ask("spot", ts, symbol)  # type: ignore[no-any-return]

    def quote(self, symbol: str, ts: datetime | None = None) -> SimQuote:
        return self._ask("quote", ts, symbol)  # type: ignore[no-any-return]

    def expiries(self, symbol: str, ts: datetime | None = None) -> list[date]:
        return self._ask("expiries", ts, symbol)  # type: ignore[no-any-return]

    def strikes(self, symbol: str, expiry: date, ts: datetime | None = None) -> FloatArray:
        return self._ask("strikes", ts, symbol, expiry)  # type: ignore[no-any-return]

    def option_chain(self, symbol: str, expiry: date, ts: datetime | None = None) -> SimChain:
        return self._ask("option_chain", ts, symbol, expiry)  # type: ignore[no-any-return]

    def option_quote(
        self, symbol: str, expiry: date, strike: float, right: str, ts: datetime | None = None
    ) -> SimOptionQuote:
        return self._ask("option_quote", ts, symbol, expiry, float(strike), right)  # type: ignore[no-any-return]

    def con_id(
        self,
        symbol: str,
        *,
        expiry: date | None = None,
        strike: float | None = None,
        right: str | None = None,
    ) -> int:
        return self._ask(  # type: ignore[no-any-return]
            "con_id", None, symbol, expiry, None if strike is None else float(strike), right
        )

    def instrument(self, con_id: int) -> SimInstrument:
        return self._ask("instrument", None, con_id)  # type: ignore[no-any-return]

    def futures_contract(self, root: str, ts: datetime | None = None) -> SimFuture:
        return self._ask("futures_contract", ts, root)  # type: ignore[no-any-return]

    def bars(self, symbol: str, start: datetime, end: datetime, bar_seconds: int) -> pl.DataFrame:
        return self._ask("bars", None, symbol, start, end, bar_seconds)  # type: ignore[no-any-return]


TAPE_SCHEMA = pl.Schema(
    [
        ("key", pl.String()),
        ("ts", pl.Datetime("us", "UTC")),
        ("method", pl.String()),
        ("value", pl.Binary()),
    ]
)


def tape_frame(entries: Iterable[TapeEntry]) -> pl.DataFrame:
    """The tape as a frame (one row per answer), sorted by market time."""
    rows = [(e.key, e.ts, e.method, e.value) for e in entries]
    return pl.DataFrame(rows, schema=TAPE_SCHEMA, orient="row").sort("ts", "key")


def entries_from_frame(frame: pl.DataFrame) -> list[TapeEntry]:
    """The tape entries of a frame written by ``tape_frame`` (duplicate keys kept once)."""
    frame = frame.unique("key", keep="first", maintain_order=True)
    return [
        TapeEntry(k, ts, m, v)
        for k, ts, m, v in frame.select("key", "ts", "method", "value").iter_rows()
    ]
