"""Futures/spot pairs from the lake, aligned and analysed: the edge of the pure analysis.

Reads go through one ``polars.collect_all`` so every pair's scans, sorts and
as-of joins run together on the polars pool rather than one after another;
the numpy part of the analysis then runs one pair per core.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import polars as pl

from tradelib.futures.analysis import AnalysisParams, PairAnalysis, align_plan, analyze_aligned
from tradelib.futures.data import CLOSE, TS, read_bars
from tradelib.lake import Lake


def load_aligned(
    lake: Lake,
    pairs: Mapping[str, str],
    params: AnalysisParams,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, pl.DataFrame]:
    """Return ``future -> aligned frame`` (see ``analysis.align``) for each future -> ETF pair."""
    plans = [
        align_plan(
            read_bars(lake, [future], start, end, columns=(TS, CLOSE)),
            read_bars(lake, [spot], start, end, columns=(TS, CLOSE)),
            params,
        )
        for future, spot in pairs.items()
    ]
    return dict(zip(pairs, pl.collect_all(plans), strict=True))


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
    aligned = load_aligned(lake, pairs, params, start, end)

    def analyze(future: str) -> PairAnalysis:
        frame = aligned[future]
        return analyze_aligned(
            frame, params, future=future, spot_symbol=pairs[future], every_s=every_s
        )

    if len(aligned) == 1:
        return {future: analyze(future) for future in aligned}
    # numpy releases the GIL in the heavy loops: pairs run side by side on the cores
    with ThreadPoolExecutor(max_workers=min(len(aligned), os.cpu_count() or 1)) as pool:
        return dict(zip(aligned, pool.map(analyze, aligned), strict=True))


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
