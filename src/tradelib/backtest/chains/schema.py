"""The end-of-day option chain file schema, declared once.

One row per (underlying, quote_date, expiry, strike, right). Column names are
case-insensitive; ``right`` accepts C/P/CALL/PUT in any case. Prices in the
quote currency per share; ``iv`` as a decimal (0.2 = 20%); greeks per share
with ``theta`` per calendar day and ``vega`` per vol point (0.01), as
``tradelib.pricing`` uses them.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True, slots=True)
class ChainColumn:
    """One column of the chain schema."""

    name: str
    dtype: type[pl.DataType]
    required: bool
    meaning: str


CHAIN_COLUMNS: tuple[ChainColumn, ...] = (
    ChainColumn("underlying", pl.String, True, "underlying symbol, e.g. SPY"),
    ChainColumn("quote_date", pl.Date, True, "exchange day of the snapshot, YYYY-MM-DD"),
    ChainColumn("expiry", pl.Date, True, "expiration day, YYYY-MM-DD, on or after quote_date"),
    ChainColumn("strike", pl.Float64, True, "strike price, > 0"),
    ChainColumn("right", pl.String, True, "C or P (CALL/PUT accepted)"),
    ChainColumn("bid", pl.Float64, True, "bid, >= 0"),
    ChainColumn("ask", pl.Float64, True, "ask, >= bid"),
    ChainColumn("iv", pl.Float64, False, "implied vol, decimal, >= 0 (solved from mid if absent)"),
    ChainColumn("delta", pl.Float64, False, "delta per $1, in [-1, 1]"),
    ChainColumn("gamma", pl.Float64, False, "gamma per $1, >= 0"),
    ChainColumn("vega", pl.Float64, False, "vega per vol point, >= 0"),
    ChainColumn("theta", pl.Float64, False, "theta per calendar day"),
    ChainColumn("volume", pl.Int64, False, "contracts traded that day, >= 0"),
    ChainColumn("open_interest", pl.Int64, False, "open interest in contracts, >= 0"),
    ChainColumn("underlying_price", pl.Float64, False, "underlying price at the snapshot, > 0"),
    ChainColumn("bid_size", pl.Int64, False, "contracts bid, >= 0"),
    ChainColumn("ask_size", pl.Int64, False, "contracts offered, >= 0"),
)
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in CHAIN_COLUMNS)
REQUIRED: tuple[str, ...] = tuple(c.name for c in CHAIN_COLUMNS if c.required)
GREEKS: tuple[str, ...] = ("iv", "delta", "gamma", "vega", "theta")
KEY: tuple[str, ...] = ("underlying", "quote_date", "expiry", "strike", "right")
DTYPES: dict[str, type[pl.DataType]] = {c.name: c.dtype for c in CHAIN_COLUMNS}
