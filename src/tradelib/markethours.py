"""Exchange hours: regular sessions (holidays, early closes) and CME equity-futures hours.

Everything takes and returns timezone-aware UTC datetimes (days are plain
``date`` objects, named after the New York session they belong to). A naive
datetime raises ``ValueError`` naming the argument.

Futures hours are an approximation of CME Globex equity-index futures (ES, NQ,
RTY): a trade date ``D`` runs from 18:00 New York time on the previous calendar
day to 17:00 on ``D`` (so the week opens Sunday 18:00 and closes Friday 17:00,
with a daily 17:00-18:00 halt). Trade dates that are full NYSE holidays are
closed entirely; CME's shortened holiday sessions (e.g. trading until 13:00 on
Thanksgiving) are not modelled, and NYSE early closes do not shorten futures.
"""

from __future__ import annotations

import bisect
import functools
import importlib.metadata
import os
import tempfile
import warnings
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

NEW_YORK = ZoneInfo("America/New_York")

_FUT_OPEN_ET = time(18, 0)  # Globex reopens after the daily halt
_FUT_CLOSE_ET = time(17, 0)  # daily maintenance halt starts
_NS = 1_000_000_000

DEFAULT_FIRST_DAY = date(2010, 1, 1)
DEFAULT_LAST_DAY = date(2036, 12, 31)


def require_utc(ts: datetime, name: str = "ts") -> datetime:
    """Return ``ts`` converted to UTC; raise ``ValueError`` naming ``name`` if it is naive."""
    if not isinstance(ts, datetime):
        raise ValueError(f"{name} must be a timezone-aware datetime, got {type(ts).__name__}")
    if ts.tzinfo is None or ts.tzinfo.utcoffset(ts) is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive datetime {ts!r}")
    return ts.astimezone(UTC)


def _require_day(day: date, name: str = "day") -> date:
    if isinstance(day, datetime) or not isinstance(day, date):
        raise ValueError(f"{name} must be a datetime.date, got {type(day).__name__} {day!r}")
    return day


def _to_ns(ts: datetime) -> int:
    # Exact integer arithmetic: float timestamps lose nanoseconds.
    delta = ts - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * _NS + delta.microseconds * 1000


def _from_ns(ns: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)


def et_datetime(day: date, at: time) -> datetime:
    """Return the UTC instant of wall-clock time ``at`` in New York on ``day``."""
    return datetime.combine(day, at, tzinfo=NEW_YORK).astimezone(UTC)


CalendarArrays = tuple[npt.NDArray[np.datetime64], npt.NDArray[np.int64], npt.NDArray[np.int64]]


def cache_dir() -> Path:
    """Where derived, rebuildable files go: ``TRADELIB_CACHE_DIR``, else ``~/.cache/tradelib``."""
    explicit = os.environ.get("TRADELIB_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tradelib"


_CACHE_FORMAT = 1  # bump when what _load_calendar derives from the calendar changes


@functools.cache
def _load_calendar(name: str, first: date, last: date) -> CalendarArrays:
    # Building an exchange_calendars object takes ~0.5 s, in every job's kernel: do it
    # once per process, and keep its sessions on disk for the next process.
    version = importlib.metadata.version("exchange_calendars")
    path = cache_dir() / f"calendar{_CACHE_FORMAT}-{name}-{first}-{last}-xcals{version}.npz"
    cached = _read_sessions(path)
    if cached is not None:
        return cached
    import exchange_calendars as xcals  # ~1 s with pandas: only when the sessions are not kept

    try:
        with warnings.catch_warnings():
            # exchange_calendars 4.13 trips a pandas-3 deprecation on every build;
            # nothing for us to act on, so keep it out of every caller's output.
            warnings.filterwarnings("ignore", message="Series.values returning")
            cal = xcals.get_calendar(name, start=first.isoformat(), end=last.isoformat())
    except xcals.errors.InvalidCalendarName as exc:
        raise ValueError(f"calendar: unknown exchange calendar {name!r}") from exc
    sched = cal.schedule
    days = np.array([d.date() for d in sched.index], dtype="datetime64[D]")
    opens, closes = (
        sched[col].dt.tz_convert(None).to_numpy().astype("datetime64[ns]").astype(np.int64)
        for col in ("open", "close")
    )
    _write_sessions(path, days, opens, closes)
    return days, opens, closes


def _read_sessions(path: Path) -> CalendarArrays | None:
    """The sessions a previous process kept, or None (missing, unreadable: rebuild)."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            days, opens, closes = saved["days"], saved["opens"], saved["closes"]
    except Exception:  # missing, empty, truncated, not an archive: a cache, so rebuild
        return None
    ok = (
        days.dtype == np.dtype("datetime64[D]")
        and opens.dtype == closes.dtype == np.dtype(np.int64)
        and days.shape == opens.shape == closes.shape
        and days.size > 0
        and bool(np.all(opens < closes))
    )
    return (days, opens, closes) if ok else None


def _write_sessions(path: Path, *arrays: npt.NDArray[np.generic]) -> None:
    """Keep the sessions for the next process; a cache that cannot be written is no error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".npz")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, days=arrays[0], opens=arrays[1], closes=arrays[2])
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)


