"""The daily report's content: one session's P&L, trades, predictions, risk, breaker, jobs, alerts.

``build_daily_report`` reads the lake (never the broker) and returns frames;
the report notebook (``notebooks/reports/daily_report.ipynb``) only displays
them. HTML pieces are plain strings with inline SVG charts, so the rendered
report is one self-contained file with no script and nothing fetched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from html import escape

import polars as pl

from tradelib.config import TradingConfig
from tradelib.dashboards.monitoring_queries import (
    breaker_state,
    closed_trades,
    equity_since_inception,
    pnl_by_week,
    risk_limit_use,
)
from tradelib.domain import NEW_YORK
from tradelib.lake import Lake, TableName
from tradelib.markethours import MarketHours
from tradelib.secrets import mask_all


def report_session(now: datetime, hours: MarketHours) -> date:
    """Return the session the report covers: the last one whose close is at or before ``now``."""
    return hours.session_for(hours.previous_close(now) - timedelta(seconds=1)) or (
        hours.trading_day_on_or_before(now.astimezone(NEW_YORK).date())
    )


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=NEW_YORK).astimezone(UTC)
    return start, start + timedelta(days=1)


@dataclass(frozen=True, slots=True)
class DailyReport:
    """Everything the daily report shows, for one New York session."""

    session: date
    generated_at: datetime
    equity: pl.DataFrame  # per session to date: equity, peak, drawdown (equity_since_inception)
    weekly: pl.DataFrame
    opened: pl.DataFrame  # strategies opened in the session, with their prediction
    closed: pl.DataFrame  # trades closed in the session: exit rule, reason, predicted vs actual
    predictions: pl.DataFrame  # closed trades to date by strategy type: MAE, bias
    limits: pl.DataFrame  # risk-limit use at the end of the session
    breaker: pl.DataFrame  # breaker events to date, newest first
    jobs: pl.DataFrame  # per job: runs, failures and the last error in the session
    alerts: pl.DataFrame  # alerts raised in the session

    @property
    def day_row(self) -> dict[str, object] | None:
        """The session's equity row (None when the lake has no snapshot that day)."""
        row = self.equity.filter(pl.col("date") == self.session)
        return row.row(0, named=True) if row.height else None

    @property
    def day_pnl(self) -> float | None:
        row = self.day_row
        value = None if row is None else row.get("day_pnl")
        return float(value) if isinstance(value, int | float) else None

    @property
    def breaker_open(self) -> bool:
        if self.breaker.is_empty():
            return False
        return str(self.breaker.row(0, named=True).get("state")) == "open"

    def lines(self) -> list[str]:
        """A few lines for the job log."""
        pnl = self.day_pnl
        return [
            f"daily report for {self.session}: day P&L "
            + ("n/a" if pnl is None else f"${pnl:,.2f}"),
            f"{self.opened.height} opened, {self.closed.height} closed, "
            f"{self.alerts.height} alerts, breaker {'OPEN' if self.breaker_open else 'closed'}",
        ]


def _opened(lake: Lake, start: datetime, end: datetime) -> pl.DataFrame:
    strategies = lake.read(
        TableName.STRATEGIES,
        columns=[
            "strategy_id",
            "strategy_type",
            "underlying",
            "opened_at",
            "quantity",
            "credit",
            "max_profit",
            "max_loss",
            "prediction_id",
        ],
        filter=(pl.col("opened_at") >= start) & (pl.col("opened_at") < end),
    ).collect()
    predictions = lake.read(
        TableName.PREDICTIONS,
        columns=["prediction_id", "regime", "predicted_pnl", "prob_profit", "weight_used"],
    ).collect()
    return (
        strategies.join(predictions, on="prediction_id", how="left")
        .drop("prediction_id")
        .sort("opened_at")
    )


def _closed(lake: Lake, now: datetime, start: datetime, end: datetime) -> pl.DataFrame:
    trades = closed_trades(lake, now).filter(
        (pl.col("closed_at") >= start) & (pl.col("closed_at") < end)
    )
    ids = trades.get_column("strategy_id").drop_nulls().to_list()
    decisions = (
        lake.read(
            TableName.DECISIONS,
            columns=["strategy_id", "ts", "rule", "action", "reason"],
            filter=pl.col("strategy_id").is_in(ids) & (pl.col("action") != "hold"),
        )
        .sort("ts")
        .unique("strategy_id", keep="last")
        .select("strategy_id", pl.col("rule").alias("decided_by"), "reason")
        .collect()
    )
    return (
        trades.join(decisions, on="strategy_id", how="left")
        .with_columns((pl.col("actual_pnl") - pl.col("predicted_pnl")).alias("error"))
        .select(
            "strategy_id",
            "strategy_type",
            "underlying",
            "exit_rule",
            "reason",
            "days_held",
            "predicted_pnl",
            "actual_pnl",
            "error",
        )
    )


