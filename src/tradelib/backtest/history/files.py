"""Daily OHLC(V) files the user brings: read, validate, explain every problem.

Accepted as is: the common export ``Date,Open,High,Low,Close,Adj Close,Volume``
(CSV or Parquet; column names case-insensitive, ``Adj Close``/``adj_close``
alike). A volatility index file needs ``Date`` and ``Close``; its missing
``Open``/``High``/``Low`` are derived from the closes. Every problem names the
file, the data row (row 1 is the first row after the header; CSV line = row + 1)
and what is wrong; up to ``MAX_REPORTED`` problems are listed at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from tradelib.errors import BacktestDataError
from tradelib.markethours import MarketHours
from tradelib.sim.types import FloatArray

MAX_REPORTED = 20
_ALIASES = {
    "date": "date",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "adj close": "adj_close",
    "adj_close": "adj_close",
    "adjclose": "adj_close",
    "volume": "volume",
}
_PRICES = ("open", "high", "low", "close")
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")

DayArray = npt.NDArray[np.datetime64]


@dataclass(frozen=True, slots=True, eq=False)
class DailyBars:
    """One symbol's validated daily bars, ascending, one row per exchange day (no gaps).

    Prices are as traded (``close``, not the dividend-adjusted ``adj_close``,
    which is kept when given); ``volume`` is 0 where the file has none.
    """

    symbol: str
    path: Path
    day: DayArray  # datetime64[D]
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: npt.NDArray[np.int64]
    adj_close: FloatArray | None = None

    def __len__(self) -> int:
        return int(self.day.shape[0])

    @property
    def first_day(self) -> date:
        """Return the first day with data."""
        return self.day[0].astype(date)  # type: ignore[no-any-return]

    @property
    def last_day(self) -> date:
        """Return the last day with data."""
        return self.day[-1].astype(date)  # type: ignore[no-any-return]

    def index_of(self, day: date) -> int:
        """Return the row of ``day``; raise ``KeyError`` if it has none."""
        d = np.datetime64(day, "D")
        i = int(np.searchsorted(self.day, d))
        if i >= len(self) or self.day[i] != d:
            raise KeyError(f"{self.symbol} has no bar on {day}")
        return i


def _read(path: Path) -> pl.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pl.read_csv(path, infer_schema=False)
        if suffix in (".parquet", ".pq"):
            return pl.read_parquet(path)
    except FileNotFoundError:
        raise BacktestDataError(file=str(path), problem="no such file") from None
    except (pl.exceptions.ComputeError, OSError) as exc:
        raise BacktestDataError(file=str(path), problem=f"unreadable: {exc}") from None
    raise BacktestDataError(
        file=str(path), problem=f"unsupported file type {suffix!r} (use .csv or .parquet)"
    )


def _row(i: int, csv: bool) -> str:
    return f"row {i + 1} (line {i + 2})" if csv else f"row {i + 1}"


def history_files(directory: str | Path, vol_index: str) -> dict[str, Path]:
    """Symbol -> file of a folder of daily bars (``SPY.csv``, ``^VIX.parquet``...).

    Raise ``BacktestDataError`` when the volatility index has no file there.
    """
    root = Path(directory)
    files = {
        p.stem.lstrip("^").upper(): p
        for p in sorted(root.iterdir())
        if p.suffix.lower() in (".csv", ".parquet")
    }
    if vol_index not in files:
        raise BacktestDataError(
            file=str(root), problem=f"no {vol_index}.csv or {vol_index}.parquet in the folder"
        )
    return files


def load_daily_bars(
    path: str | Path,
    symbol: str | None = None,
    *,
    hours: MarketHours | None = None,
    vol_index: bool = False,
) -> DailyBars:
    """Read and validate one daily OHLC(V) file; raise ``BacktestDataError`` naming every problem.

    ``symbol`` defaults to the file's stem (``SPY.csv`` -> ``SPY``, ``^VIX.csv``
    -> ``VIX``). With ``hours`` (an exchange calendar), every row must be a
    trading day and no trading day between the first and last row may be missing.
    """
    p = Path(path)
    name = (symbol or p.stem).lstrip("^").upper()
    return bars_from_frame(
        _read(p), name, p, csv=p.suffix.lower() == ".csv", hours=hours, vol_index=vol_index
    )


def bars_from_frame(
    raw: pl.DataFrame,
    symbol: str,
    where: Path,
    *,
    csv: bool = False,
    hours: MarketHours | None = None,
    vol_index: bool = False,
) -> DailyBars:
    """Validate one symbol's daily bars given as a frame (a file's, or the lake's rows).

    ``where`` names the data in every problem; the checks are ``load_daily_bars``'s.
    """
    p = where
    problems: list[str] = []
    columns = _columns(p, raw.columns, vol_index)
    df = raw.rename(columns).select(list(columns.values()))
    if df.height == 0:
        raise BacktestDataError(file=str(p), problem="no data rows")

    day = _parse_days(df["date"], problems, csv)
    values: dict[str, FloatArray] = {}
    for col in ("open", "high", "low", "close", "adj_close", "volume"):
        if col in df.columns:
            values[col] = _parse_numbers(df[col], col, problems, csv)
    if problems:
        _raise(p, problems)

    close = values["close"]
    if vol_index and "open" not in values:
        values["open"] = np.concatenate([close[:1], close[:-1]])
    if vol_index and "high" not in values:
        values["high"] = np.maximum(values["open"], close)
    if vol_index and "low" not in values:
        values["low"] = np.minimum(values["open"], close)
    o, h, lo = values["open"], values["high"], values["low"]
    _check_values(values, problems, csv)
    _check_order(day, problems, csv, hours)
    if problems:
        _raise(p, problems)
    volume = values.get("volume")
    return DailyBars(
        symbol=symbol,
        path=p,
        day=day,
        open=o,
        high=h,
        low=lo,
        close=close,
        volume=(np.zeros(day.size, dtype=np.int64) if volume is None else volume.astype(np.int64)),
        adj_close=values.get("adj_close"),
    )


def _columns(path: Path, names: list[str], vol_index: bool) -> dict[str, str]:
    """The file's column -> our name; ``BacktestDataError`` for unknown, repeated or missing ones."""
    problems: list[str] = []
    columns: dict[str, str] = {}
    for col in names:
        key = _ALIASES.get(col.strip().lower())
        if key is None:
            problems.append(
                f"unknown column {col!r} (expected Date, Open, High, Low, Close, Adj Close, Volume)"
            )
        elif key in columns.values():
            problems.append(f"column {col!r} repeats {key!r}")
        else:
            columns[col] = key
    required = ("date", "close") if vol_index else ("date", *_PRICES)
    missing = [c for c in required if c not in columns.values()]
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if problems:
        raise BacktestDataError(file=str(path), problem="; ".join(problems))
    return columns