class _Sessions:
    """One calendar's sessions as plain Python lists and dicts, shared by every ``MarketHours``.

    Scalar lookups (is this a trading day, the bounds of one session) run many
    thousand times per backtest day; ``bisect`` over lists and dict lookups cost a
    fraction of a numpy scalar search, and session bounds are built once.
    """

    __slots__ = ("_bounds", "closes", "days", "index", "opens")

    def __init__(
        self,
        days: npt.NDArray[np.datetime64],
        opens: npt.NDArray[np.int64],
        closes: npt.NDArray[np.int64],
    ) -> None:
        self.days: list[date] = [d.astype(date) for d in days]
        self.opens: list[int] = [int(x) for x in opens]
        self.closes: list[int] = [int(x) for x in closes]
        self.index: dict[date, int] = {d: i for i, d in enumerate(self.days)}
        self._bounds: dict[int, tuple[datetime, datetime]] = {}

    def bounds(self, i: int) -> tuple[datetime, datetime]:
        cached = self._bounds.get(i)
        if cached is None:
            cached = (_from_ns(self.opens[i]), _from_ns(self.closes[i]))
            self._bounds[i] = cached
        return cached


@functools.cache
def _load_sessions(name: str, first: date, last: date) -> _Sessions:
    return _Sessions(*_load_calendar(name, first, last))