def _prediction_summary(trades: pl.DataFrame) -> pl.DataFrame:
    return (
        trades.with_columns((pl.col("actual_pnl") - pl.col("predicted_pnl")).alias("error"))
        .group_by("strategy_type")
        .agg(
            pl.len().cast(pl.Int64).alias("closed"),
            pl.col("predicted_pnl").sum().alias("predicted"),
            pl.col("actual_pnl").sum().alias("actual"),
            pl.col("error").abs().mean().alias("mae"),
            pl.col("error").mean().alias("bias"),
        )
        .sort("strategy_type")
    )


def _jobs(lake: Lake, start: datetime, end: datetime) -> pl.DataFrame:
    runs = lake.read(
        TableName.JOB_RUNS, filter=(pl.col("started_at") >= start) & (pl.col("started_at") < end)
    ).collect()
    bad = pl.col("status").is_in(["failed", "timeout", "abandoned"])
    return (
        runs.sort("started_at")
        .group_by("job")
        .agg(
            pl.len().cast(pl.Int64).alias("runs"),
            (pl.col("status") == "success").sum().cast(pl.Int64).alias("ok"),
            bad.sum().cast(pl.Int64).alias("failed"),
            pl.col("duration_s").median().alias("median_s"),
            pl.col("error").filter(bad).last().alias("last_error"),
        )
        .sort("job")
    )


def _alerts(lake: Lake, start: datetime, end: datetime) -> pl.DataFrame:
    return (
        lake.read(
            TableName.ALERTS,
            columns=["ts", "severity", "kind", "title", "status", "reason"],
            filter=(pl.col("ts") >= start) & (pl.col("ts") < end),
        )
        .sort("ts")
        .collect()
    )


def build_daily_report(
    lake: Lake, cfg: TradingConfig, session: date, *, now: datetime | None = None
) -> DailyReport:
    """Read the lake for ``session`` (a New York date): everything the report shows."""
    start, end = _day_bounds(session)
    generated = now or datetime.now(UTC)
    equity = equity_since_inception(lake, end).filter(pl.col("date") <= session)
    trades = closed_trades(lake, end).filter(pl.col("closed_at") < end)
    breaker = breaker_state(lake, end)
    if "ts" in breaker.columns:
        breaker = breaker.filter(pl.col("ts") < end)
    return DailyReport(
        session=session,
        generated_at=generated,
        equity=equity,
        weekly=pnl_by_week(equity),
        opened=_opened(lake, start, end),
        closed=_closed(lake, end, start, end),
        predictions=_prediction_summary(trades),
        limits=risk_limit_use(lake, end - timedelta(seconds=1), cfg),
        breaker=breaker,
        jobs=_jobs(lake, start, end),
        alerts=_alerts(lake, start, end),
    )


# --- HTML pieces (no script: the report is one static file) --------------------------------
def headline_html(report: DailyReport) -> str:
    """The session's numbers in one line of cards."""
    from tradelib.dashboards.common import cards_html, money, percent

    row = report.day_row or {}
    first = report.equity.get_column("equity")[0] if report.equity.height else None
    equity = row.get("equity")
    since = (
        float(equity) - float(first)
        if isinstance(equity, int | float) and isinstance(first, int | float)
        else None
    )
    drawdown = row.get("drawdown_pct")
    return cards_html(
        [
            ("Session", str(report.session)),
            ("Net liquidation", money(equity if isinstance(equity, int | float) else None)),
            ("Day P&L", money(report.day_pnl)),
            ("P&L since inception", money(since)),
            ("Drawdown", percent(drawdown if isinstance(drawdown, float) else None)),
            ("Breaker", "OPEN" if report.breaker_open else "closed"),
        ]
    )


def _points(xs: list[float], ys: list[float], w: float, h: float, pad: float) -> str:
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    xspan = (x1 - x0) or 1.0
    yspan = (y1 - y0) or 1.0
    return " ".join(
        f"{pad + (x - x0) / xspan * (w - 2 * pad):.1f},{h - pad - (y - y0) / yspan * (h - 2 * pad):.1f}"
        for x, y in zip(xs, ys, strict=True)
    )


