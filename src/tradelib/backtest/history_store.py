"""Daily bars kept in the lake (``market_history``), so every machine reads the same history.

A folder of daily OHLC files serves one machine. Imported into the lake (local or
S3), the same bars serve the trading host, a research laptop and every dask
worker of a sweep: ``tradelib lake import-history FOLDER`` validates each file
exactly as a folder backtest would (the file, the row and what is wrong) and
upserts it keyed by (symbol, day), so a re-import adds nothing and a corrected
file replaces its rows. ``history_bars`` reads them back as the same validated
``DailyBars`` a folder gives, so a backtest over the lake and one over the
folder trade identically.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import polars as pl

from tradelib.backtest.history.files import (
    DailyBars,
    bars_from_frame,
    history_files,
    load_daily_bars,
)
from tradelib.errors import BacktestDataError
from tradelib.lake import Lake, TableName
from tradelib.markethours import MarketHours
from tradelib.sim.types import FloatArray

TABLE = str(TableName.MARKET_HISTORY)
VOL_INDEX = "VIX"

__all__ = [
    "TABLE",
    "HistoryImport",
    "history_bars",
    "history_coverage",
    "history_version",
    "import_history",
]


@dataclass(frozen=True, slots=True)
class HistoryImport:
    """What one import wrote: rows per symbol and the lake's merge counts."""

    lake: str
    symbols: dict[str, tuple[date, date, int]]  # symbol -> (first day, last day, rows)
    inserted: int
    updated: int

    def lines(self) -> list[str]:
        """Say what was imported, one line per symbol."""
        out = [
            f"  {s:<6} {first} .. {last}  {rows:>6,} days"
            for s, (first, last, rows) in sorted(self.symbols.items())
        ]
        return [
            *out,
            f"{len(self.symbols)} symbol(s) into {self.lake}/{TABLE}: "
            f"{self.inserted:,} rows new, {self.updated:,} replaced",
        ]


def import_history(
    lake: Lake, folder: Path, *, vol_index: str = VOL_INDEX, now: datetime | None = None
) -> HistoryImport:
    """Validate every ``SYMBOL.csv``/``.parquet`` in ``folder`` and upsert it into the lake.

    Nothing is written unless every file is valid (``BacktestDataError`` names the
    first bad file, its rows and what is wrong): a half-imported history would let
    two machines backtest different data under one name.
    """
    root = Path(folder)
    if not root.is_dir():
        raise BacktestDataError(file=str(root), problem="not a folder")
    files = history_files(root, vol_index)
    if len(files) < 2:
        raise BacktestDataError(file=str(root), problem="no underlying's file beside the index")
    rough = {s: load_daily_bars(p, s, vol_index=s == vol_index) for s, p in files.items()}
    hours = _calendar(rough.values())
    bars = {
        s: load_daily_bars(p, s, hours=hours, vol_index=s == vol_index) for s, p in files.items()
    }
    stamp = now or datetime.now(UTC)
    new = {
        s: _rows(b, files[s].name, stamp, derived=s == vol_index and not _has_ohl(files[s]))
        for s, b in bars.items()
    }
    merged = {
        s: _check_merged(lake, s, rows, files[s].name, vol_index, hours) for s, rows in new.items()
    }
    stats = lake.upsert(TABLE, pl.concat(list(new.values())))
    return HistoryImport(
        lake=str(lake.root),
        symbols={s: (b.first_day, b.last_day, len(b)) for s, b in merged.items()},
        inserted=stats.inserted,
        updated=stats.updated,
    )


def history_version(lake: Lake) -> int | None:
    """The Delta version of the lake's bars (None before the first import): pin it for a sweep."""
    return lake.version(TABLE) if lake.exists(TABLE) else None


def _table(lake: Lake, version: int | None) -> pl.LazyFrame:
    return lake.read(TABLE) if version is None else lake.read_version(TABLE, version)


def history_coverage(lake: Lake, version: int | None = None) -> dict[str, tuple[date, date, int]]:
    """Symbol -> (first day, last day, rows) of the bars in the lake (empty before an import)."""
    if not lake.exists(TABLE):
        return {}
    got = (
        _table(lake, version)
        .select("symbol", "day")
        .group_by("symbol")
        .agg(pl.col("day").min().alias("first"), pl.col("day").max().alias("last"), pl.len())
        .collect()
    )
    return {r["symbol"]: (r["first"], r["last"], r["len"]) for r in got.iter_rows(named=True)}


