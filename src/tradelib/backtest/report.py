"""A backtest's results, read back from the lake and drawn: what the report notebook shows.

Everything here reads the three result tables (``backtest_runs``,
``backtest_trades``, ``backtest_equity``) through ``BacktestRuns`` and returns
frames or plotly figures, so the report notebook (and Voila) only lays them out.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go  # type: ignore[import-untyped]
import polars as pl
from plotly.subplots import make_subplots  # type: ignore[import-untyped]

from tradelib.backtest.summary import run_performance
from tradelib.lake import Lake, TableName

if TYPE_CHECKING:
    from tradelib.backtest.run import BacktestResult

RUNS, TRADES, EQUITY = (
    TableName.BACKTEST_RUNS,
    TableName.BACKTEST_TRADES,
    TableName.BACKTEST_EQUITY,
)


@dataclass(frozen=True, slots=True)
class RunData:
    """One stored run: its record, daily equity and trades."""

    run: dict[str, Any]
    equity: pl.DataFrame
    trades: pl.DataFrame

    @property
    def run_id(self) -> str:
        return str(self.run["run_id"])

    @property
    def stats(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.run["stats_json"] or "{}")
        return parsed

    def headline(self) -> str:
        """One line naming the run, its market and whether its quotes were modelled."""
        r = self.run
        quotes = "modelled option quotes" if r["modelled"] else "recorded option quotes"
        return (
            f"{r['run_id']}: {r['source_name']} ({quotes}), {r['days']} trading days "
            f"{r['start']} .. {r['end']}, {r['cycles_per_day']} monitoring cycles a day, "
            f"code {r['code_version']}, config {r['config_hash']}"
        )


class BacktestRuns:
    """The backtest runs stored in a lake."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def runs(self) -> pl.DataFrame:
        """Every run, newest first (empty when none was stored)."""
        return self.lake.read(RUNS).sort("created_at", descending=True).collect()

    def load(self, run_id: str) -> RunData:
        """One run's record, equity (by day) and trades (by entry); KeyError if unknown."""
        runs = self.lake.read(RUNS, filter=pl.col("run_id") == run_id).collect()
        if runs.height == 0:
            raise KeyError(f"no backtest run {run_id!r} in {self.lake.root}")
        equity = self.lake.read(EQUITY, filter=pl.col("run_id") == run_id).sort("day").collect()
        trades = (
            self.lake.read(TRADES, filter=pl.col("run_id") == run_id).sort("opened_at").collect()
        )
        return RunData(runs.row(0, named=True), equity, trades)


# --- tables ----------------------------------------------------------------------------------
STAT_ROWS = (
    ("total return", "total_return", "{:+.2%}"),
    ("annualised return", "annual_return", "{:+.2%}"),
    ("annualised volatility", "annual_volatility", "{:.2%}"),
    ("Sharpe", "sharpe", "{:.2f}"),
    ("Sortino", "sortino", "{:.2f}"),
    ("max drawdown", "max_drawdown", "{:.2%}"),
    ("max drawdown, trading days", "max_drawdown_days", "{:d}"),
    ("closed trades", "trades", "{:d}"),
    ("open at the end", "open_trades", "{:d}"),
    ("win rate", "win_rate", "{:.0%}"),
    ("average win ($)", "avg_win", "{:,.2f}"),
    ("average loss ($)", "avg_loss", "{:,.2f}"),
    ("profit factor", "profit_factor", "{:.2f}"),
    ("buy-and-hold SPY", "benchmark_return", "{:+.2%}"),
)


