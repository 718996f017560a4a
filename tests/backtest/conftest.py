"""Fixtures of the backtest data tests: the committed synthetic history, chains made from it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tradelib.backtest.history.source import HistoricalSource

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def history() -> HistoricalSource:
    """Return a fresh-enough historical source (tests needing a clock build their own)."""
    return HistoricalSource.from_dir(DATA)


def chain_rows(symbol: str, days: list[date], *, max_expiries: int = 4) -> pl.DataFrame:
    """Return end-of-day chain rows for ``days`` recorded off a historical source, in the file schema."""
    src = HistoricalSource.from_dir(DATA, [symbol])
    frames = []
    for d in days:
        src.advance_to(src.quote_time(d).replace(hour=19, minute=45))
        spot = src.spot(symbol)
        for e in src.expiries(symbol)[:max_expiries]:
            ch = src.option_chain(symbol, e)
            frames.append(
                pl.DataFrame(
                    {
                        "underlying": symbol,
                        "quote_date": d,
                        "expiry": e,
                        "strike": ch.strike,
                        "right": np.where(ch.is_call, "C", "P"),
                        "bid": ch.bid,
                        "ask": ch.ask,
                        "iv": ch.iv,
                        "delta": ch.delta,
                        "gamma": ch.gamma,
                        "vega": ch.vega,
                        "theta": ch.theta,
                        "volume": ch.bid_size,
                        "open_interest": ch.open_interest,
                        "underlying_price": spot,
                    }
                )
            )
    return pl.concat(frames)
