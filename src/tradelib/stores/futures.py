"""Futures bars and gaps in the lake: the futures analysis's reads, aligned pairs and signal.

Futures bars and the 1-s bars of the ETFs they lead share one table,
``futures_bars`` (same shape, keyed on (symbol, ts)): for an ETF row
``symbol`` and ``local_symbol`` are both the ETF (``SPY``). One table keeps a
collector flush atomic (futures and spot of the same minute land in one
commit) and lets one reader serve the analysis, the dashboard and the signal.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from deltalake import DeltaTable

from tradelib.config import TradingConfig
from tradelib.futures.analysis import (
    AnalysisParams,
    PairAnalysis,
    analyze_aligned,
    asof_plan,
    with_returns,
)
from tradelib.futures.signal import FuturesSignal, futures_signal, lookback
from tradelib.lake import TABLES, Lake, TableName
from tradelib.markethours import MarketHours, require_utc

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
    pruning, in_days, in_time = _bounds(symbols, start, end)
    files = _partition_files(lake, pruning)
    if files is None:
        return lake.read(BARS_TABLE, filter=in_days & in_time).select(selected)
    if not files:
        return _BARS.empty().lazy().select(selected)
    # Delta's own files for just these partitions, scanned as Parquet: the same rows
    # as a Delta scan, without its per-scan planning (a third of a small read's cost).
    # Pruning on partition values is exact, so only ``ts`` is left to filter (a
    # per-row test of the symbol cost as much as decoding the closes).
    frame = pl.scan_parquet(
        files,
        hive_partitioning=True,
        hive_schema={SYMBOL: pl.String(), DATE: pl.Date()},
    )
    if start is not None or end is not None:
        frame = frame.filter(in_time)
    return frame.select(selected)


def _bounds(
    symbols: Sequence[str], start: datetime | None, end: datetime | None
) -> tuple[list[tuple[str, str, Any]], pl.Expr, pl.Expr]:
    """Return the partition pruning of a read, its partition filter and its ``ts`` filter."""
    pruning: list[tuple[str, str, Any]] = [(SYMBOL, "in", list(symbols))]
    in_days = pl.col(SYMBOL).is_in(list(symbols))
    in_time = pl.lit(True)
    if start is not None:
        s = require_utc(start, "start")
        in_days &= pl.col(DATE) >= s.date()
        in_time &= pl.col(TS) >= s
        pruning.append((DATE, ">=", s.date().isoformat()))
    if end is not None:
        e = require_utc(end, "end")
        in_days &= pl.col(DATE) <= e.date()
        in_time &= pl.col(TS) < e
        pruning.append((DATE, "<=", e.date().isoformat()))
    return pruning, in_days, in_time


def read_closes(
    lake: Lake,
    symbols: Sequence[str],
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, pl.DataFrame]:
    """Return ``symbol -> (ts, close)`` with ``start <= ts < end``, sorted by ``ts``, read at once.

    One file listing for all symbols and one parallel scan; the files come in
    time order, so the rows mostly need a sortedness check, not a sort.
    """
    pruning, _, in_time = _bounds(symbols, start, end)
    by_symbol = _split_by_symbol(lake, _partition_files(lake, pruning), symbols)
    plans: list[pl.LazyFrame] = []
    for symbol in symbols:
        if by_symbol is None:
            plans.append(read_bars(lake, [symbol], start, end, columns=(TS, CLOSE)))
            continue
        plan = (
            pl.scan_parquet(by_symbol[symbol], hive_partitioning=False)
            if by_symbol[symbol]
            else _BARS.empty().lazy()
        )
        plans.append(plan.filter(in_time) if start is not None or end is not None else plan)
    frames = pl.collect_all([plan.select(TS, CLOSE) for plan in plans])
    return {symbol: _time_ordered(f) for symbol, f in zip(symbols, frames, strict=True)}


def _time_ordered(bars: pl.DataFrame) -> pl.DataFrame:
    """Mark ``bars`` sorted by ``ts`` when a scan of time-ordered files left them so; else sort."""
    if bars.get_column(TS).is_sorted():
        return bars.set_sorted(TS)
    return bars.sort(TS)


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
            files = handle.file_uris(file_pruning_predicate=pruning)
            return _in_time_order(uri, handle, files, lake)
        except Exception:  # a log we cannot read directly: the Delta scan decides
            _HANDLES.pop(uri, None)
            _FILES.pop(uri, None)
            return None


# Per table uri: (version, relative file path -> (its symbol, its first ts per Delta's stats)).
_FILES: dict[str, tuple[int, dict[str, tuple[str, datetime | None]]]] = {}


def _file_info(uri: str, handle: DeltaTable) -> dict[str, tuple[str, datetime | None]]:
    """Return the symbol and first ``ts`` of each active file (cached per table version)."""
    version = handle.version()
    cached = _FILES.get(uri)
    if cached is None or cached[0] != version:
        actions = pl.DataFrame(handle.get_add_actions(flatten=True))
        first = f"min.{TS}"
        if first not in actions.columns:
            actions = actions.with_columns(pl.lit(None, pl.Datetime("us", "UTC")).alias(first))
        rows = actions.select("path", f"partition.{SYMBOL}", first).iter_rows()
        cached = _FILES[uri] = (version, {path: (sym, ts) for path, sym, ts in rows})
    return cached[1]


def _relative(lake: Lake, files: list[str]) -> list[str]:
    root = lake.uri(BARS_TABLE).rstrip("/") + "/"
    return [f[len(root) :] if f.startswith(root) else "" for f in files]


def _in_time_order(uri: str, handle: DeltaTable, files: list[str], lake: Lake) -> list[str]:
    """Order ``files`` by their first ``ts`` (Delta's min stats), as listed if any lacks one.

    Rows then come out of a scan in time order whenever files do not overlap in
    time (the collector appends minute after minute), and sorting them is a
    check instead of a sort (a sixth of the analysis's time before).
    """
    info = _file_info(uri, handle)
    keys = [info.get(path, ("", None))[1] for path in _relative(lake, files)]
    if any(key is None for key in keys):
        return files
    return [f for _, f in sorted(zip(keys, files, strict=True))]


def _split_by_symbol(
    lake: Lake, files: list[str] | None, symbols: Sequence[str]
) -> dict[str, list[str]] | None:
    """Group ``files`` (from ``_partition_files``) by symbol in their order; None if unsure."""
    if files is None:
        return None
    out: dict[str, list[str]] = {symbol: [] for symbol in symbols}
    if not files:
        return out
    cached = _FILES.get(lake.uri(BARS_TABLE))
    if cached is None:
        return None
    for file, path in zip(files, _relative(lake, files), strict=True):
        symbol = cached[1].get(path, ("", None))[0]
        if symbol not in out:
            return None
        out[symbol].append(file)
    return out


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


def load_aligned(
    lake: Lake,
    pairs: Mapping[str, str],
    params: AnalysisParams,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, pl.DataFrame]:
    """Return ``future -> aligned frame`` (see ``analysis.align``) for each future -> ETF pair."""
    bars = read_closes(lake, list(dict.fromkeys([*pairs, *pairs.values()])), start, end)
    joined = pl.collect_all(
        [asof_plan(bars[f].lazy(), bars[s].lazy(), params) for f, s in pairs.items()]
    )
    # returns eagerly: the same expressions took twice as long inside the lazy plan
    return {
        future: with_returns(frame, params.bar_seconds)
        for future, frame in zip(pairs, joined, strict=True)
    }


def load_analyses(
    lake: Lake,
    pairs: Mapping[str, str],
    params: AnalysisParams,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    every_s: int = 60,
) -> dict[str, PairAnalysis]:
    """Read, align and analyse each future -> ETF pair (coverage, lead/lag, rolling correlation)."""
    bars = read_closes(lake, list(dict.fromkeys([*pairs, *pairs.values()])), start, end)

    def analyze(future: str) -> PairAnalysis:
        joined = asof_plan(bars[future].lazy(), bars[pairs[future]].lazy(), params).collect()
        frame = with_returns(joined, params.bar_seconds)
        return analyze_aligned(
            frame, params, future=future, spot_symbol=pairs[future], every_s=every_s
        )

    if len(pairs) == 1:
        return {future: analyze(future) for future in pairs}
    # polars and numpy release the GIL in the heavy loops: pairs run side by side, one
    # thread each (three pairs on two cores finish in 1.5 pair-times, not 2 in two threads)
    workers = min(len(pairs), 2 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(pairs, pool.map(analyze, pairs), strict=True))


def newest_bar(lake: Lake, symbol: str) -> datetime | None:
    """Return the start of the newest bar of ``symbol`` in the lake (None if it has none)."""
    value = read_bars(lake, [symbol], columns=(TS,)).select(pl.col(TS).max()).collect().item()
    return value if isinstance(value, datetime) else None


def recent_window(lake: Lake, symbol: str, days: float) -> tuple[datetime, datetime] | None:
    """Return ``(start, end)`` covering the last ``days`` calendar days of ``symbol``'s data."""
    newest = newest_bar(lake, symbol)
    if newest is None:
        return None
    end = newest + timedelta(seconds=1)
    return end - timedelta(days=days), end


def current_signal(
    lake: Lake,
    cfg: TradingConfig,
    future: str = "ES",
    now: datetime | None = None,
    hours: MarketHours | None = None,
) -> FuturesSignal:
    """Read the lake and compute the signal of ``future`` at ``now``.

    ``now`` None means just after the newest bar of ``future`` in the lake (a
    dashboard over a finished lake); the entry pipeline passes the broker's time.
    """
    params = AnalysisParams.from_config(cfg.futures)
    spot_symbol = cfg.futures.spot_pairs.get(future, "")
    hours = hours or MarketHours(cfg.scheduler.calendar)
    if now is None:
        newest = newest_bar(lake, future)
        if newest is None:
            reason = f"no {future} bars in the lake"
            return FuturesSignal(
                False, 0, params.min_days, reason, future, spot_symbol, datetime.now(UTC)
            )
        now = newest + timedelta(seconds=params.bar_seconds)
    start = now - lookback(params)
    frames = pl.collect_all(
        [
            read_bars(lake, [future], start, now, columns=(TS, CLOSE)),
            read_bars(lake, [spot_symbol], start, now, columns=(TS, CLOSE)),
        ]
    )
    closes = [close for _, _, close in hours.sessions_between(start, now)]
    return futures_signal(
        frames[0], frames[1], now, closes, params, future=future, spot_symbol=spot_symbol
    )
