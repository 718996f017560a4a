"""The futures dashboard: futures vs spot, correlation, lead/lag, coverage and the signal.

``dashboards/futures.ipynb`` only builds a ``FuturesDashboard`` and displays
it; everything it shows is made here. The dashboard reads the lake only
(never the broker), caches each read for ``ttl_s`` (30 s) so widget changes
and refreshes stay cheap, and draws with plotly figures (mime renderer) that are
updated in place when the selection changes.

The figure builders (``price_figure`` ...) are plain functions of a
``FuturesView``, so they are tested without a browser.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import ipywidgets as widgets  # type: ignore[import-untyped]
import plotly.graph_objects as go  # type: ignore[import-untyped]
import polars as pl

from tradelib.config import TradingConfig, load_config
from tradelib.dashboards.common import LEVEL_COLORS, FigurePane, TTLCache, resolve_lake
from tradelib.futures.analysis import (
    CORR,
    FUTURE,
    LAG,
    SPOT,
    AnalysisParams,
    PairAnalysis,
)
from tradelib.futures.signal import FuturesSignal
from tradelib.lake import Lake
from tradelib.markethours import NEW_YORK, MarketHours
from tradelib.stores.futures import (
    CLOSE,
    GAP_END,
    GAP_REASON,
    GAP_START,
    GAP_SYMBOL,
    TS,
    current_signal,
    load_analyses,
    newest_bar,
    read_bars,
    read_gaps,
)

__all__ = [
    "FuturesDashboard",
    "FuturesView",
    "TTLCache",
    "build_view",
    "correlation_figure",
    "coverage_figure",
    "leadlag_figure",
    "price_figure",
    "resolve_lake",
    "signal_html",
    "status_html",
]

CACHE_TTL_S = 30.0
WINDOW_CHOICES_S = (60, 300, 900, 1800)
RANGE_CHOICES_DAYS: dict[str, float] = {
    "last 3 days": 3,
    "last 14 days": 14,
    "last 30 days": 30,
    "last 90 days": 90,
}
DEFAULT_RANGE = "last 14 days"  # two calendar weeks hold the 7 trading days the analysis needs
_CHART_BAR = "1m"  # prices are drawn from 1-minute closes: a week of 1-s bars is too much to ship
_OK, _WARN = LEVEL_COLORS["ok"], LEVEL_COLORS["warn"]


@dataclass(frozen=True, slots=True)
class FuturesView:
    """Everything shown for one selection (future, correlation window, date range)."""

    future: str
    spot: str
    start: datetime
    end: datetime
    analysis: PairAnalysis
    signal: FuturesSignal
    prices: pl.DataFrame  # ts (New York, naive), future, spot: 1-minute closes
    gaps: pl.DataFrame


def build_view(
    lake: Lake,
    cfg: TradingConfig,
    future: str,
    *,
    window_s: int | None = None,
    days: float = 14,
    hours: MarketHours | None = None,
) -> FuturesView | None:
    """Read and analyse the last ``days`` of ``future`` and its ETF; None if the lake has none."""
    spot = cfg.futures.spot_pairs.get(future, "")
    newest = newest_bar(lake, future)
    if newest is None:
        return None
    overrides = {"correlation_window_s": window_s} if window_s else {}
    params = AnalysisParams.from_config(cfg.futures, **overrides)
    end = newest + timedelta(seconds=params.bar_seconds)
    start = end - timedelta(days=days)
    analysis = load_analyses(lake, {future: spot}, params, start, end)[future]
    signal = current_signal(lake, cfg, future, now=end, hours=hours)
    return FuturesView(
        future,
        spot,
        start,
        end,
        analysis,
        signal,
        _minute_prices(lake, future, spot, start, end),
        read_gaps(lake, [future, spot]).tail(5),
    )


def _minute_prices(
    lake: Lake, future: str, spot: str, start: datetime, end: datetime
) -> pl.DataFrame:
    frames = pl.collect_all(
        [
            read_bars(lake, [symbol], start, end, columns=(TS, CLOSE))
            .sort(TS)
            .group_by_dynamic(TS, every=_CHART_BAR)
            .agg(pl.col(CLOSE).last().alias(name))
            for symbol, name in ((future, FUTURE), (spot, SPOT))
        ]
    )
    joined = frames[0].join(frames[1], on=TS, how="full", coalesce=True).sort(TS)
    return joined.with_columns(
        pl.col(TS).dt.convert_time_zone(str(NEW_YORK)).dt.replace_time_zone(None)
    )


def _with_breaks(frame: pl.DataFrame, column: str, max_gap: timedelta) -> pl.DataFrame:
    """Keep ``column``'s rows, with a null row in each gap longer than ``max_gap`` (no line across)."""
    rows = frame.select(TS, column).drop_nulls(column)
    gap = rows.get_column(TS).diff() > max_gap
    breaks = rows.filter(gap).with_columns(
        (pl.col(TS) - timedelta(seconds=1)).alias(TS), pl.lit(None, pl.Float64).alias(column)
    )
    return pl.concat([rows, breaks]).sort(TS)


