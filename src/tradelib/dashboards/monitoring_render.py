"""The monitoring dashboard's rendering: query frames -> HTML panels and plotly figures."""

from __future__ import annotations

import math

import plotly.graph_objects as go  # type: ignore[import-untyped]
import polars as pl

from tradelib.config import TradingConfig
from tradelib.dashboards.common import (
    NO_DATA,
    cards_html,
    frame_html,
    money,
    no_data_html,
    notice_html,
    percent,
)
from tradelib.dashboards.monitoring_queries import (
    FAILED_STATUSES,
    RECENT_ROWS,
    prediction_summary,
)
from tradelib.domain import NEW_YORK
from tradelib.secrets import mask_all


# --- panel renderers: frame(s) -> HTML ---------------------------------------------------------
def account_html(account: pl.DataFrame) -> str:
    """Headline account numbers; the account id is shown masked."""
    if account.is_empty():
        return no_data_html("Account snapshots")
    row = account.row(0, named=True)
    cards = cards_html(
        [
            ("Net liquidation", money(row["net_liquidation"])),
            ("Day P&L", money(row["day_pnl"])),
            ("Cash", money(row["cash"])),
            ("Margin use", percent(row["margin_use"])),
            ("Unrealized P&L", money(row["unrealized_pnl"])),
            ("Excess liquidity", money(row["excess_liquidity"])),
        ]
    )
    as_of = f"{row['ts']:%Y-%m-%d %H:%M} UTC"
    head = notice_html(
        f"Account {mask_all(str(row['account_masked']))} ({row['mode']}) as of {as_of}",
        "warn" if (row["age_min"] or 0) > 24 * 60 else "info",
    )
    return head + cards


STRATEGY_COLUMNS = (
    "strategy_id",
    "strategy_type",
    "underlying",
    "legs",
    "expiry",
    "dte",
    "pnl",
    "pnl_of_max",
    "delta",
    "gamma",
    "theta",
    "vega",
    "action",
    "reason",
)


def strategies_html(strategies: pl.DataFrame) -> str:
    """Open strategies with legs, DTE, P&L, greeks and the latest decision and its reason."""
    if strategies.is_empty():
        return no_data_html("Open strategies")
    return frame_html(
        strategies,
        columns=STRATEGY_COLUMNS,
        formats={
            "dte": "d",
            "pnl": ",.2f",
            "pnl_of_max": ".1%",
            "delta": "+,.1f",
            "gamma": "+,.2f",
            "theta": "+,.2f",
            "vega": "+,.2f",
        },
        labels={
            "strategy_id": "strategy",
            "strategy_type": "type",
            "pnl": "P&L $",
            "pnl_of_max": "profit % of max",
            "delta": "Δ sh",
            "gamma": "Γ sh/$",
            "theta": "Θ $/day",
            "vega": "V $/pt",
            "action": "decision",
            "reason": "reason",
        },
    )


def _in_unit(value: float | None, unit: str) -> str | None:
    """A limit number as text in its unit (counts whole, fractions as %, dollars with $)."""
    if value is None or not math.isfinite(value):
        return None
    match unit:
        case "fraction":
            return percent(value)
        case "dollars":
            return money(value)
        case "count":
            return f"{value:,.0f}"
    return f"{value:,.1f}"


def risk_html(
    limits: pl.DataFrame, rejections: pl.DataFrame, book_breaches: pl.DataFrame | None = None
) -> str:
    """Limit use (value / limit, coloured by status), the book's recorded limit breaches
    (what monitoring measured and did about them) and the newest risk rejections."""
    units = limits["unit"].to_list()
    shown = limits.with_columns(
        pl.Series("value", [_in_unit(v, u) for v, u in zip(limits["value"], units, strict=True)]),
        pl.Series("limit", [_in_unit(v, u) for v, u in zip(limits["limit"], units, strict=True)]),
    )
    table = frame_html(
        shown,
        columns=("check", "value", "limit", "use", "status", "detail"),
        formats={"use": ".0%"},
    )
    breaches = limits.filter(pl.col("status") == "breach").get_column("check").to_list()
    head = (
        notice_html("Limits breached: " + ", ".join(breaches), "error")
        if breaches
        else notice_html("All limits within bounds.", "ok")
    )
    if book_breaches is not None and not book_breaches.is_empty():
        head += "<p><b>Book over its limits (monitoring)</b></p>" + frame_html(
            book_breaches,
            columns=("ts", "limit", "measured", "threshold", "action", "strategies", "reason"),
            formats={"measured": ".4g", "threshold": ".4g"},
        )
    if rejections.is_empty():
        rej = no_data_html("Risk rejections")
    else:
        rej = "<p><b>Recent risk rejections</b></p>" + frame_html(
            rejections,
            columns=("ts", "strategy_type", "underlying", "check", "reason"),
        )
    return head + table + rej


