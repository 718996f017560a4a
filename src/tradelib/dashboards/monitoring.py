"""The monitoring dashboard: account, strategies, risk, breaker, market data, orders, jobs,
regime and predictions, read from the lake every 30 s.

``dashboards/monitoring.ipynb`` only builds a ``MonitoringDashboard``, starts
its auto-refresh and displays it. The dashboard reads the lake only (never the
broker). Three parts: ``monitoring_queries`` (pure ``(lake, now) -> frame``
functions), ``monitoring_render`` (frames -> HTML and figures) and this module,
the refresh app; the queries and renderers are re-exported here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import ipywidgets as widgets  # type: ignore[import-untyped]
import plotly.graph_objects as go  # type: ignore[import-untyped]
import polars as pl

from tradelib.config import TradingConfig, load_config
from tradelib.dashboards.common import (
    FigurePane,
    TTLCache,
    notice_html,
    page_shown,
    refresh_interval,
    resolve_lake,
)
from tradelib.dashboards.monitoring_queries import (
    DECISIONS_LOOKBACK,
    FAILED_STATUSES,
    QUERIES,
    RECENT_ROWS,
    WARN_USE,
    Query,
    account_summary,
    breaker_state,
    closed_trades,
    current_regime,
    equity_curve,
    equity_since_inception,
    job_health,
    latest_decisions,
    open_legs,
    open_strategies,
    pnl_by_week,
    prediction_summary,
    predictions_vs_actuals,
    realized_pnl_by,
    recent_fills,
    recent_orders,
    recent_rejections,
    risk_limit_use,
    slot_use,
)
from tradelib.dashboards.monitoring_render import (
    STRATEGY_COLUMNS,
    _empty_figure,
    account_html,
    breaker_html,
    equity_figure,
    inception_figure,
    jobs_html,
    orders_html,
    performance_html,
    predictions_figure,
    predictions_html,
    regime_html,
    risk_html,
    slots_html,
    strategies_html,
)
from tradelib.lake import Lake
from tradelib.secrets import mask_all

# --- the widget app -------------------------------------------------------------------------------
PANELS = (
    "account",
    "strategies",
    "risk",
    "breaker",
    "slots",
    "orders",
    "jobs",
    "regime",
    "predictions",
    "performance",
)
PANEL_TITLES = {
    "account": "Account",
    "strategies": "Open strategies",
    "risk": "Risk-limit use",
    "breaker": "Circuit breaker",
    "slots": "Market-data lines",
    "orders": "Recent orders and fills",
    "jobs": "Job health",
    "regime": "Regime",
    "predictions": "Predictions vs actuals",
    "performance": "Performance since inception",
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


class MonitoringDashboard:
    """The monitoring app: every panel re-read from the lake each ``refresh_s`` seconds.

    Reads are cached for the refresh interval, so a manual refresh between two
    timed ones costs nothing unless forced. ``clock`` (monotonic, for the cache)
    and ``wallclock`` (UTC, what "now" is) are injectable for tests.
    """

    def __init__(
        self,
        lake: Lake,
        cfg: TradingConfig | None = None,
        *,
        refresh_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], datetime] = _utcnow,
        charts_when_shown: bool = False,
    ) -> None:
        """``charts_when_shown``: draw the charts once a browser shows the numbers (Voila)."""
        self.lake = lake
        self.cfg = cfg or TradingConfig()
        self.refresh_s = refresh_interval(refresh_s)
        self.cache = TTLCache(self.refresh_s, clock)
        self._wallclock = wallclock
        self.refreshes = 0
        self.status = widgets.HTML()
        self.panels: dict[str, widgets.HTML] = {name: widgets.HTML() for name in PANELS}
        self.panes = {
            name: FigurePane(held=charts_when_shown)
            for name in ("equity", "predictions", "inception")
        }
        self.shown = page_shown(self.reveal_charts) if charts_when_shown else None
        self.refresh_button = widgets.Button(description="Refresh now", icon="refresh")
        self.refresh_button.on_click(lambda _b: self.refresh(force=True))
        self._task: asyncio.Task[None] | None = None
        self.refresh()

    @classmethod
    def from_env(
        cls,
        lake_uri: str | None = None,
        config: str | None = None,
        *,
        refresh_s: float | None = None,
        **kwargs: Any,
    ) -> MonitoringDashboard:
        """Build from the config ($TRADELIB_CONFIG or found upwards) and the lake it names."""
        cfg = load_config(config)  # also registers TRADELIB_IB_ACCOUNT for masking
        return cls(resolve_lake(lake_uri, cfg), cfg, refresh_s=refresh_s, **kwargs)

    def reveal_charts(self) -> None:
        """Draw the charts (held until a browser showed the page's numbers).

        One chart that cannot be drawn shows its error; the others still draw.
        """
        for name, pane in self.panes.items():
            try:
                pane.reveal()
            except Exception as exc:
                pane.held = False
                pane.show(_empty_figure(f"{name} failed: {mask_all(str(exc))}"))

    @property
    def figures(self) -> dict[str, go.Figure]:
        """The figure each pane shows now (for tests and notebooks)."""
        return {name: pane.figure for name, pane in self.panes.items()}

    def query(self, name: str) -> pl.DataFrame:
        """One panel query's frame, read at most once per refresh interval."""
        now = self._wallclock
        # the derived panels reuse the frames they are built from (cached alike)
        if name == "limits":
            return self.cache.get(
                name,
                lambda: risk_limit_use(
                    self.lake,
                    now(),
                    self.cfg,
                    account=self.query("account"),
                    legs=self.query("legs"),
                    strategies=self.query("strategies"),
                ),
            )
        if name == "weekly":
            return self.cache.get(name, lambda: pnl_by_week(self.query("inception")))
        if name in ("by_type", "by_rule"):
            column = "strategy_type" if name == "by_type" else "exit_rule"
            return self.cache.get(name, lambda: realized_pnl_by(self.query("trades"), column))
        if name == "strategies" and QUERIES[name] is open_strategies:
            return self.cache.get(
                name, lambda: open_strategies(self.lake, now(), legs=self.query("legs"))
            )
        fn = QUERIES[name]
        return self.cache.get(name, lambda: fn(self.lake, now()))

    def _render(self, name: str) -> str:
        q = self.query
        match name:
            case "account":
                return account_html(q("account"))
            case "strategies":
                return strategies_html(q("strategies"))
            case "risk":
                return risk_html(q("limits"), q("rejections"), q("breaches"))
            case "breaker":
                return breaker_html(q("breaker"))
            case "slots":
                return slots_html(q("slots"), self.cfg)
            case "orders":
                return orders_html(q("orders"), q("fills"))
            case "jobs":
                return jobs_html(q("jobs"))
            case "regime":
                return regime_html(q("regime"))
            case "predictions":
                return predictions_html(q("predictions"))
            case "performance":
                return performance_html(q("weekly"), q("by_type"), q("by_rule"))
        raise KeyError(name)

    def refresh(self, *, force: bool = False) -> None:
        """Re-read the lake (``force``: ignore the cache) and redraw every panel.

        A panel whose query fails shows the error (masked) and the others still draw.
        """
        if force:
            self.cache.clear()
        for name, panel in self.panels.items():
            try:
                panel.value = self._render(name)
            except Exception as exc:  # one broken table must not blank the dashboard
                panel.value = notice_html(f"{PANEL_TITLES[name]} failed: {exc}", "error")
        for name, build, source in (
            ("equity", equity_figure, "equity"),
            ("predictions", predictions_figure, "predictions"),
            ("inception", inception_figure, "inception"),
        ):
            try:
                self.panes[name].show(build(self.query(source)))
            except Exception as exc:
                self.panes[name].show(_empty_figure(f"failed: {mask_all(str(exc))}"))
        self.refreshes += 1
        self.status.value = (
            f"<small>Last refreshed {self._wallclock():%Y-%m-%d %H:%M:%S} UTC · "
            f"every {self.refresh_s:g} s · refresh #{self.refreshes} · lake "
            f"{mask_all(str(self.lake.root))}</small>"
        )

    async def _auto_refresh(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            self.refresh()

    def start_auto_refresh(self) -> asyncio.Task[None] | None:
        """Refresh every ``refresh_s`` seconds on the running event loop (the kernel's).

        Returns the task, or None outside an event loop (a plain script), where
        there is nothing to keep the timer alive.
        """
        self.stop_auto_refresh()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        self._task = loop.create_task(self._auto_refresh())
        return self._task

    def stop_auto_refresh(self) -> None:
        """Stop the timed refresh (if running)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def widget(self) -> widgets.VBox:
        """The whole app as one widget tree, panels in the order a trader scans them."""

        def section(name: str, *extra: widgets.Widget) -> widgets.VBox:
            return widgets.VBox([widgets.HTML(f"<h3>{PANEL_TITLES[name]}</h3>"), *extra])

        p = self.panels
        f = {name: pane.output for name, pane in self.panes.items()}
        return widgets.VBox(
            [
                widgets.HTML("<h2>tradelib monitoring</h2>"),
                widgets.HBox([self.refresh_button, self.status]),
                section("account", p["account"], f["equity"]),
                section("strategies", p["strategies"]),
                widgets.HBox(
                    [
                        section("risk", p["risk"]),
                        widgets.VBox(
                            [
                                section("breaker", p["breaker"]),
                                section("regime", p["regime"]),
                                section("slots", p["slots"]),
                            ]
                        ),
                    ]
                ),
                section("orders", p["orders"]),
                section("jobs", p["jobs"]),
                section("predictions", p["predictions"], f["predictions"]),
                section("performance", f["inception"], p["performance"]),
                *([self.shown] if self.shown is not None else []),
            ]
        )


def panel_texts(dashboard: MonitoringDashboard) -> Mapping[str, str]:
    """The HTML of every panel (for tests and for printing a dashboard in a notebook)."""
    return {name: panel.value for name, panel in dashboard.panels.items()}


__all__ = [
    "DECISIONS_LOOKBACK",
    "FAILED_STATUSES",
    "PANELS",
    "PANEL_TITLES",
    "QUERIES",
    "RECENT_ROWS",
    "STRATEGY_COLUMNS",
    "WARN_USE",
    "MonitoringDashboard",
    "Query",
    "account_html",
    "account_summary",
    "breaker_html",
    "breaker_state",
    "closed_trades",
    "current_regime",
    "equity_curve",
    "equity_figure",
    "equity_since_inception",
    "inception_figure",
    "job_health",
    "jobs_html",
    "latest_decisions",
    "open_legs",
    "open_strategies",
    "orders_html",
    "panel_texts",
    "performance_html",
    "pnl_by_week",
    "prediction_summary",
    "predictions_figure",
    "predictions_html",
    "predictions_vs_actuals",
    "realized_pnl_by",
    "recent_fills",
    "recent_orders",
    "recent_rejections",
    "regime_html",
    "risk_html",
    "risk_limit_use",
    "slot_use",
    "slots_html",
    "strategies_html",
]