def _layout(fig: go.Figure, title: str, height: int = 320) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01},
        height=height,
        margin={"l": 60, "r": 60, "t": 50, "b": 40},
        template="plotly_white",
        legend={"orientation": "h", "y": -0.15},
    )
    return fig


def price_figure(view: FuturesView) -> go.Figure:
    """Futures and spot 1-minute closes on two axes (futures in points, ETF in dollars)."""
    gap = timedelta(minutes=5)
    fut = _with_breaks(view.prices, FUTURE, gap)
    spo = _with_breaks(view.prices, SPOT, gap)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=fut.get_column(TS), y=fut.get_column(FUTURE), name=view.future, mode="lines")
    )
    fig.add_trace(
        go.Scatter(
            x=spo.get_column(TS), y=spo.get_column(SPOT), name=view.spot, mode="lines", yaxis="y2"
        )
    )
    fig.update_layout(
        yaxis={"title": f"{view.future} (points)"},
        yaxis2={"title": f"{view.spot} ($)", "overlaying": "y", "side": "right"},
        xaxis={"title": "New York time"},
    )
    return _layout(fig, f"{view.future} futures vs {view.spot} spot", 360)


def correlation_figure(view: FuturesView) -> go.Figure:
    """Rolling correlation of 1-s returns, futures taken at the detected lead."""
    corr = view.analysis.correlation
    frame = corr.frame.with_columns(
        pl.col(TS).dt.convert_time_zone(str(NEW_YORK)).dt.replace_time_zone(None)
    )
    frame = _with_breaks(frame, CORR, timedelta(minutes=5))
    fig = go.Figure(
        go.Scatter(x=frame.get_column(TS), y=frame.get_column(CORR), mode="lines", name="corr")
    )
    fig.update_layout(
        yaxis={"title": "correlation", "range": [-1, 1]}, xaxis={"title": "New York time"}
    )
    title = (
        f"{view.future} vs {view.spot}: rolling {corr.window_s} s correlation "
        f"(futures {corr.lag_s} s earlier)"
    )
    return _layout(fig, title)


def leadlag_figure(view: FuturesView) -> go.Figure:
    """Correlation of futures returns with spot returns ``lag`` seconds later, per lag."""
    ll = view.analysis.lead_lag
    curve = ll.curve
    peak = ll.peak_lag_s
    colors = [_OK if lag == peak else "#7a8ca3" for lag in curve.get_column(LAG).to_list()]
    fig = go.Figure(
        go.Bar(x=curve.get_column(LAG), y=curve.get_column(CORR), marker_color=colors, name="corr")
    )
    fig.update_layout(
        xaxis={"title": "lag (s): positive = futures lead"}, yaxis={"title": "correlation"}
    )
    if ll.concluded:
        title = f"{view.future} → {view.spot} lead/lag: futures lead by {ll.best_lag_s} s (corr {ll.strength:.2f})"
    elif peak is not None:
        title = (
            f"{view.future} → {view.spot} lead/lag: provisional peak at {peak} s (not concluded)"
        )
    else:
        title = f"{view.future} → {view.spot} lead/lag: no data"
    return _layout(fig, title)


