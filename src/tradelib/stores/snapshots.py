"""The thin I/O edge of entry: reading IV and chains from the ``option_snapshots`` table.

Everything else in ``tradelib.entry`` is pure; these functions accept either a
``Lake`` (and read from it) or an already loaded polars frame, so research
notebooks and tests can hand in data they have in memory.
"""

from __future__ import annotations

import math
from datetime import date, datetime

import polars as pl

from tradelib.domain import Right, ensure_utc
from tradelib.entry.chain import OptionChain
from tradelib.lake import Lake

TABLE = "option_snapshots"
SnapshotSource = pl.DataFrame | pl.LazyFrame


def _frame(source: Lake | SnapshotSource, predicate: pl.Expr) -> pl.LazyFrame:
    if isinstance(source, Lake):
        return source.read(TABLE, filter=predicate)
    return source.lazy().filter(predicate)


def get_iv_for_strike(
    source: Lake | SnapshotSource,
    underlying: str,
    expiry: date,
    strike: float,
    right: Right | str,
    as_of: datetime,
) -> float | None:
    """The newest finite IV recorded for one option at or before ``as_of`` (None if none)."""
    predicate = (
        (pl.col("underlying") == underlying)
        & (pl.col("expiry") == expiry)
        & (pl.col("strike") == float(strike))
        & (pl.col("right") == Right(right).value)
        & (pl.col("ts") <= ensure_utc(as_of, "as_of"))
        & pl.col("iv").is_not_null()
        & pl.col("iv").is_finite()
        & (pl.col("iv") > 0)
    )
    latest = _frame(source, predicate).sort("ts").select(pl.col("iv").last()).collect()
    value = latest.item() if latest.height else None
    return float(value) if value is not None and math.isfinite(value) else None


def load_chain(
    source: Lake | SnapshotSource,
    underlying: str,
    rate: float,
    *,
    as_of: datetime | None = None,
) -> OptionChain:
    """The newest recorded chain of ``underlying`` at or before ``as_of``, as an OptionChain."""
    predicate = pl.col("underlying") == underlying
    if as_of is not None:
        predicate = predicate & (pl.col("ts") <= ensure_utc(as_of, "as_of"))
    frame = _frame(source, predicate)
    newest = frame.filter(pl.col("ts") == pl.col("ts").max()).collect()
    return OptionChain.from_snapshot_frame(newest, underlying, rate)