def _check_values(values: dict[str, FloatArray], problems: list[str], csv: bool) -> None:
    """Non-positive prices, negative volume, high below low, open or close outside the range."""
    o, h, lo, close = values["open"], values["high"], values["low"], values["close"]
    for col in (*_PRICES, "adj_close"):
        if col in values:
            for i in np.flatnonzero(~(values[col] > 0)):
                problems.append(f"{_row(int(i), csv)}: {col} {values[col][i]:g} is not positive")
    if "volume" in values:
        for i in np.flatnonzero(values["volume"] < 0):
            problems.append(f"{_row(int(i), csv)}: volume {values['volume'][i]:g} is negative")
    eps = 1e-9
    for i in np.flatnonzero(h < lo - eps):
        problems.append(f"{_row(int(i), csv)}: high {h[i]:g} is below low {lo[i]:g}")
    for col, v in (("open", o), ("close", close)):
        bad = (v > h + eps) | (v < lo - eps)
        for i in np.flatnonzero(bad & (h >= lo - eps)):
            problems.append(
                f"{_row(int(i), csv)}: {col} {v[i]:g} is outside the day's range [{lo[i]:g}, {h[i]:g}]"
            )


def _raise(path: Path, problems: list[str]) -> None:
    shown = problems[:MAX_REPORTED]
    more = len(problems) - len(shown)
    text = f"{len(problems)} problem(s): " + "; ".join(shown)
    if more:
        text += f"; ... and {more} more"
    raise BacktestDataError(file=str(path), problem=text)


