"""Bars in and out of the lake: the futures package's only lake reads.

Futures bars and the 1-s bars of the ETFs they lead share one table,
``futures_bars`` (same shape, keyed on (symbol, ts)): for an ETF row
``symbol`` and ``local_symbol`` are both the ETF (``SPY``). One table keeps a
collector flush atomic (futures and spot of the same minute land in one
commit) and lets one reader serve the analysis, the dashboard and the signal.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from deltalake import DeltaTable

from tradelib.lake import TABLES, Lake, TableName
from tradelib.markethours import require_utc

BARS_TABLE = TableName.FUTURES_BARS.value
GAPS_TABLE = TableName.FUTURES_GAPS.value
_BARS = TABLES[BARS_TABLE]
_GAPS = TABLES[GAPS_TABLE]

# Column names, taken from the table spec so a rename fails here, loudly.
TS = _BARS.column("ts")
DATE = _BARS.column("date")
SYMBOL = _BARS.column("symbol")
LOCAL_SYMBOL = _BARS.column("local_symbol")
OPEN = _BARS.column("open")
HIGH = _BARS.column("high")
LOW = _BARS.column("low")
CLOSE = _BARS.column("close")
VOLUME = _BARS.column("volume")
OHLCV = (TS, OPEN, HIGH, LOW, CLOSE, VOLUME)  # what Broker.bars returns

GAP_SYMBOL = _GAPS.column("symbol")
GAP_START = _GAPS.column("gap_start")
GAP_END = _GAPS.column("gap_end")
GAP_REASON = _GAPS.column("reason")


def bar_rows(bars: pl.DataFrame, symbol: str, local_symbol: str) -> pl.DataFrame:
    """Shape broker bars (ts, open, high, low, close, volume) as ``futures_bars`` rows.

    The ``date`` partition column is left to the lake, which derives it from ``ts``.
    """
    return bars.select(
        pl.col(TS).cast(pl.Datetime("us", "UTC")),
        pl.lit(symbol).alias(SYMBOL),
        pl.lit(local_symbol).alias(LOCAL_SYMBOL),
        *(pl.col(c).cast(pl.Float64) for c in (OPEN, HIGH, LOW, CLOSE, VOLUME)),
    )


def empty_rows() -> pl.DataFrame:
    """Return an empty frame shaped like ``bar_rows`` output."""
    return bar_rows(_BARS.empty().select(OHLCV), "", "").clear()


def read_bars(
    lake: Lake,
    symbols: Sequence[str],
    start: datetime | None = None,
    end: datetime | None = None,
    columns: Sequence[str] = (TS, SYMBOL, CLOSE),
) -> pl.LazyFrame:
    """Return the bars of ``symbols`` with ``start <= ts < end`` (either bound optional).

    The ``date`` partition is filtered too, so Delta skips the other days' files.
    """
    selected = list(dict.fromkeys([*columns, SYMBOL]))
    condition = pl.col(SYMBOL).is_in(list(symbols))
    pruning: list[tuple[str, str, Any]] = [(SYMBOL, "in", list(symbols))]
    if start is not None:
        s = require_utc(start, "start")
        condition &= (pl.col(DATE) >= s.date()) & (pl.col(TS) >= s)
        pruning.append((DATE, ">=", s.date().isoformat()))
    if end is not None:
        e = require_utc(end, "end")
        condition &= (pl.col(DATE) <= e.date()) & (pl.col(TS) < e)
        pruning.append((DATE, "<=", e.date().isoformat()))
    files = _partition_files(lake, pruning)
    if files is None:
        return lake.read(BARS_TABLE, filter=condition).select(selected)
    if not files:
        return _BARS.empty().lazy().select(selected)
    # Delta's own files for just these partitions, scanned as Parquet: the same rows
    # as a Delta scan, without its per-scan planning (a third of a small read's cost)
    frame = pl.scan_parquet(
        files,
        hive_partitioning=True,
        hive_schema={SYMBOL: pl.String(), DATE: pl.Date()},
    )
    return frame.filter(condition).select(selected)


# One handle per lake (by root) for the direct reads; refreshed incrementally per read.
_HANDLES: dict[str, DeltaTable] = {}
_HANDLES_LOCK = threading.Lock()


def _partition_files(lake: Lake, pruning: list[tuple[str, str, Any]]) -> list[str] | None:
    """Return the table's active files in the pruned partitions, or None to use a Delta scan.

    None for remote lakes (credentials live in storage options), a missing table,
    or a table using a reader feature (deletion vectors, column mapping) that a
    plain Parquet scan would not honour.
    """
    if lake.storage_options or "://" in lake.root:
        return None
    uri = lake.uri(BARS_TABLE)
    with _HANDLES_LOCK:
        handle = _HANDLES.get(uri)
        try:
            if handle is None:
                if not DeltaTable.is_deltatable(uri):
                    return None
                handle = _HANDLES[uri] = DeltaTable(uri)
            else:
                handle.update_incremental()
            protocol = handle.protocol()
            if protocol.min_reader_version > 1 or protocol.reader_features:
                return None
            return handle.file_uris(file_pruning_predicate=pruning)
        except Exception:  # a log we cannot read directly: the Delta scan decides
            _HANDLES.pop(uri, None)
            return None


def last_bar_times(
    lake: Lake, symbols: Sequence[str], now: datetime, lookback: timedelta
) -> dict[str, datetime]:
    """Return the newest bar time per symbol within ``lookback`` before ``now``.

    Symbols with no bar in that window are absent: the window keeps the scan to
    a few recent partitions however long the table grows.
    """
    frame = (
        read_bars(lake, symbols, start=now - lookback, end=now + timedelta(days=1), columns=(TS,))
        .group_by(SYMBOL)
        .agg(pl.col(TS).max())
        .collect()
    )
    return {row[SYMBOL]: row[TS] for row in frame.iter_rows(named=True)}


def read_gaps(lake: Lake, symbols: Sequence[str] | None = None) -> pl.DataFrame:
    """Return the recorded gaps (optionally of ``symbols`` only), oldest first."""
    frame = lake.read(GAPS_TABLE)
    if symbols is not None:
        frame = frame.filter(pl.col(GAP_SYMBOL).is_in(list(symbols)))
    return frame.sort(GAP_START).collect()


def gap_row(symbol: str, start: datetime, end: datetime | None, reason: str) -> dict[str, object]:
    """Return one ``futures_gaps`` row (``end`` None: the gap is still open)."""
    return {GAP_SYMBOL: symbol, GAP_START: start, GAP_END: end, GAP_REASON: reason}
