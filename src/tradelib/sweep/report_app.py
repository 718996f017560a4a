"""The sweep report as a widget app (the sweep report notebook and Voila show it).

Pick a sweep, the metric, the parameter pair of the heatmap and the period; every
panel redraws from the lake (``tradelib.sweep.report``). ``report_lake`` runs a
small demo sweep into a temporary lake when the lake holds none, so the report
opens in a fresh clone.
"""

from __future__ import annotations

import html
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

from tradelib.config import TradingConfig
from tradelib.dashboards.common import FigurePane
from tradelib.lake import Lake, TableName
from tradelib.sweep.report import (
    METRICS,
    SweepRuns,
    best_equity_figure,
    best_points,
    combo_table,
    heatmap_figure,
    overfit_figure,
    overfitting,
    param_keys,
    periods,
    sensitivity,
    sensitivity_figure,
)

# the demo sweep: 2 x 2 parameters, one seed, 4 simulated days split 2 in-sample / 2 held-out,
# 2 monitoring cycles a day (a short demo)
DEMO_GRID: dict[str, Any] = {
    "sweep_id": "demo-sweep",
    "grid": {"profit_targets.fixed": [0.4, 0.6], "strategies.target_delta": [0.12, 0.2]},
    "markets": [{"source": "sim", "days": 4, "end": "2026-11-25"}],
    "split": {"held_out_fraction": 0.5},
    "cycles_per_day": 2,
}


def report_lake(lake: Lake, cfg: TradingConfig) -> tuple[Lake, str]:
    """``lake`` when it holds a sweep, else a temp lake with the demo sweep run into it."""
    if lake.exists(TableName.BACKTEST_SWEEPS) and SweepRuns(lake).sweeps().height:
        return lake, f"sweeps in {lake.root}"
    from tradelib.sweep import build_grid, run_sweep

    demo = Lake(Path(tempfile.mkdtemp(prefix="tradelib-sweep-")) / "lake")
    run_sweep(build_grid(DEMO_GRID, base=cfg), lake=demo, workers=0)
    return demo, (
        f"no sweep in {lake.root}: ran a demo sweep instead (2 x 2 parameters, 4 simulated "
        "days split into 2 in-sample and 2 held-out)"
    )


