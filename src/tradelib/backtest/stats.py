"""Statistics of a backtest: returns, drawdowns, trades, P&L breakdowns, buy-and-hold (pure).

Conventions (those of empyrical, against which the tests check them):
daily simple returns of the equity series; annualised return is geometric
over ``periods_per_year`` (252) periods a year; volatility, Sharpe and Sortino
use ``periods_per_year`` too, volatility and Sharpe with the sample standard
deviation (ddof 1), Sortino with the root mean square of the below-target
returns. The risk-free rate is annual and compounded down to a daily one.
Drawdowns are measured on the equity series itself, its first value included.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date

import numpy as np
import polars as pl

from tradelib.sim.types import FloatArray

PERIODS_PER_YEAR = 252
# Column names of the inputs, spelled once.
DAY, EQUITY, CLOSE, PNL = "day", "equity", "close", "pnl"
STRATEGY_TYPE, EXIT_RULE, REGIME = "strategy_type", "exit_rule", "regime"


@dataclass(frozen=True, slots=True)
class ReturnStats:
    """Return and risk of one daily value series. Fractions (0.1 = 10%), days as counted."""

    start: date
    end: date
    periods: int  # number of daily returns
    start_value: float
    end_value: float
    total_return: float
    annual_return: float
    annual_volatility: float
    sharpe: float
    sortino: float
    max_drawdown: float  # <= 0
    drawdown_peak: date
    drawdown_trough: date
    drawdown_recovery: date | None  # None: not recovered by the end
    drawdown_periods: int  # trading days from the peak to the recovery (or the end)
    longest_drawdown_periods: int  # the longest stretch below a previous peak

    def as_dict(self) -> dict[str, object]:
        """Return the fields as a dict (for tables and the lake)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class TradeStats:
    """Closed-trade statistics. P&L in account currency; ``profit_factor`` inf with no losses."""

    trades: int
    wins: int
    losses: int
    win_rate: float  # wins / trades (NaN without trades)
    average_win: float
    average_loss: float  # <= 0
    profit_factor: float  # gross profit / gross loss
    total_pnl: float
    expectancy: float  # mean P&L per trade

    def as_dict(self) -> dict[str, object]:
        """Return the fields as a dict."""
        return asdict(self)


@dataclass(frozen=True, slots=True, eq=False)
class PerformanceReport:
    """Everything a run's statistics panel shows."""

    strategy: ReturnStats
    trades: TradeStats
    buy_and_hold: dict[str, ReturnStats]
    by_strategy_type: pl.DataFrame
    by_exit_rule: pl.DataFrame
    by_regime: pl.DataFrame

    def table(self) -> pl.DataFrame:
        """Return the return statistics of the strategy next to each buy-and-hold, one row each."""
        rows = [{"series": "strategy", **self.strategy.as_dict()}]
        rows += [
            {"series": f"buy_and_hold {s}", **r.as_dict()} for s, r in self.buy_and_hold.items()
        ]
        return pl.DataFrame(rows)


def daily_returns(values: FloatArray) -> FloatArray:
    """Return simple returns of a value series (one fewer element)."""
    v = np.asarray(values, dtype=np.float64)
    return np.asarray(v[1:] / v[:-1] - 1.0, dtype=np.float64)


def _daily_rf(annual: float, periods: int) -> float:
    return float((1.0 + annual) ** (1.0 / periods) - 1.0)


def sharpe_ratio(
    returns: FloatArray, risk_free: float = 0.0, periods: int = PERIODS_PER_YEAR
) -> float:
    """Return the annualised Sharpe ratio (``risk_free`` annual); NaN if undefined."""
    x = np.asarray(returns, dtype=np.float64) - _daily_rf(risk_free, periods)
    if x.size < 2:
        return math.nan
    sd = float(np.std(x, ddof=1))
    return math.nan if sd == 0 else float(np.mean(x) / sd * math.sqrt(periods))


def sortino_ratio(
    returns: FloatArray, risk_free: float = 0.0, periods: int = PERIODS_PER_YEAR
) -> float:
    """Return the annualised Sortino ratio (downside = RMS of returns below the target)."""
    x = np.asarray(returns, dtype=np.float64) - _daily_rf(risk_free, periods)
    if x.size < 1:
        return math.nan
    downside = math.sqrt(float(np.mean(np.minimum(x, 0.0) ** 2))) * math.sqrt(periods)
    if downside == 0:
        return math.inf if np.mean(x) > 0 else math.nan
    return float(np.mean(x) * periods / downside)