class MarketHours:
    """Regular trading hours of one exchange calendar, plus CME equity-futures hours.

    Sessions are loaded once per (calendar, range) and searched with numpy, so
    every query is cheap. Dates outside ``[first_day, last_day]`` raise ``ValueError``.
    """

    def __init__(
        self,
        calendar: str = "XNYS",
        *,
        first_day: date = DEFAULT_FIRST_DAY,
        last_day: date = DEFAULT_LAST_DAY,
    ) -> None:
        _require_day(first_day, "first_day")
        _require_day(last_day, "last_day")
        if last_day <= first_day:
            raise ValueError(f"last_day {last_day} must be after first_day {first_day}")
        self.name = calendar
        self.first_day = first_day
        self.last_day = last_day
        self._days, self._opens, self._closes = _load_calendar(calendar, first_day, last_day)
        self._s = _load_sessions(calendar, first_day, last_day)
        self._lo_ns = int(self._opens[0]) - 7 * 86_400 * _NS
        self._hi_ns = int(self._closes[-1]) + 7 * 86_400 * _NS

    def __repr__(self) -> str:
        return f"MarketHours({self.name!r}, {self.first_day}..{self.last_day})"

    # --- helpers -----------------------------------------------------------------
    def _check_ts(self, ts: datetime, name: str) -> int:
        utc = require_utc(ts, name)
        ns = _to_ns(utc)
        if not self._lo_ns <= ns <= self._hi_ns:
            raise ValueError(
                f"{name} {utc.isoformat()} is outside the loaded calendar range "
                f"{self.first_day}..{self.last_day}"
            )
        return ns

    def _check_day(self, day: date, name: str = "day") -> date:
        _require_day(day, name)
        if not self.first_day <= day <= self.last_day:
            raise ValueError(
                f"{name} {day} is outside the loaded calendar range "
                f"{self.first_day}..{self.last_day}"
            )
        return day

    def _index_of(self, day: date) -> int:
        i = self._s.index.get(self._check_day(day))
        if i is None:
            raise ValueError(f"day {day} is not a trading day on {self.name}")
        return i

    # --- regular sessions ----------------------------------------------------------
    def is_trading_day(self, day: date) -> bool:
        """Return whether ``day`` has a regular session."""
        return self._check_day(day) in self._s.index

    def session_bounds(self, day: date) -> tuple[datetime, datetime]:
        """Return ``(open_utc, close_utc)`` of the session on ``day`` (early closes included)."""
        return self._s.bounds(self._index_of(day))

    def is_open(self, ts: datetime) -> bool:
        """Return whether the regular session is open at ``ts`` (open inclusive, close exclusive)."""
        return self.session_for(ts) is not None

    def session_for(self, ts: datetime) -> date | None:
        """Return the day of the session in progress at ``ts``, or None outside sessions."""
        ns = self._check_ts(ts, "ts")
        i = bisect.bisect_right(self._s.opens, ns) - 1
        if i >= 0 and ns < self._s.closes[i]:
            return self._s.days[i]
        return None

    def next_open(self, ts: datetime) -> datetime:
        """Return the first session open strictly after ``ts``."""
        ns = self._check_ts(ts, "ts")
        i = bisect.bisect_right(self._s.opens, ns)
        if i >= len(self._s.opens):
            raise ValueError(f"ts {ts.isoformat()}: no session open within the loaded range")
        return self._s.bounds(i)[0]

    def next_close(self, ts: datetime) -> datetime:
        """Return the first session close strictly after ``ts``."""
        ns = self._check_ts(ts, "ts")
        i = bisect.bisect_right(self._s.closes, ns)
        if i >= len(self._s.closes):
            raise ValueError(f"ts {ts.isoformat()}: no session close within the loaded range")
        return self._s.bounds(i)[1]

    def previous_close(self, ts: datetime) -> datetime:
        """Return the last session close at or before ``ts``."""
        ns = self._check_ts(ts, "ts")
        i = bisect.bisect_right(self._s.closes, ns) - 1
        if i < 0:
            raise ValueError(f"ts {ts.isoformat()}: no session close within the loaded range")
        return self._s.bounds(i)[1]

    def trading_days(self, start: date, end: date) -> list[date]:
        """Return the trading days from ``start`` to ``end``, both inclusive."""
        s, e = self._check_day(start, "start"), self._check_day(end, "end")
        days = self._s.days
        return days[bisect.bisect_left(days, s) : bisect.bisect_right(days, e)]

    def previous_trading_day(self, day: date) -> date:
        """Return the last trading day strictly before ``day``."""
        i = bisect.bisect_left(self._s.days, self._check_day(day)) - 1
        if i < 0:
            raise ValueError(f"day {day}: no trading day before it in the loaded range")
        return self._s.days[i]

    def next_trading_day(self, day: date) -> date:
        """Return the first trading day strictly after ``day``."""
        i = bisect.bisect_right(self._s.days, self._check_day(day))
        if i >= len(self._s.days):
            raise ValueError(f"day {day}: no trading day after it in the loaded range")
        return self._s.days[i]

    def trading_day_on_or_before(self, day: date) -> date:
        """Return ``day`` if it is a trading day, else the previous trading day."""
        return day if self.is_trading_day(day) else self.previous_trading_day(day)

    # --- CME equity futures (approximation, see module docstring) -------------------
    def futures_trade_date(self, ts: datetime) -> date:
        """Return the futures trade date ``ts`` belongs to (the evening session counts as next day)."""
        local = require_utc(ts, "ts").astimezone(NEW_YORK)
        d = local.date()
        return d + timedelta(days=1) if local.time() >= _FUT_CLOSE_ET else d

    def _futures_trades_on(self, trade_date: date) -> bool:
        return trade_date.weekday() < 5 and self.is_trading_day(trade_date)

    def futures_is_open(self, ts: datetime) -> bool:
        """Return whether CME equity-index futures trade at ``ts``."""
        self._check_ts(ts, "ts")
        local = ts.astimezone(NEW_YORK)
        if _FUT_CLOSE_ET <= local.time() < _FUT_OPEN_ET:
            return False
        return self._futures_trades_on(self.futures_trade_date(ts))

    def futures_session_bounds(self, trade_date: date) -> tuple[datetime, datetime] | None:
        """Return ``(open_utc, close_utc)`` of the futures session for ``trade_date``, or None."""
        if not self._futures_trades_on(_require_day(trade_date, "trade_date")):
            return None
        return (
            et_datetime(trade_date - timedelta(days=1), _FUT_OPEN_ET),
            et_datetime(trade_date, _FUT_CLOSE_ET),
        )

    def futures_open_intervals(
        self, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime]]:
        """Return the futures trading intervals overlapping ``[start, end)``, clipped to it."""
        s, e = require_utc(start, "start"), require_utc(end, "end")
        if e <= s:
            return []
        out: list[tuple[datetime, datetime]] = []
        day = s.astimezone(NEW_YORK).date()
        last = e.astimezone(NEW_YORK).date() + timedelta(days=1)
        while day <= last:
            bounds = self.futures_session_bounds(day)
            if bounds is not None:
                lo, hi = max(bounds[0], s), min(bounds[1], e)
                if lo < hi:
                    out.append((lo, hi))
            day += timedelta(days=1)
        return out

    def sessions_between(
        self, start: datetime, end: datetime
    ) -> list[tuple[date, datetime, datetime]]:
        """Return ``(day, open, close)`` of the sessions overlapping ``[start, end)``."""
        s = self._check_ts(start, "start")
        e = self._check_ts(end, "end")
        lo = bisect.bisect_right(self._s.closes, s)
        hi = bisect.bisect_left(self._s.opens, e)
        return [(self._s.days[i], *self._s.bounds(i)) for i in range(lo, hi)]