def coverage_figure(view: FuturesView) -> go.Figure:
    """Hours of aligned futures+spot data per day, against what makes a day count."""
    cov = view.analysis.coverage
    per_day = cov.per_day
    hours = (per_day.get_column("seconds") / 3600.0).to_list()
    counts = per_day.get_column("counts").to_list()
    fig = go.Figure(
        go.Bar(
            x=[str(d) for d in per_day.get_column("day").to_list()],
            y=hours,
            marker_color=[_OK if c else _WARN for c in counts],
            name="hours of data",
        )
    )
    threshold = view.analysis.lead_lag.days_required
    fig.update_layout(xaxis={"title": "trading day", "type": "category"}, yaxis={"title": "hours"})
    title = f"{view.future} data coverage: {cov.days_available} of {threshold} trading days needed"
    return _layout(fig, title, 280)


def status_html(view: FuturesView | None, future: str) -> str:
    """The headline: concluded, or the not-enough-data notice with the day count."""
    if view is None:
        return _box(f"No {html.escape(future)} bars in the lake yet.", _WARN)
    cov = view.analysis.coverage
    span = f"{view.start:%Y-%m-%d %H:%M} → {view.end:%Y-%m-%d %H:%M} UTC"
    if cov.concluded:
        return _box(
            f"Analysis concluded: {cov.days_available} trading days of data "
            f"(minimum {cov.days_required}). {html.escape(view.analysis.lead_lag.reason)}. "
            f"<small>{span}</small>",
            _OK,
        )
    return _box(
        f"Not enough data to conclude: {cov.days_available} of {cov.days_required} trading "
        f"days. Results below are provisional. <small>{span}</small>",
        _WARN,
    )


def signal_html(signal: FuturesSignal) -> str:
    """The overnight / leading-indicator signal as a small table."""

    def fmt(value: float | None, spec: str) -> str:
        return "–" if value is None else format(value, spec)

    rows = [
        ("move since the spot close", f"{fmt(signal.move_pct, '+.3f')} %"),
        ("z-score vs earlier closes", fmt(signal.zscore, "+.2f")),
        (f"{signal.spot} close", fmt(signal.spot_close, ".2f")),
        (f"implied {signal.spot}", fmt(signal.implied_spot, ".2f")),
        (
            f"{signal.future} at the close → now",
            f"{fmt(signal.future_at_close, '.2f')} → {fmt(signal.future_last, '.2f')}",
        ),
        ("as of", f"{signal.as_of:%Y-%m-%d %H:%M} UTC"),
        ("status", html.escape(signal.reason)),
    ]
    direction = {1: "futures up unusually", -1: "futures down unusually", 0: "no strong signal"}
    body = "".join(f"<tr><td>{k}</td><td><b>{v}</b></td></tr>" for k, v in rows)
    color = _OK if signal.concluded else _WARN
    return (
        f"<h4>Signal: {html.escape(signal.future)} → {html.escape(signal.spot)} — "
        f"<span style='color:{color}'>{direction[signal.direction()]}</span></h4>"
        f"<table>{body}</table>"
    )


def gaps_html(view: FuturesView | None) -> str:
    """The most recent recorded gaps (never filled with made-up data)."""
    if view is None or view.gaps.height == 0:
        return "<p><small>No gaps recorded.</small></p>"
    rows = "".join(
        f"<tr><td>{r[GAP_SYMBOL]}</td><td>{r[GAP_START]:%Y-%m-%d %H:%M:%S}</td>"
        f"<td>{'open' if r[GAP_END] is None else format(r[GAP_END], '%Y-%m-%d %H:%M:%S')}</td>"
        f"<td>{html.escape(str(r[GAP_REASON]))}</td></tr>"
        for r in view.gaps.iter_rows(named=True)
    )
    return f"<p><b>Recorded gaps</b> (UTC)</p><table>{rows}</table>"