def return_stats(
    days: Sequence[date] | pl.Series,
    values: FloatArray | Sequence[float] | pl.Series,
    *,
    risk_free: float = 0.0,
    periods_per_year: int = PERIODS_PER_YEAR,
) -> ReturnStats:
    """Return the statistics of a daily value series (equity, or a buy-and-hold curve)."""
    d = list(days)
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2 or len(d) != v.size:
        raise ValueError(
            f"need at least 2 values and one day per value, got {v.size} values, {len(d)} days"
        )
    if not np.all(np.isfinite(v)) or not np.all(v > 0):
        bad = int(np.flatnonzero(~(np.isfinite(v) & (v > 0)))[0])
        raise ValueError(f"values must be finite and > 0: {v[bad]!r} on {d[bad]}")
    if any(b <= a for a, b in itertools.pairwise(d)):
        raise ValueError("days must be strictly ascending")
    r = daily_returns(v)
    n = r.size
    total = float(v[-1] / v[0] - 1.0)
    peak = np.maximum.accumulate(v)
    dd = v / peak - 1.0
    trough = int(np.argmin(dd))
    peak_i = int(np.flatnonzero(v[: trough + 1] == peak[trough])[0])
    after = np.flatnonzero(v[trough:] >= peak[trough])
    recovery = trough + int(after[0]) if after.size and dd[trough] < 0 else None
    under = dd < 0
    longest, run = 0, 0
    for flag in under:
        run = run + 1 if flag else 0
        longest = max(longest, run)
    return ReturnStats(
        start=d[0],
        end=d[-1],
        periods=n,
        start_value=float(v[0]),
        end_value=float(v[-1]),
        total_return=total,
        annual_return=float((1.0 + total) ** (periods_per_year / n) - 1.0),
        annual_volatility=float(np.std(r, ddof=1) * math.sqrt(periods_per_year))
        if n > 1
        else math.nan,
        sharpe=sharpe_ratio(r, risk_free, periods_per_year),
        sortino=sortino_ratio(r, risk_free, periods_per_year),
        max_drawdown=float(dd[trough]),
        drawdown_peak=d[peak_i],
        drawdown_trough=d[trough],
        drawdown_recovery=None if recovery is None else d[recovery],
        drawdown_periods=((recovery if recovery is not None else v.size - 1) - peak_i)
        if dd[trough] < 0
        else 0,
        longest_drawdown_periods=longest,
    )


def trade_stats(pnl: FloatArray | Sequence[float] | pl.Series) -> TradeStats:
    """Return win rate, average win/loss, profit factor... of closed trades' P&L (0 counts as a loss)."""
    x = np.asarray(pnl, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("trade P&L must be finite")
    wins, losses = x[x > 0], x[x <= 0]
    gross_loss = float(-losses.sum())
    return TradeStats(
        trades=int(x.size),
        wins=int(wins.size),
        losses=int(losses.size),
        win_rate=float(wins.size / x.size) if x.size else math.nan,
        average_win=float(wins.mean()) if wins.size else math.nan,
        average_loss=float(losses.mean()) if losses.size else math.nan,
        profit_factor=(
            float(wins.sum()) / gross_loss
            if gross_loss > 0
            else (math.inf if wins.size else math.nan)
        ),
        total_pnl=float(x.sum()),
        expectancy=float(x.mean()) if x.size else math.nan,
    )


def pnl_breakdown(trades: pl.DataFrame, by: str) -> pl.DataFrame:
    """Return P&L per value of ``by``: trades, total, mean, win rate, profit factor; biggest total first."""
    if by not in trades.columns:
        return pl.DataFrame(schema={by: pl.String, "trades": pl.UInt32, "total_pnl": pl.Float64})
    win = pl.col(PNL).filter(pl.col(PNL) > 0)
    loss = pl.col(PNL).filter(pl.col(PNL) <= 0)
    return (
        trades.group_by(by)
        .agg(
            pl.len().alias("trades"),
            pl.col(PNL).sum().alias("total_pnl"),
            pl.col(PNL).mean().alias("mean_pnl"),
            (pl.col(PNL) > 0).mean().alias("win_rate"),
            # no losing trade: inf, as trade_stats says (x / -0.0 would be -inf)
            pl.when(loss.sum() < 0)
            .then(win.sum() / -loss.sum())
            .otherwise(pl.lit(math.inf))
            .alias("profit_factor"),
        )
        .sort(["total_pnl", by], descending=[True, False])
    )


def buy_and_hold(
    days: Sequence[date], closes: pl.DataFrame, start_value: float = 1.0
) -> tuple[list[date], FloatArray]:
    """Return the value of ``start_value`` held in the underlying over ``days`` (closes: day, close).

    Every day must have a close: a missing one is an error, never filled.
    """
    wanted = pl.DataFrame({DAY: list(days)}, schema={DAY: pl.Date})
    joined = wanted.join(closes.select(DAY, CLOSE), on=DAY, how="left")
    missing = joined.filter(pl.col(CLOSE).is_null())[DAY].to_list()
    if missing:
        raise ValueError(f"no close for {len(missing)} day(s), first {missing[0]}")
    c = joined[CLOSE].to_numpy()
    return list(days), np.asarray(start_value * c / c[0], dtype=np.float64)


def performance(
    equity: pl.DataFrame,
    trades: pl.DataFrame,
    benchmarks: dict[str, pl.DataFrame] | None = None,
    *,
    risk_free: float = 0.0,
) -> PerformanceReport:
    """Return the full statistics of a run: ``equity`` (day, equity), ``trades`` (pnl and
    optionally strategy_type, exit_rule, regime), ``benchmarks`` symbol -> (day, close)."""
    eq = equity.sort(DAY)
    days = eq[DAY].to_list()
    values = eq[EQUITY].to_numpy()
    bh = {}
    for symbol, closes in (benchmarks or {}).items():
        d, curve = buy_and_hold(days, closes, float(values[0]))
        bh[symbol] = return_stats(d, curve, risk_free=risk_free)
    return PerformanceReport(
        strategy=return_stats(days, values, risk_free=risk_free),
        trades=trade_stats(trades[PNL].to_numpy() if trades.height else np.array([])),
        buy_and_hold=bh,
        by_strategy_type=pnl_breakdown(trades, STRATEGY_TYPE),
        by_exit_rule=pnl_breakdown(trades, EXIT_RULE),
        by_regime=pnl_breakdown(trades, REGIME),
    )
