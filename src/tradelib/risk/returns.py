"""Daily returns, betas against a benchmark and correlated groups of underlyings.

Pure functions over polars frames. Returns are simple daily close-to-close
returns aligned on the New York trading date; only dates where every symbol
has a close are used, so a gap in one series never pairs mismatched days.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from tradelib.domain.time import NEW_YORK
from tradelib.errors import RiskInputError

DATE = "date"


def daily_returns(
    closes: Mapping[str, pl.DataFrame], lookback_days: int | None = None
) -> pl.DataFrame:
    """Return a wide frame: ``date`` plus one column of daily returns per symbol.

    Each input frame has ``ts`` (UTC) and ``close`` columns (``Broker.bars``
    output). The last close of each New York date is used; only the newest
    ``lookback_days`` returns are kept when given.
    """
    if not closes:
        raise RiskInputError(name="closes", problem="no price series given")
    wide: pl.DataFrame | None = None
    for symbol, frame in closes.items():
        missing = {"ts", "close"} - set(frame.columns)
        if missing:
            raise RiskInputError(name=f"closes[{symbol}]", problem=f"missing columns {missing}")
        per_day = (
            frame.select(
                pl.col("ts").dt.convert_time_zone(str(NEW_YORK)).dt.date().alias(DATE),
                pl.col("ts"),
                pl.col("close").cast(pl.Float64),
            )
            .sort("ts")
            .group_by(DATE, maintain_order=True)
            .agg(pl.col("close").last())
            .sort(DATE)
            .select(DATE, (pl.col("close") / pl.col("close").shift(1) - 1.0).alias(symbol))
            .drop_nulls()
        )
        wide = per_day if wide is None else wide.join(per_day, on=DATE, how="inner")
    assert wide is not None
    wide = wide.sort(DATE)
    if lookback_days is not None:
        wide = wide.tail(lookback_days)
    return wide


def _symbols(returns: pl.DataFrame) -> list[str]:
    return [c for c in returns.columns if c != DATE]


def _matrix(returns: pl.DataFrame, symbols: Sequence[str]) -> np.ndarray:
    if returns.height < 2:
        raise RiskInputError(
            name="returns", problem=f"need at least 2 common days of returns, got {returns.height}"
        )
    return returns.select(list(symbols)).to_numpy().astype(np.float64)


def estimate_betas(returns: pl.DataFrame, benchmark: str = "SPY") -> dict[str, float]:
    """Return beta = cov(r, r_benchmark) / var(r_benchmark) for every symbol (benchmark: 1.0)."""
    symbols = _symbols(returns)
    if benchmark not in symbols:
        raise RiskInputError(name="returns", problem=f"no returns for benchmark {benchmark}")
    data = _matrix(returns, symbols)
    bench = data[:, symbols.index(benchmark)]
    var = float(np.var(bench, ddof=1))
    if not var > 0:
        raise RiskInputError(name="returns", problem=f"benchmark {benchmark} returns are flat")
    betas: dict[str, float] = {}
    for i, symbol in enumerate(symbols):
        cov = float(np.cov(data[:, i], bench, ddof=1)[0, 1])
        betas[symbol] = 1.0 if symbol == benchmark else cov / var
    return betas


def correlations(returns: pl.DataFrame) -> dict[tuple[str, str], float]:
    """Return the pairwise Pearson correlation of every two symbols (both orders)."""
    symbols = _symbols(returns)
    data = _matrix(returns, symbols)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(data, rowvar=False)
    corr = np.atleast_2d(corr)
    out: dict[tuple[str, str], float] = {}
    for i, a in enumerate(symbols):
        for j, b in enumerate(symbols):
            if i != j:
                value = float(corr[i, j])
                # A flat series has no correlation with anything: treat it as unrelated.
                out[(a, b)] = value if math.isfinite(value) else 0.0
    return out


def correlated_groups(
    correlation: Mapping[tuple[str, str], float], threshold: float
) -> tuple[frozenset[str], ...]:
    """Group symbols linked by a chain of pairwise correlations >= ``threshold``.

    Single linkage (connected components): if A~B and B~C then A, B and C form
    one group even when A and C fall just short, which errs on the side of
    treating exposure as shared. Singletons are returned too; order is stable.
    """
    symbols = sorted({s for pair in correlation for s in pair})
    parent = {s: s for s in symbols}

    def root(s: str) -> str:
        while parent[s] != s:
            parent[s] = parent[parent[s]]
            s = parent[s]
        return s

    for (a, b), value in sorted(correlation.items()):
        if value >= threshold:
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, set[str]] = {}
    for s in symbols:
        groups.setdefault(root(s), set()).add(s)
    return tuple(frozenset(g) for _, g in sorted(groups.items()))
