"""The backtest report as a widget app (the report notebook and Voila show it).

Pick a run, optionally a second one to compare it with, and filter its trades;
every panel redraws from the lake's result tables (``tradelib.backtest.report``).
"""

from __future__ import annotations

import html
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from tradelib.backtest.report import (
    BacktestRuns,
    RunData,
    equity_figure,
    margin_figure,
    monthly_figure,
    pnl_figure,
    stats_table,
    trade_list,
)
from tradelib.config import TradingConfig
from tradelib.dashboards.common import FigurePane
from tradelib.lake import Lake, TableName

NONE = "(none)"
ALL = "all"


def report_lake(lake: Lake, cfg: TradingConfig, *, demo_days: int = 5) -> tuple[Lake, str]:
    """``lake`` when it holds backtest runs, else two short simulated runs in a temp lake.

    Returns the lake and a sentence saying which, so the report opens in a fresh clone.
    """
    if lake.exists(TableName.BACKTEST_RUNS) and BacktestRuns(lake).runs().height:
        return lake, f"backtest runs in {lake.root}"
    from tradelib.backtest.run import run_backtest

    folder = Path(tempfile.mkdtemp(prefix="tradelib-backtest-")) / "lake"
    demo = Lake(folder)
    for seed in (cfg.simulation.seed, cfg.simulation.seed + 1):
        run_backtest(cfg, days=demo_days, seed=seed, results=demo, run_id=f"demo-seed{seed}")
    return demo, (
        f"no backtest runs in {lake.root}: ran two {demo_days}-day simulated backtests "
        f"(seeds {cfg.simulation.seed} and {cfg.simulation.seed + 1}) instead"
    )


def table_html(frame: pl.DataFrame, *, max_rows: int = 200) -> str:
    """A small HTML table of ``frame`` (escaped; floats to two decimals)."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    rows = []
    for row in frame.head(max_rows).iter_rows():
        cells = []
        for v in row:
            text = f"{v:,.2f}" if isinstance(v, float) else ("" if v is None else str(v))
            cells.append(f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p>{frame.height - max_rows} more rows</p>" if frame.height > max_rows else ""
    return f"<table class='tl-table'><tr>{head}</tr>{''.join(rows)}</table>{more}"


class BacktestReportApp:
    """Widgets over the backtest runs of one lake."""

    def __init__(self, lake: Lake, *, run_id: str = "", compare_with: str = "") -> None:
        import ipywidgets as widgets  # type: ignore[import-untyped]

        self.runs = BacktestRuns(lake)
        ids: Sequence[str] = self.runs.runs()["run_id"].to_list()
        if not ids:
            raise ValueError(f"no backtest runs in {lake.root}")
        first = run_id if run_id in ids else ids[0]
        self.run_select = widgets.Dropdown(options=list(ids), value=first, description="run")
        others = [NONE, *ids]
        self.compare_select = widgets.Dropdown(
            options=others,
            value=compare_with if compare_with in ids else NONE,
            description="compare with",
        )
        self.status_select = widgets.Dropdown(
            options=[ALL, "open", "closed"], value=ALL, description="trades"
        )
        self.type_select = widgets.Dropdown(options=[ALL], value=ALL, description="type")
        self.headline = widgets.HTML()
        self.stats = widgets.HTML()
        self.trades = widgets.HTML()
        self.panes = {
            name: FigurePane() for name in ("equity", "monthly", "rule", "type", "margin")
        }
        for control in (self.run_select, self.compare_select):
            control.observe(lambda _change: self.refresh(), names="value")
        for control in (self.status_select, self.type_select):
            control.observe(lambda _change: self.refresh_trades(), names="value")
        self.data: RunData | None = None
        self.widget = widgets.VBox(
            [
                widgets.HTML("<h2>Backtest report</h2>"),
                widgets.HBox([self.run_select, self.compare_select]),
                self.headline,
                self.stats,
                self.panes["equity"].output,
                self.panes["monthly"].output,
                widgets.HBox([self.panes["rule"].output, self.panes["type"].output]),
                self.panes["margin"].output,
                widgets.HTML("<h3>Trades</h3>"),
                widgets.HBox([self.status_select, self.type_select]),
                self.trades,
            ]
        )
        self.refresh()

    def refresh(self) -> None:
        """Redraw every panel for the selected run (and the run compared with it)."""
        data = self.runs.load(str(self.run_select.value))
        self.data = data
        shown = [data]
        other = str(self.compare_select.value)
        if other not in (NONE, data.run_id):
            shown.append(self.runs.load(other))
        self.headline.value = "".join(
            f"<p><b>{html.escape(r.headline())}</b></p>" for r in shown
        ) + (
            "<p><i>Option quotes were modelled, not recorded.</i></p>"
            if any(r.run["modelled"] for r in shown)
            else ""
        )
        self.stats.value = table_html(stats_table(*shown))
        self.panes["equity"].show(equity_figure(*shown))
        self.panes["monthly"].show(monthly_figure(data))
        self.panes["rule"].show(pnl_figure(data, "exit_rule"))
        self.panes["type"].show(pnl_figure(data, "strategy_type"))
        self.panes["margin"].show(margin_figure(data))
        types = [ALL, *sorted(set(data.trades["strategy_type"].to_list()))]
        if list(self.type_select.options) != types:
            self.type_select.options = types
            self.type_select.value = ALL
        self.refresh_trades()

    def refresh_trades(self) -> None:
        """Redraw the trade list with the filters."""
        if self.data is None:
            return
        table = trade_list(
            self.data,
            status=str(self.status_select.value),
            strategy_type=str(self.type_select.value),
        )
        self.trades.value = f"<p>{table.height} trades</p>" + table_html(table)

    def display(self) -> Any:
        """The app's root widget (the notebook's last expression)."""
        return self.widget