def _parse_days(col: pl.Series, problems: list[str], csv: bool) -> DayArray:
    if col.dtype == pl.Date:
        parsed = col
    elif isinstance(col.dtype, pl.Datetime):
        parsed = col.dt.date()
    else:
        text = col.cast(pl.String).str.strip_chars()
        parsed = text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
        bad = parsed.is_null() | ~text.str.contains(_ISO_DAY.pattern).fill_null(False)
        for i in np.flatnonzero(bad.to_numpy()):
            problems.append(f"{_row(int(i), csv)}: date {text[int(i)]!r} is not YYYY-MM-DD")
    nulls = parsed.is_null().to_numpy()
    return np.asarray(
        np.where(nulls, np.datetime64("1970-01-01"), parsed.fill_null(date(1970, 1, 1)).to_numpy()),
        dtype="datetime64[D]",
    )


def _parse_numbers(col: pl.Series, name: str, problems: list[str], csv: bool) -> FloatArray:
    text = col.cast(pl.String).str.strip_chars()
    num = text.cast(pl.Float64, strict=False)
    bad = (num.is_null() | num.is_nan() | num.is_infinite()).to_numpy()
    for i in np.flatnonzero(bad):
        shown = text[int(i)]
        what = (
            "is missing"
            if shown in (None, "", "null", "NaN", "nan")
            else f"{shown!r} is not a number"
        )
        problems.append(f"{_row(int(i), csv)}: {name} {what}")
    return np.asarray(num.fill_null(np.nan).to_numpy(), dtype=np.float64)


def _check_order(day: DayArray, problems: list[str], csv: bool, hours: MarketHours | None) -> None:
    step = np.diff(day.astype(np.int64))
    for i in np.flatnonzero(step == 0):
        problems.append(
            f"{_row(int(i) + 1, csv)}: duplicate date {day[i + 1]} (same as the row before)"
        )
    for i in np.flatnonzero(step < 0):
        problems.append(
            f"{_row(int(i) + 1, csv)}: date {day[i + 1]} comes after {day[i]}: rows must be sorted ascending"
        )
    if problems or hours is None:
        return
    first, last = day[0].astype(date), day[-1].astype(date)
    if first < hours.first_day or last > hours.last_day:
        problems.append(f"dates {first}..{last} reach outside the exchange calendar {hours}")
        return
    expected = np.array(hours.trading_days(first, last), dtype="datetime64[D]")
    extra = np.setdiff1d(day, expected)
    for d in extra[:MAX_REPORTED]:
        at = int(np.searchsorted(day, d))
        problems.append(f"{_row(at, csv)}: {d} is not a trading day on {hours.name}")
    missing = np.setdiff1d(expected, day)
    if missing.size:
        # Report each run of consecutive missing sessions once, with the rows around it.
        pos = np.searchsorted(expected, missing)
        breaks = np.flatnonzero(np.diff(pos) != 1) + 1
        for run in np.split(missing, breaks):
            at = int(np.searchsorted(day, run[0]))
            span = f"{run[0]}" if run.size == 1 else f"{run[0]}..{run[-1]} ({run.size} sessions)"
            problems.append(
                f"gap between {_row(at - 1, csv)} and {_row(at, csv)}: no bar for trading day(s) {span}"
            )