def table_html(frame: pl.DataFrame, *, max_rows: int = 50) -> str:
    """A small escaped HTML table (floats to four significant digits)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for row in frame.head(max_rows).iter_rows():
        cells = []
        for v in row:
            text = f"{v:.4g}" if isinstance(v, float) else ("" if v is None else str(v))
            cells.append(f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p>{frame.height - max_rows} more rows</p>" if frame.height > max_rows else ""
    return f"<table class='tl-table'><tr>{head}</tr>{''.join(rows)}</table>{more}"


def usable_metric(points: pl.DataFrame, metric: str) -> str:
    """``metric``, or total return when no stored run has it (Sharpe needs a few days)."""
    if metric in points.columns and points[metric].null_count() < points.height:
        return metric
    return "total_return"


class SweepReportApp:
    """Widgets over the sweeps of one lake."""

    def __init__(self, lake: Lake, *, sweep_id: str = "", metric: str = "sharpe") -> None:
        import ipywidgets as widgets  # type: ignore[import-untyped]

        self.runs = SweepRuns(lake)
        ids = self.runs.sweeps()["sweep_id"].to_list()
        if not ids:
            raise ValueError(f"no sweep in {lake.root}")
        self.sweep_select = widgets.Dropdown(
            options=ids, value=sweep_id if sweep_id in ids else ids[0], description="sweep"
        )
        self.metric_select = widgets.Dropdown(
            options=[(m.label, m.key) for m in METRICS.values()],
            value=metric if metric in METRICS else "sharpe",
            description="metric",
        )
        self.x_select = widgets.Dropdown(description="x")
        self.y_select = widgets.Dropdown(description="y")
        self.period_select = widgets.Dropdown(description="period")
        self.summary = widgets.HTML()
        self.warning = widgets.HTML()
        self.combos = widgets.HTML()
        self.sensitivity = widgets.HTML()
        self.panes = {name: FigurePane() for name in ("heatmap", "best", "sensitivity", "overfit")}
        self.points = pl.DataFrame()
        self._quiet = False
        self.sweep_select.observe(lambda _c: self.load(), names="value")
        for control in (self.metric_select, self.x_select, self.y_select, self.period_select):
            control.observe(lambda _c: self.redraw(), names="value")
        self.widget = widgets.VBox(
            [
                widgets.HTML("<h2>Sweep report</h2>"),
                widgets.HBox([self.sweep_select, self.metric_select]),
                self.summary,
                self.warning,
                widgets.HTML("<h3>Heatmap</h3>"),
                widgets.HBox([self.x_select, self.y_select, self.period_select]),
                self.panes["heatmap"].output,
                self.panes["best"].output,
                widgets.HTML("<h3>Parameter sensitivity</h3>"),
                self.panes["sensitivity"].output,
                self.sensitivity,
                widgets.HTML("<h3>In-sample vs held-out</h3>"),
                self.panes["overfit"].output,
                widgets.HTML("<h3>Parameter combinations</h3>"),
                self.combos,
            ]
        )
        self.load()

    def load(self) -> None:
        """Read the selected sweep's points and reset the choices that depend on them."""
        self.points = self.runs.points(str(self.sweep_select.value))
        keys = param_keys(self.points)
        axes = [*keys, "seed"] if len(keys) < 2 else keys
        self._quiet = True
        try:
            self.x_select.options = axes
            self.x_select.value = axes[0]
            self.y_select.options = axes
            self.y_select.value = axes[1] if len(axes) > 1 else axes[0]
            self.period_select.options = periods(self.points)
            self.period_select.value = periods(self.points)[0]
            self.metric_select.value = usable_metric(self.points, str(self.metric_select.value))
        finally:
            self._quiet = False
        self.redraw()

    def redraw(self) -> None:
        """Redraw every panel for the sweep, metric, pair and period chosen."""
        if self._quiet or self.points.height == 0:
            return
        p, metric, period = (
            self.points,
            str(self.metric_select.value),
            str(self.period_select.value),
        )
        keys = param_keys(p)
        stored = int(p["stored"].sum())
        self.summary.value = (
            f"<p><b>{html.escape(str(self.sweep_select.value))}</b>: {p.height} points, "
            f"{stored} stored, {len(keys)} parameters ({html.escape(', '.join(keys) or '-')}), "
            f"seeds {sorted(set(p['seed'].to_list()))}, markets "
            f"{html.escape(', '.join(sorted(set(p['market'].to_list()))))}. "
            "<i>Option quotes are modelled.</i></p>"
            + (
                f"<p><i>No run has a {html.escape(METRICS[metric].label)}: too few days "
                "per run.</i></p>"
                if p[metric].null_count() == p.height
                else ""
            )
        )
        check = overfitting(p, metric)
        colour = {"warning": "#b00020", "ok": "#1b5e20", "unknown": "#555"}[check.level]
        self.warning.value = f"<p style='color:{colour}'><b>{html.escape(check.message)}</b></p>"
        self.panes["heatmap"].show(
            heatmap_figure(p, str(self.x_select.value), str(self.y_select.value), metric, period)
        )
        self.panes["best"].show(
            best_equity_figure(self.runs, best_points(p, metric, period), metric, keys=keys)
        )
        self.panes["sensitivity"].show(sensitivity_figure(p, metric, period))
        self.sensitivity.value = table_html(sensitivity(p, metric, period))
        self.panes["overfit"].show(overfit_figure(check, metric))
        self.combos.value = table_html(combo_table(p, metric, period))

    def display(self) -> Any:
        """The app's root widget (the notebook's last expression)."""
        return self.widget
