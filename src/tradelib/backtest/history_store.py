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

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import polars as pl

from tradelib.backtest.history.files import DailyBars, bars_from_frame, load_daily_bars
from tradelib.errors import BacktestDataError
from tradelib.lake import Lake, TableName
from tradelib.markethours import MarketHours

TABLE = str(TableName.MARKET_HISTORY)
VOL_INDEX = "VIX"

__all__ = [
    "TABLE",
    "HistoryImport",
    "history_bars",
    "history_coverage",
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
    files = {
        p.stem.lstrip("^").upper(): p
        for p in sorted(root.iterdir())
        if p.suffix.lower() in (".csv", ".parquet")
    }
    if vol_index not in files:
        raise BacktestDataError(
            file=str(root), problem=f"no {vol_index}.csv or {vol_index}.parquet in the folder"
        )
    if len(files) < 2:
        raise BacktestDataError(file=str(root), problem="no underlying's file beside the index")
    rough = {s: load_daily_bars(p, s, vol_index=s == vol_index) for s, p in files.items()}
    hours = _calendar(rough.values())
    bars = {
        s: load_daily_bars(p, s, hours=hours, vol_index=s == vol_index) for s, p in files.items()
    }
    stamp = now or datetime.now(UTC)
    frame = pl.concat([_rows(b, files[s].name, stamp) for s, b in bars.items()])
    stats = lake.upsert(TABLE, frame)
    return HistoryImport(
        lake=str(lake.root),
        symbols={s: (b.first_day, b.last_day, len(b)) for s, b in bars.items()},
        inserted=stats.inserted,
        updated=stats.updated,
    )


def history_coverage(lake: Lake) -> dict[str, tuple[date, date, int]]:
    """Symbol -> (first day, last day, rows) of the bars in the lake (empty before an import)."""
    if not lake.exists(TABLE):
        return {}
    got = (
        lake.read(TABLE, columns=["symbol", "day"])
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
) -> tuple[list[DailyBars], DailyBars]:
    """The underlyings' and the volatility index's bars from the lake, validated like files.

    Raise ``BacktestDataError`` naming the lake and what is missing (no import yet,
    or a symbol never imported) and how to import it.
    """
    where = f"{lake.root}/{TABLE}"
    have = history_coverage(lake)
    wanted = [*symbols, vol_index]
    missing = [s for s in wanted if s not in have]
    if missing:
        found = ", ".join(sorted(have)) or "nothing imported yet"
        raise BacktestDataError(
            file=where,
            problem=f"no daily bars for {', '.join(missing)} (found {found}); "
            "import a folder with `tradelib lake import-history FOLDER`",
        )
    rows = (
        lake.read(TABLE, filter=pl.col("symbol").is_in(wanted))
        .select("symbol", "day", "open", "high", "low", "close", "volume", "adj_close")
        .sort("symbol", "day")
        .collect()
    )
    parts = {s: rows.filter(pl.col("symbol") == s).drop("symbol") for s in wanted}

    def one(symbol: str) -> DailyBars:
        part = parts[symbol].rename({"day": "date"})
        if part["adj_close"].null_count() == part.height:
            part = part.drop("adj_close")
        return bars_from_frame(
            part,
            symbol,
            Path(f"{where}/symbol={symbol}"),
            hours=hours,
            vol_index=symbol == vol_index,
        )

    return [one(s) for s in symbols], one(vol_index)


def _calendar(bars: Iterable[DailyBars]) -> MarketHours:
    from tradelib.backtest.history.source import calendar_for

    every = list(bars)
    return calendar_for(min(b.first_day for b in every), max(b.last_day for b in every))


def _rows(b: DailyBars, source: str, stamp: datetime) -> pl.DataFrame:
    n = len(b)
    return pl.DataFrame(
        {
            "symbol": [b.symbol] * n,
            "day": b.day.astype("datetime64[D]").astype(date).tolist(),
            "open": b.open,
            "high": b.high,
            "low": b.low,
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