def breaker_html(events: pl.DataFrame) -> str:
    """The circuit breaker's state from its newest event."""
    if events.is_empty():
        return notice_html(
            "Circuit breaker: closed (trading allowed) — no breaker events yet.", "ok"
        )
    row = events.row(0, named=True)
    halted = row["state"] == "open"
    text = (
        f"Circuit breaker: {'OPEN — new entries halted' if halted else 'closed (trading allowed)'}"
        f" since {row['ts']:%Y-%m-%d %H:%M} UTC. Trigger: {row['trigger']}. {row['reason']}"
    )
    if row["reset_by"]:
        text += f" Reset by {row['reset_by']}."
    return notice_html(text, "error" if halted else "ok")


def slots_html(slots: pl.DataFrame, cfg: TradingConfig | None = None) -> str:
    """Streaming lines in use vs the option-line budget, and legs on snapshots."""
    cfg = cfg or TradingConfig()
    if slots.is_empty():
        md = cfg.market_data
        return no_data_html(
            f"Market-data line use (budget {md.line_budget} lines, {md.reserved_lines} reserved)"
        )
    row = slots.row(0, named=True)
    items = [
        ("Streaming lines", f"{row['streaming_lines']} / {row['option_lines']}"),
        ("Line use", percent(row["stream_use"])),
        ("Snapshot contracts", f"{row['snapshot_contracts']}"),
        ("Budget / reserved", f"{row['budget']} / {row['reserved']}"),
    ]
    if row["snapshot_load_per_min"] is not None and row["snapshot_capacity_per_min"]:
        items.append(
            (
                "Snapshots / min",
                f"{row['snapshot_load_per_min']:.0f} of {row['snapshot_capacity_per_min']:.0f}",
            )
        )
    return cards_html(items) + f"<small>as of {row['ts']:%Y-%m-%d %H:%M} UTC</small>"


def orders_html(orders: pl.DataFrame, fills: pl.DataFrame) -> str:
    """Recent orders and fills, newest first."""
    out = "<p><b>Orders</b></p>"
    out += frame_html(
        orders,
        columns=(
            "updated_at",
            "order_ref",
            "intent",
            "action",
            "status",
            "quantity",
            "filled_quantity",
            "limit_price",
            "avg_fill_price",
            "reason",
        ),
        formats={"quantity": "g", "filled_quantity": "g"},
        labels={"filled_quantity": "filled", "limit_price": "limit", "avg_fill_price": "avg fill"},
        empty=f"Orders: {NO_DATA}.",
    )
    out += "<p><b>Fills</b></p>"
    out += frame_html(
        fills,
        columns=("ts", "symbol", "side", "quantity", "price", "commission", "order_ref"),
        formats={"quantity": "g"},
        empty=f"Fills: {NO_DATA}.",
    )
    return out


def jobs_html(jobs: pl.DataFrame) -> str:
    """Job health: last run, status, duration and recent failures per job."""
    if jobs.is_empty():
        return no_data_html("Job runs")
    failing = jobs.filter(pl.col("status").is_in(FAILED_STATUSES)).get_column("job").to_list()
    head = (
        notice_html("Last run failed: " + ", ".join(failing), "error")
        if failing
        else notice_html("Every job's last run succeeded.", "ok")
    )
    return head + frame_html(
        jobs,
        columns=(
            "job",
            "last_started",
            "status",
            "duration_s",
            "runs_24h",
            "failures_24h",
            "every_minutes",
            "error",
        ),
        formats={"duration_s": ",.1f", "every_minutes": "d", "runs_24h": "d", "failures_24h": "d"},
        labels={
            "last_started": "last run (UTC)",
            "duration_s": "duration s",
            "runs_24h": "runs 24 h",
            "failures_24h": "failures 24 h",
            "every_minutes": "every min",
        },
    )


def regime_html(regime: pl.DataFrame) -> str:
    """The current market regime and where it was read from."""
    if regime.is_empty():
        return no_data_html("Market regime (no decision or prediction has named one)")
    row = regime.row(0, named=True)
    vix = f", VIX {row['vix']:.1f}" if row["vix"] is not None else ""
    return notice_html(
        f"Regime: {row['regime']}{vix} (from {row['source']}, {row['as_of']:%Y-%m-%d %H:%M} UTC)",
        "info",
    )


def predictions_html(predictions: pl.DataFrame) -> str:
    """Per-strategy-type accuracy and the newest closed predictions."""
    if predictions.is_empty():
        return no_data_html("Predictions")
    summary = frame_html(
        prediction_summary(predictions),
        formats={"mae": ",.2f", "bias": "+,.2f"},
        labels={"mae": "MAE $", "bias": "bias $"},
    )
    closed = predictions.filter(pl.col("actual_pnl").is_not_null()).head(RECENT_ROWS)
    detail = frame_html(
        closed,
        columns=(
            "closed_at",
            "strategy_type",
            "underlying",
            "regime",
            "predicted_pnl",
            "actual_pnl",
            "error",
        ),
        empty="No prediction has closed yet.",
    )
    return summary + detail