def _box(text: str, color: str) -> str:
    return f"<div style='border-left:4px solid {color};padding:6px 10px;margin:4px 0'>{text}</div>"


class FuturesDashboard:
    """The widget app: pick a future, a correlation window and a date range; see the analysis."""

    def __init__(
        self,
        lake: Lake,
        cfg: TradingConfig,
        *,
        ttl_s: float = CACHE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lake = lake
        self.cfg = cfg
        self.hours = MarketHours(cfg.scheduler.calendar)
        self.cache = TTLCache(ttl_s, clock)
        default_window = cfg.futures.correlation_window_s
        windows = sorted({*WINDOW_CHOICES_S, default_window})
        self.symbol = widgets.Dropdown(
            options=list(cfg.futures.symbols), description="Future", value=cfg.futures.symbols[0]
        )
        self.window = widgets.Dropdown(
            options=[(f"{w} s", w) for w in windows], value=default_window, description="Window"
        )
        self.range = widgets.Dropdown(
            options=list(RANGE_CHOICES_DAYS), value=DEFAULT_RANGE, description="Range"
        )
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.status = widgets.HTML()
        self.signal = widgets.HTML()
        self.gaps = widgets.HTML()
        # plotly's mime renderer, not FigureWidgets: each of those sends ~5 MB of plotly.js
        self.panes = {
            name: FigurePane() for name in ("prices", "correlation", "leadlag", "coverage")
        }
        self.view: FuturesView | None = None
        for control in (self.symbol, self.window, self.range):
            control.observe(lambda _change: self.refresh(), names="value")
        self.refresh_button.on_click(lambda _b: self.refresh(force=True))
        self.refresh()

    @classmethod
    def from_env(
        cls, lake_uri: str | None = None, config: str | None = None, **kwargs: Any
    ) -> FuturesDashboard:
        """Build from the config ($TRADELIB_CONFIG or found upwards) and the lake it names."""
        cfg = load_config(config)
        return cls(resolve_lake(lake_uri, cfg), cfg, **kwargs)

    @property
    def figures(self) -> dict[str, go.Figure]:
        """The figure each pane shows now (for tests and notebooks)."""
        return {name: pane.figure for name, pane in self.panes.items()}

    def load(self, future: str, window_s: int, days: float) -> FuturesView | None:
        """The view for one selection, read from the lake at most every ``ttl_s`` seconds."""
        return self.cache.get(
            ("view", future, window_s, days),
            lambda: build_view(
                self.lake, self.cfg, future, window_s=window_s, days=days, hours=self.hours
            ),
        )

    def refresh(self, *, force: bool = False) -> None:
        """Redraw for the current selection (``force``: re-read the lake now)."""
        if force:
            self.cache.clear()
        future = str(self.symbol.value)
        self.view = self.load(future, int(self.window.value), RANGE_CHOICES_DAYS[self.range.value])
        self.status.value = status_html(self.view, future)
        self.gaps.value = gaps_html(self.view)
        if self.view is None:
            self.signal.value = ""
            for pane in self.panes.values():
                pane.show(_layout(go.Figure(), f"{future}: no data"))
            return
        self.signal.value = signal_html(self.view.signal)
        builders = {
            "prices": price_figure,
            "correlation": correlation_figure,
            "leadlag": leadlag_figure,
            "coverage": coverage_figure,
        }
        for name, build in builders.items():
            self.panes[name].show(build(self.view))

    def widget(self) -> widgets.VBox:
        """The whole app as one widget tree."""
        controls = widgets.HBox([self.symbol, self.window, self.range, self.refresh_button])
        f = {name: pane.output for name, pane in self.panes.items()}
        return widgets.VBox(
            [
                controls,
                self.status,
                f["prices"],
                widgets.HBox([f["leadlag"], self.signal]),
                f["correlation"],
                f["coverage"],
                self.gaps,
            ]
        )