def history_bars(
    lake: Lake,
    symbols: list[str],
    *,
    vol_index: str = VOL_INDEX,
    hours: MarketHours | None = None,
    version: int | None = None,
) -> tuple[list[DailyBars], DailyBars]:
    """The underlyings' and the volatility index's bars from the lake, validated like files.

    ``version`` reads the table as it was then (a sweep pins one for all its points).
    Raise ``BacktestDataError`` naming the lake (and the host reading it) and what is
    missing (no import yet, or a symbol never imported) and how to import it.
    """
    where = f"{lake.root}/{TABLE}"
    have = history_coverage(lake, version)
    wanted = [*symbols, vol_index]
    missing = [s for s in wanted if s not in have]
    if missing:
        found = ", ".join(sorted(have)) or "nothing imported yet"
        raise BacktestDataError(
            file=where,
            problem=f"no daily bars for {', '.join(missing)} (found {found}) as read from "
            f"{socket.gethostname()}; import a folder with `tradelib lake import-history FOLDER`",
        )
    rows = (
        _table(lake, version)
        .filter(pl.col("symbol").is_in(wanted))
        .select("symbol", *_BAR_COLUMNS)
        .sort("symbol", "day")
        .collect()
    )

    def one(symbol: str) -> DailyBars:
        part = rows.filter(pl.col("symbol") == symbol).drop("symbol")
        where_symbol = Path(f"{where}/symbol={symbol}")
        return _validated(part, symbol, where_symbol, symbol == vol_index, hours)

    return [one(s) for s in symbols], one(vol_index)


_BAR_COLUMNS = ("day", "open", "high", "low", "close", "volume", "adj_close")


def _validated(
    rows: pl.DataFrame, symbol: str, where: Path, vol_index: bool, hours: MarketHours | None
) -> DailyBars:
    """Bars from lake rows (``_BAR_COLUMNS``), checked as a file's would be.

    An index stored with only its closes (open/high/low null: the file had no
    others) gets them derived over the whole series, as from one file.
    """
    part = rows.select(_BAR_COLUMNS).rename({"day": "date"})
    if part["adj_close"].null_count():  # optional: kept only where every row has it
        part = part.drop("adj_close")
    if vol_index and any(part[c].null_count() for c in ("open", "high", "low")):
        part = part.drop("open", "high", "low")
    return bars_from_frame(part, symbol, where, hours=hours, vol_index=vol_index)


def _check_merged(
    lake: Lake, symbol: str, new: pl.DataFrame, source: str, vol_index: str, hours: MarketHours
) -> DailyBars:
    """What the lake will hold for ``symbol`` after the import, validated whole.

    Two imports of different ranges must still make one gap-free series: refused
    (naming both) before anything is written, when they would not.
    """
    rows = new
    if lake.exists(TABLE):
        held = lake.read(TABLE, filter=pl.col("symbol") == symbol).collect()
        kept = held.join(new.select("day"), on="day", how="anti")
        if kept.height:
            rows = pl.concat([kept.select(new.columns), new]).sort("day")
    where = Path(f"{lake.root}/{TABLE}/symbol={symbol} (held rows with {source} merged in)")
    return _validated(rows, symbol, where, symbol == vol_index, hours)


def _has_ohl(path: Path) -> bool:
    """Whether a daily-bar file has open, high and low columns (an index may have closes only)."""
    names = (
        pl.read_parquet_schema(path).keys()
        if path.suffix.lower() in (".parquet", ".pq")
        else pl.read_csv(path, n_rows=0, infer_schema=False).columns
    )
    lowered = {n.strip().lower() for n in names}
    return {"open", "high", "low"} <= lowered


def _calendar(bars: Iterable[DailyBars]) -> MarketHours:
    from tradelib.backtest.history.source import calendar_for

    every = list(bars)
    return calendar_for(min(b.first_day for b in every), max(b.last_day for b in every))


def _rows(b: DailyBars, source: str, stamp: datetime, *, derived: bool = False) -> pl.DataFrame:
    """The lake rows of ``b``; ``derived``: open/high/low were derived from closes, store null."""
    n = len(b)

    def prices(values: FloatArray) -> pl.Series:
        return pl.Series([None] * n, dtype=pl.Float64) if derived else pl.Series(values)

    return pl.DataFrame(
        {
            "symbol": [b.symbol] * n,
            "day": b.day.astype("datetime64[D]").astype(date).tolist(),
            "open": prices(b.open),
            "high": prices(b.high),
            "low": prices(b.low),
            "close": b.close,
            "volume": b.volume.astype(np.int64),
            "adj_close": (
                pl.Series([None] * n, dtype=pl.Float64)
                if b.adj_close is None
                else pl.Series(b.adj_close, dtype=pl.Float64)
            ),
            "source": [source] * n,
            "imported_at": [stamp] * n,
        }
    )