def _fmt(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return spec.format(value)


def stats_table(*runs: RunData) -> pl.DataFrame:
    """The headline statistics, one column per run (run against run)."""
    data: dict[str, list[str]] = {"statistic": [label for label, _, _ in STAT_ROWS]}
    for run in runs:
        data[run.run_id] = [_fmt(run.stats.get(key), spec) for _, key, spec in STAT_ROWS]
    return pl.DataFrame(data)


def pnl_by(run: RunData, column: str) -> pl.DataFrame:
    """Closed trades' P&L grouped by ``column`` (strategy_type, exit_rule or regime)."""
    report = run_performance(run.equity, run.trades)
    frames = {
        "strategy_type": report.by_strategy_type,
        "exit_rule": report.by_exit_rule,
        "regime": report.by_regime,
    }
    return frames[column]


def monthly_returns(run: RunData) -> pl.DataFrame:
    """Return per calendar month (rows: years, columns: months 1..12), from month-end equity."""
    eq = run.equity.select("day", "net_liquidation").sort("day")
    if eq.height < 2:
        return pl.DataFrame({"year": []}, schema={"year": pl.Int32})
    start_value = float(eq["net_liquidation"][0])
    month_end = (
        eq.with_columns(pl.col("day").dt.year().alias("year"), pl.col("day").dt.month().alias("m"))
        .group_by("year", "m", maintain_order=True)
        .agg(pl.col("net_liquidation").last().alias("end"))
        .with_columns(pl.col("end").shift(1, fill_value=start_value).alias("begin"))
        .with_columns((pl.col("end") / pl.col("begin") - 1.0).alias("return"))
    )
    wide = month_end.pivot(on="m", index="year", values="return", sort_columns=True)
    return wide.rename({c: f"{int(c):02d}" for c in wide.columns if c != "year"}).sort("year")


def trade_list(run: RunData, *, status: str = "all", strategy_type: str = "all") -> pl.DataFrame:
    """The trades, filtered by status (open/closed) and strategy type ("all" keeps every one)."""
    t = run.trades
    if status != "all":
        t = t.filter(pl.col("status") == status)
    if strategy_type != "all":
        t = t.filter(pl.col("strategy_type") == strategy_type)
    return t.select(
        "strategy_id",
        "strategy_type",
        "opened_at",
        "closed_at",
        "exit_rule",
        "regime",
        "credit",
        "pnl",
        "predicted_pnl",
        "commissions",
        "slippage",
    )


# --- figures ---------------------------------------------------------------------------------
def equity_figure(*runs: RunData) -> go.Figure:
    """Equity (top) and drawdown (bottom) of each run, with buy-and-hold of SPY for the first."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3])
    for run in runs:
        eq = run.equity
        fig.add_trace(
            go.Scatter(x=eq["day"], y=eq["net_liquidation"], name=f"{run.run_id} equity"),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=eq["day"], y=-eq["drawdown"], name=f"{run.run_id} drawdown", fill="tozeroy"
            ),
            row=2,
            col=1,
        )
    first = runs[0].equity if runs else pl.DataFrame()
    if first.height and first["benchmark_close"].null_count() == 0:
        start = float(first["net_liquidation"][0])
        hold = first["benchmark_close"] / float(first["benchmark_close"][0]) * start
        fig.add_trace(
            go.Scatter(x=first["day"], y=hold, name="buy-and-hold SPY", line={"dash": "dot"}),
            row=1,
            col=1,
        )
    fig.update_layout(title="Equity and drawdown", height=520, margin={"t": 50, "b": 30})
    fig.update_yaxes(title_text="net liquidation ($)", row=1, col=1)
    fig.update_yaxes(title_text="drawdown", tickformat=".1%", row=2, col=1)
    return fig


def monthly_figure(run: RunData) -> go.Figure:
    """The monthly returns as a heatmap (years down, months across)."""
    table = monthly_returns(run)
    months = [c for c in table.columns if c != "year"]
    z = [[row[m] for m in months] for row in table.iter_rows(named=True)]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=months,
            y=[str(y) for y in table["year"]] if table.height else [],
            colorscale="RdYlGn",
            zmid=0.0,
            texttemplate="%{z:.1%}",
            hovertemplate="%{y}-%{x}: %{z:.2%}<extra></extra>",
        )
    )
    fig.update_layout(title="Monthly returns", height=260 + 30 * table.height)
    return fig


def pnl_figure(run: RunData, column: str) -> go.Figure:
    """Closed-trade P&L by ``column`` as bars."""
    table = pnl_by(run, column)
    fig = go.Figure(go.Bar(x=table[column].cast(pl.String), y=table["total_pnl"]))
    fig.update_layout(title=f"P&L by {column.replace('_', ' ')}", height=320)
    fig.update_yaxes(title_text="$")
    return fig


def margin_figure(run: RunData) -> go.Figure:
    """Initial margin over net liquidation, per day."""
    eq = run.equity
    fig = go.Figure(go.Scatter(x=eq["day"], y=eq["margin_use"], name="margin use"))
    fig.update_layout(title="Margin use", height=300)
    fig.update_yaxes(tickformat=".0%")
    return fig


def from_result(result: BacktestResult) -> RunData:
    """A run not (yet) stored, as the report reads one: its record, equity and trades."""
    days = result.days
    run = {
        "run_id": result.run_id,
        "source": result.source,
        "source_name": result.source_name,
        "modelled": result.modelled,
        "seed": result.seed,
        "start": days[0].day if days else None,
        "end": days[-1].day if days else None,
        "days": len(days),
        "cycles_per_day": result.cycles_per_day,
        "code_version": "this session",
        "config_hash": "-",
        "stats_json": json.dumps(result.stats, default=str),
    }
    return RunData(run, result.equity, result.trades)