# --- figures ------------------------------------------------------------------------------------
def _layout(fig: go.Figure, title: str, height: int = 280) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01},
        height=height,
        margin={"l": 60, "r": 30, "t": 45, "b": 40},
        template="plotly_white",
        showlegend=False,
    )
    return fig


def _empty_figure(title: str) -> go.Figure:
    """A figure with no axes that says why it is empty."""
    fig = go.Figure()
    fig.update_layout(
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[
            {
                "text": NO_DATA,
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
                "showarrow": False,
                "font": {"size": 16},
            }
        ],
    )
    return _layout(fig, title, 200)


def equity_figure(curve: pl.DataFrame) -> go.Figure:
    """Net liquidation through the newest session (New York time)."""
    if curve.is_empty():
        return _empty_figure(f"Net liquidation: {NO_DATA}")
    ts = curve.get_column("ts").dt.convert_time_zone(str(NEW_YORK)).dt.replace_time_zone(None)
    fig = go.Figure(
        go.Scatter(x=ts, y=curve.get_column("net_liquidation"), mode="lines+markers", name="NL")
    )
    fig.update_layout(yaxis={"title": "$"}, xaxis={"title": "New York time"})
    day = curve.get_column("date")[-1]
    return _layout(fig, f"Net liquidation on {day}")


def predictions_figure(predictions: pl.DataFrame) -> go.Figure:
    """Predicted vs actual P&L of closed predictions, with the y = x line."""
    closed = predictions.filter(pl.col("actual_pnl").is_not_null())
    if closed.is_empty():
        return _empty_figure(f"Predicted vs actual P&L: {NO_DATA}")
    x, y = closed.get_column("predicted_pnl"), closed.get_column("actual_pnl")
    lo = min(float(x.min()), float(y.min()))  # type: ignore[arg-type]
    hi = max(float(x.max()), float(y.max()))  # type: ignore[arg-type]
    fig = go.Figure(
        [
            go.Scatter(
                x=x,
                y=y,
                mode="markers",
                text=closed.get_column("strategy_type"),
                name="closed",
            ),
            go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line={"dash": "dot"}, name="y = x"),
        ]
    )
    fig.update_layout(xaxis={"title": "predicted $"}, yaxis={"title": "actual $"})
    return _layout(fig, f"Predicted vs actual P&L ({closed.height} closed)")


def _replace(target: go.FigureWidget, source: go.Figure) -> None:
    """Swap ``target``'s traces and layout for ``source``'s in one update."""
    with target.batch_update():
        target.data = ()
        target.add_traces(list(source.data))
        target.layout = source.layout


def performance_html(weekly: pl.DataFrame, by_type: pl.DataFrame, by_rule: pl.DataFrame) -> str:
    """P&L by week, and realized P&L of closed trades by strategy type and by exit rule."""
    parts = []
    money_cols = {"pnl": ",.2f", "avg_pnl": ",.2f", "equity": ",.2f", "win_rate": ".0%"}
    labels = {"pnl": "P&L $", "avg_pnl": "avg $", "win_rate": "won", "equity": "equity $"}
    parts.append("<h4>P&amp;L by week</h4>")
    parts.append(
        no_data_html("Account snapshots")
        if weekly.is_empty()
        else frame_html(weekly, formats={**money_cols, "sessions": "d"}, labels=labels)
    )
    for title, frame in (("by strategy type", by_type), ("by exit rule", by_rule)):
        parts.append(f"<h4>Closed trades {title}</h4>")
        parts.append(
            no_data_html("Closed predictions")
            if frame.is_empty()
            else frame_html(frame, formats={**money_cols, "trades": "d"}, labels=labels)
        )
    return "".join(parts)


def inception_figure(equity: pl.DataFrame) -> go.Figure:
    """Closing equity since inception with its peak, and the drawdown below it."""
    if equity.is_empty():
        return _empty_figure(f"Equity since inception: {NO_DATA}")
    from plotly.subplots import make_subplots  # type: ignore[import-untyped]

    days = equity.get_column("date")
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.65, 0.35], vertical_spacing=0.06
    )
    fig.add_trace(
        go.Scatter(x=days, y=equity.get_column("equity"), mode="lines+markers", name="equity"), 1, 1
    )
    fig.add_trace(
        go.Scatter(
            x=days, y=equity.get_column("peak"), mode="lines", name="peak", line={"dash": "dot"}
        ),
        1,
        1,
    )
    fig.add_trace(
        go.Scatter(
            x=days,
            y=equity.get_column("drawdown_pct") * 100,
            fill="tozeroy",
            mode="lines",
            name="drawdown",
        ),
        2,
        1,
    )
    fig.update_yaxes(title_text="$", row=1, col=1)
    fig.update_yaxes(title_text="drawdown %", row=2, col=1)
    worst = equity.get_column("drawdown_pct").min()
    title = f"Equity since {days[0]} · max drawdown {percent(worst if isinstance(worst, float) else None)}"
    return _layout(fig, title, height=360)