def equity_svg(equity: pl.DataFrame, width: int = 720, height: int = 220) -> str:
    """The equity curve to date and its drawdown as an inline SVG (no script, no fetch)."""
    if equity.height == 0:
        return "<p><em>No account snapshots yet.</em></p>"
    values = [float(v) for v in equity.get_column("equity").to_list()]
    dd = [float(v) * 100 for v in equity.get_column("drawdown_pct").fill_null(0.0).to_list()]
    xs = [float(i) for i in range(len(values))]
    if len(xs) == 1:
        xs, values, dd = [0.0, 1.0], values * 2, dd * 2
    days = equity.get_column("date").to_list()
    lo, hi = min(values), max(values)
    worst = min(dd)
    pad = 24.0
    dd_height = height // 3
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height + dd_height}' "
        f"role='img' aria-label='Equity curve to date'>"
        f"<title>Equity {days[0]} to {days[-1]}</title>"
        f"<rect width='100%' height='100%' fill='white'/>"
        f"<polyline fill='none' stroke='#1f5fa8' stroke-width='2' points='{_points(xs, values, width, height, pad)}'/>"
        f"<text x='{pad}' y='14' font-size='12'>equity ${hi:,.0f} high, ${lo:,.0f} low</text>"
        f"<g transform='translate(0,{height})'>"
        f"<polyline fill='none' stroke='#b03a2e' stroke-width='1.5' points='{_points(xs, dd, width, dd_height, 6)}'/>"
        f"<text x='{pad}' y='12' font-size='12'>drawdown, worst {worst:.1f}%</text></g>"
        f"<text x='{pad}' y='{height + dd_height - 2}' font-size='11'>{days[0]}</text>"
        f"<text x='{width - pad}' y='{height + dd_height - 2}' font-size='11' text-anchor='end'>{days[-1]}</text>"
        "</svg>"
    )


def table_html(frame: pl.DataFrame, empty: str, formats: dict[str, str] | None = None) -> str:
    """A frame as a masked HTML table, or ``empty`` as a note."""
    from tradelib.dashboards.common import frame_html

    if frame.is_empty():
        return f"<p><em>{escape(empty)}</em></p>"
    return mask_all(frame_html(frame, formats=formats or {}))


MONEY_FORMATS = {
    c: ",.2f"
    for c in (
        "credit",
        "max_profit",
        "max_loss",
        "predicted_pnl",
        "actual_pnl",
        "error",
        "predicted",
        "actual",
        "mae",
        "bias",
        "pnl",
        "avg_pnl",
        "equity",
    )
} | {
    "prob_profit": ".0%",
    "win_rate": ".0%",
    "use": ".0%",
    "weight_used": ".2f",
    "median_s": ".1f",
    "days_held": ".1f",
}


def section_html(report: DailyReport, name: str) -> str:
    """One section of the report as HTML (``SECTIONS`` lists them in order)."""
    title = SECTIONS[name]
    body: str
    match name:
        case "pnl":
            body = (
                headline_html(report)
                + equity_svg(report.equity)
                + "<h3>P&amp;L by week</h3>"
                + table_html(report.weekly, "No sessions yet.", MONEY_FORMATS)
            )
        case "opened":
            body = table_html(report.opened, "No strategy opened in this session.", MONEY_FORMATS)
        case "closed":
            body = table_html(report.closed, "No trade closed in this session.", MONEY_FORMATS)
        case "predictions":
            body = table_html(report.predictions, "No closed prediction yet.", MONEY_FORMATS)
        case "risk":
            body = table_html(report.limits, "No risk numbers yet.", MONEY_FORMATS)
        case "breaker":
            state = "OPEN: new entries halted" if report.breaker_open else "closed"
            body = f"<p>Circuit breaker: <b>{state}</b></p>" + table_html(
                report.breaker.head(10), "No breaker event yet.", MONEY_FORMATS
            )
        case "jobs":
            body = table_html(report.jobs, "No job ran in this session.", MONEY_FORMATS)
        case "alerts":
            body = table_html(report.alerts, "Nothing was alerted in this session.")
        case _:
            raise KeyError(name)
    return f"<section id='{name}'><h2>{escape(title)}</h2>{body}</section>"


SECTIONS: dict[str, str] = {
    "pnl": "P&L and equity to date",
    "opened": "Trades opened",
    "closed": "Trades closed (exit rule and reason)",
    "predictions": "Predictions vs actuals",
    "risk": "Risk-limit use at the close",
    "breaker": "Circuit breaker",
    "jobs": "Job health",
    "alerts": "Alerts",
}
"""The report's sections in order: id -> heading."""
