"""The monitoring dashboard: account, strategies, risk, breaker, market data, orders, jobs,
regime and predictions, read from the lake every 30 s.

``dashboards/monitoring.ipynb`` only builds a ``MonitoringDashboard``, starts
its auto-refresh and displays it. The dashboard reads the lake only (never the
broker). Its panels are filled by pure query functions ``(lake, now, ...) ->
pl.DataFrame`` (tested without a browser) and rendered by small HTML/figure
builders; every table an engineer has not written yet reads as an empty frame
with the declared schema, so each panel shows a clear "no data yet" instead.

``now`` is the wall-clock time of the refresh. Queries show the newest data in
the lake whatever its time (a simulated day may run ahead of the clock); ``now``
sets "today", the 24-hour job-health window and the age of what is shown.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import ipywidgets as widgets  # type: ignore[import-untyped]
import plotly.graph_objects as go  # type: ignore[import-untyped]
import polars as pl

from tradelib.config import TradingConfig, load_config
from tradelib.dashboards.common import (
    NO_DATA,
    TTLCache,
    cards_html,
    frame_html,
    money,
    newest_in_log,
    no_data_html,
    notice_html,
    percent,
    refresh_interval,
    resolve_lake,
    strategy_legs,
    table_files,
)
from tradelib.domain import NEW_YORK
from tradelib.lake import Lake, TableName
from tradelib.secrets import mask_all

# a strategy not decided on in the 4 days before the newest decision (a weekend and a holiday)
# is not being monitored: it shows no decision rather than a stale one
DECISIONS_LOOKBACK = timedelta(days=4)
RECENT_ROWS = 12
WARN_USE = 0.8  # a limit used to this fraction or more is shown as a warning
FAILED_STATUSES = ("failed", "timeout")
_OPTION = "OPT"
_LEG_KEYS = ("underlying", "expiry", "strike", "right")

Query = Callable[[Lake, datetime], pl.DataFrame]


# --- small helpers ------------------------------------------------------------------------
def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _ny_date(ts: datetime) -> date:
    return _utc(ts).astimezone(NEW_YORK).date()


def _newest_date(lake: Lake, table: str) -> date | None:
    """The newest ``date`` partition of a date-partitioned table (None when empty).

    Read from the Delta log: scanning a month of small files for it would cost
    more than the query that follows.
    """
    value = newest_in_log(lake, table, "date")
    return value if isinstance(value, date) else None


def _age_minutes(now: datetime, column: str) -> pl.Expr:
    return ((pl.lit(_utc(now)) - pl.col(column)).dt.total_seconds() / 60.0).alias("age_min")


# --- account ----------------------------------------------------------------------------------
def account_summary(lake: Lake, now: datetime) -> pl.DataFrame:
    """The newest account snapshot (one row per account) with margin use and its age."""
    snaps = lake.read(TableName.ACCOUNT_SNAPSHOTS)
    newest = _newest_date(lake, TableName.ACCOUNT_SNAPSHOTS)
    if newest is None:
        return snaps.collect().with_columns(
            pl.lit(None, pl.Float64).alias("margin_use"), pl.lit(None, pl.Float64).alias("age_min")
        )
    latest = (
        snaps.filter(pl.col("date") == newest).filter(pl.col("ts") == pl.col("ts").max()).collect()
    )
    nl = pl.col("net_liquidation")
    return latest.with_columns(
        # the risk limit measures initial margin against net liquidation; so do we
        pl.when(nl > 0)
        .then(pl.col("init_margin").fill_null(pl.col("maint_margin")) / nl)
        .otherwise(None)
        .alias("margin_use"),
        _age_minutes(now, "ts"),
    )


def equity_curve(lake: Lake, now: datetime) -> pl.DataFrame:
    """Net liquidation and day P&L through the newest session in the lake."""
    newest = _newest_date(lake, TableName.ACCOUNT_SNAPSHOTS)
    frame = lake.read(
        TableName.ACCOUNT_SNAPSHOTS, columns=["ts", "date", "net_liquidation", "day_pnl"]
    )
    if newest is not None:
        frame = frame.filter(pl.col("date") == newest)
    return frame.sort("ts").collect()


# --- positions, legs, strategies ------------------------------------------------------------------
def _latest_positions(lake: Lake) -> pl.DataFrame:
    positions = lake.read(TableName.POSITIONS)
    newest = _newest_date(lake, TableName.POSITIONS)
    if newest is None:
        return positions.collect()
    return (
        positions.filter(pl.col("date") == newest)
        .filter(pl.col("snapshot_ts") == pl.col("snapshot_ts").max())
        .filter(pl.col("quantity") != 0)
        .collect()
    )


def _open_strategy_rows(lake: Lake) -> pl.DataFrame:
    return lake.read(TableName.STRATEGIES).filter(pl.col("status") == "open").collect()


def _newest_chain_dates(lake: Lake, underlyings: list[str]) -> dict[str, date]:
    """Each underlying's newest option-snapshot date, from the Delta log."""
    files = table_files(lake, TableName.OPTION_SNAPSHOTS)
    if files.is_empty():
        return {}
    newest = (
        files.filter(pl.col("partition.underlying").is_in(underlyings))
        .group_by("partition.underlying")
        .agg(pl.col("partition.date").max())
    )
    return dict(newest.iter_rows())


def _latest_greeks(lake: Lake, legs: pl.DataFrame) -> pl.DataFrame:
    """Quote and greeks per option leg contract from its underlying's newest recorded chain.

    Greeks from an older chain would be stale; a leg the newest chain does not
    quote shows none.
    """
    options = legs.filter(pl.col("sec_type") == _OPTION)
    if options.is_empty():
        return pl.DataFrame(
            schema={
                "underlying": pl.String,
                "expiry": pl.Date,
                "strike": pl.Float64,
                "right": pl.String,
                "iv": pl.Float64,
                "opt_delta": pl.Float64,
                "opt_gamma": pl.Float64,
                "opt_theta": pl.Float64,
                "opt_vega": pl.Float64,
                "spot": pl.Float64,
                "quote_ts": pl.Datetime("us", "UTC"),
            }
        )
    underlyings = options.get_column("underlying").unique().to_list()
    expiries = options.get_column("expiry").unique().to_list()
    chains = _newest_chain_dates(lake, underlyings)
    # one partition per underlying: (underlying, date) are the table's partition columns
    in_newest = pl.any_horizontal(
        [(pl.col("underlying") == u) & (pl.col("date") == d) for u, d in chains.items()]
        or [pl.lit(False)]
    )
    return (
        lake.read(TableName.OPTION_SNAPSHOTS)
        .filter(in_newest & pl.col("expiry").is_in(expiries))
        .join(options.lazy().select(_LEG_KEYS).unique(), on=list(_LEG_KEYS), how="semi")
        .sort("ts")
        .unique(subset=list(_LEG_KEYS), keep="last")
        .select(
            *_LEG_KEYS,
            "iv",
            pl.col("delta").alias("opt_delta"),
            pl.col("gamma").alias("opt_gamma"),
            pl.col("theta").alias("opt_theta"),
            pl.col("vega").alias("opt_vega"),
            pl.col("underlying_price").alias("spot"),
            pl.col("ts").alias("quote_ts"),
        )
        .collect()
    )


def _leg_label() -> pl.Expr:
    qty = pl.col("quantity").round(0).cast(pl.Int64)
    sign = pl.when(qty > 0).then(pl.lit("+")).otherwise(pl.lit(""))
    strike = pl.col("strike").cast(pl.String).str.strip_suffix(".0")
    option = pl.concat_str(
        [sign, qty.cast(pl.String), pl.lit(" "), pl.col("right"), strike],
        ignore_nulls=True,
    )
    return (
        pl.when(pl.col("sec_type") == _OPTION)
        .then(option)
        .otherwise(pl.concat_str([sign, qty.cast(pl.String), pl.lit(" "), pl.col("symbol")]))
        .alias("leg")
    )


def open_legs(lake: Lake, now: datetime) -> pl.DataFrame:
    """Every leg held at the newest positions snapshot, its strategy, DTE and position greeks.

    A leg belongs to the strategy the sync stamped on it, else the open strategy
    whose legs name its contract, else an "unregistered" group per underlying
    and expiry (positions opened outside tradelib, or before the first sync).
    Greeks are position-level: delta and gamma in shares, theta and vega in dollars.
    """
    positions = _latest_positions(lake)
    newest = positions.get_column("snapshot_ts").max()
    # DTE counts from the snapshot's New York date, the day its P&L and greeks belong to
    as_of = _ny_date(newest if isinstance(newest, datetime) else now)
    registered = strategy_legs(_open_strategy_rows(lake))
    by_con = (
        registered.drop_nulls("con_id")
        .select("con_id", pl.col("strategy_id").alias("sid_con"))
        .unique("con_id", keep="first")
    )
    by_key = registered.select(*_LEG_KEYS, pl.col("strategy_id").alias("sid_key")).unique(
        list(_LEG_KEYS), keep="first"
    )
    legs = positions.join(by_con, on="con_id", how="left").join(
        by_key, on=list(_LEG_KEYS), how="left", nulls_equal=True
    )
    unregistered = pl.concat_str(
        [pl.col("underlying").fill_null(pl.col("symbol")), pl.col("expiry").cast(pl.String)],
        separator=" ",
        ignore_nulls=True,
    ) + pl.lit(" (unregistered)")
    legs = legs.with_columns(
        pl.coalesce("strategy_id", "sid_con", "sid_key", unregistered).alias("strategy_id"),
        pl.col("underlying").fill_null(pl.col("symbol")),
    ).drop("sid_con", "sid_key")
    greeks = _latest_greeks(lake, legs)
    size = pl.col("quantity") * pl.col("multiplier").fill_null(
        pl.when(pl.col("sec_type") == _OPTION).then(100.0).otherwise(1.0)
    )
    is_option = pl.col("sec_type") == _OPTION
    return (
        legs.join(greeks, on=list(_LEG_KEYS), how="left", nulls_equal=True)
        .with_columns(
            (pl.col("expiry") - pl.lit(as_of)).dt.total_days().alias("dte"),
            pl.when(is_option)
            .then(pl.col("opt_delta") * size)
            .otherwise(pl.col("quantity"))
            .alias("delta"),
            pl.when(is_option).then(pl.col("opt_gamma") * size).otherwise(0.0).alias("gamma"),
            pl.when(is_option).then(pl.col("opt_theta") * size).otherwise(0.0).alias("theta"),
            pl.when(is_option).then(pl.col("opt_vega") * size).otherwise(0.0).alias("vega"),
            _leg_label(),
        )
        .sort("strategy_id", "right", "strike", nulls_last=True)
    )


def _newest_per_strategy(decisions: pl.LazyFrame) -> pl.DataFrame:
    return (
        decisions.sort("ts", pl.col("priority"), descending=[False, True])
        .unique("strategy_id", keep="last")
        .select(
            "strategy_id",
            pl.col("ts").alias("decided_at"),
            "rule",
            "action",
            "urgency",
            "reason",
            pl.col("inputs_json").str.json_path_match("$.regime").alias("regime"),
        )
        .collect()
    )


def latest_decisions(
    lake: Lake, now: datetime, strategy_ids: list[str] | None = None
) -> pl.DataFrame:
    """The newest rules-engine decision per strategy (the most important rule on a tie).

    Reads the newest day with decisions first and looks back up to
    ``DECISIONS_LOOKBACK`` only for the ``strategy_ids`` (default: all) it did
    not find there, so a refresh reads one day of decisions, not a month.
    """
    decisions = lake.read(TableName.DECISIONS)
    newest = _newest_date(lake, TableName.DECISIONS)
    if newest is None:
        return _newest_per_strategy(decisions)
    found = _newest_per_strategy(decisions.filter(pl.col("date") == newest))
    wanted = set(strategy_ids) if strategy_ids is not None else None
    missing = None if wanted is None else wanted - set(found.get_column("strategy_id"))
    if missing == set():
        return found.sort("strategy_id")
    earlier = decisions.filter(
        (pl.col("date") >= newest - DECISIONS_LOOKBACK) & (pl.col("date") < newest)
    )
    if missing is not None:
        earlier = earlier.filter(pl.col("strategy_id").is_in(sorted(missing)))
    older = _newest_per_strategy(earlier).join(found, on="strategy_id", how="anti")
    return pl.concat([found, older]).sort("strategy_id")


def open_strategies(lake: Lake, now: datetime, *, legs: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per open strategy: legs, DTE, P&L, position greeks and its latest decision.

    Strategies come from the ``strategies`` table and from the legs held (so
    positions the registry has not grouped yet still show, as "unregistered").
    ``legs`` is ``open_legs``' frame when the caller has it already.
    """
    legs = open_legs(lake, now) if legs is None else legs
    held = legs.group_by("strategy_id").agg(
        pl.col("underlying").first().alias("held_underlying"),
        pl.col("leg").str.join(" / ").alias("held_legs"),
        pl.col("expiry").min(),
        pl.col("dte").min(),
        pl.col("unrealized_pnl").sum(),
        pl.col("market_value").sum(),
        pl.col("delta").sum(),
        pl.col("gamma").sum(),
        pl.col("theta").sum(),
        pl.col("vega").sum(),
        pl.len().cast(pl.Int64).alias("legs_held"),
    )
    registered = _open_strategy_rows(lake).select(
        "strategy_id",
        "strategy_type",
        "underlying",
        "opened_at",
        pl.col("quantity").alias("units"),
        "credit",
        "max_profit",
        "max_loss",
        "legs_json",
    )
    table = registered.join(held, on="strategy_id", how="full", coalesce=True)
    table = table.with_columns(
        pl.coalesce("underlying", "held_underlying").alias("underlying"),
        pl.col("strategy_type").fill_null("unregistered"),
        pl.coalesce("held_legs", _legs_from_json("legs_json")).alias("legs"),
        pl.when(pl.col("max_profit") > 0)
        .then(pl.col("unrealized_pnl") / pl.col("max_profit"))
        .otherwise(None)
        .alias("pnl_of_max"),
    ).drop("held_underlying", "held_legs", "legs_json")
    decided = latest_decisions(lake, now, table.get_column("strategy_id").to_list())
    return table.join(decided, on="strategy_id", how="left").sort("underlying", "strategy_id")


def _legs_from_json(column: str) -> pl.Expr:
    """Legs of a strategy with no held position, labelled from its stored JSON."""

    def label(text: str | None) -> str | None:
        if not text:
            return None
        try:
            legs = json.loads(text)
        except ValueError:
            return None
        parts = []
        for leg in legs:
            qty = float(leg.get("quantity", leg.get("ratio")) or 0.0)
            strike = leg.get("strike")
            what = f"{leg.get('right') or ''}{strike:g}" if strike else str(leg.get("symbol"))
            parts.append(f"{qty:+g} {what}")
        return " / ".join(parts) or None

    return pl.col(column).map_elements(label, return_dtype=pl.String)


# --- risk, breaker, market data ------------------------------------------------------------------
def _risk_capital(legs: pl.DataFrame) -> dict[str, float]:
    """Reg-T style margin per underlying of the held legs (the concentration limit's measure)."""
    from tradelib.broker.sim_margin import margin_requirement
    from tradelib.domain import Contract, Position, SecType

    positions: list[Position] = []
    spots: dict[str, float] = {}
    for row in legs.iter_rows(named=True):
        if row["spot"] is not None and math.isfinite(row["spot"]):
            spots[row["underlying"]] = float(row["spot"])
        if row["sec_type"] == _OPTION and row["expiry"] is not None:
            contract = Contract.option(
                row["underlying"],
                row["expiry"],
                float(row["strike"]),
                row["right"],
                multiplier=float(row["multiplier"] or 100.0),
                con_id=row["con_id"],
            )
        elif row["sec_type"] == SecType.STOCK.value:
            contract = Contract.stock(row["underlying"])
        else:
            continue
        positions.append(
            Position(
                contract,
                float(row["quantity"]),
                float(row["avg_cost"] or 0.0),
                float(row["market_price"] if row["market_price"] is not None else math.nan),
                float(row["market_value"] if row["market_value"] is not None else math.nan),
            )
        )
    try:
        return dict(margin_requirement(positions, spots).by_underlying)
    except ValueError:
        return {}  # a naked short without a spot: concentration unknown, shown as "–"


def _limit_row(
    check: str, value: float | None, limit: float, unit: str, detail: str
) -> dict[str, Any]:
    use = None if value is None or limit <= 0 else value / limit
    if use is None or not math.isfinite(use):
        status = "unknown"
    elif use > 1.0:
        status = "breach"
    elif use >= WARN_USE:
        status = "warn"
    else:
        status = "ok"
    return {
        "check": check,
        "value": value,
        "limit": float(limit),
        "use": use,
        "status": status,
        "unit": unit,
        "detail": detail,
    }


def risk_limit_use(
    lake: Lake,
    now: datetime,
    cfg: TradingConfig | None = None,
    *,
    account: pl.DataFrame | None = None,
    legs: pl.DataFrame | None = None,
    strategies: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """How much of each portfolio limit the newest numbers in the lake use.

    Measured like the entry-time risk checks: margin use is initial margin over
    net liquidation; delta is SPY-equivalent shares (beta 1, the dashboard has
    no return history); concentration is an underlying's Reg-T margin over the
    risk budget (``max_margin_use`` x net liquidation). ``account``, ``legs``
    and ``strategies`` are the other queries' frames when the caller has them.
    """
    cfg = cfg or TradingConfig()
    account = account_summary(lake, now) if account is None else account
    legs = open_legs(lake, now) if legs is None else legs
    strategies = open_strategies(lake, now, legs=legs) if strategies is None else strategies
    today = _ny_date(now)
    rows: list[dict[str, Any]] = []
    nl = float(account.get_column("net_liquidation")[0]) if account.height else None

    rows.append(
        _limit_row(
            "open strategies",
            float(strategies.height),
            cfg.trading_limits.max_positions,
            "count",
            "strategies open now",
        )
    )
    opened = strategies.get_column("opened_at").drop_nulls()
    entries = sum(1 for ts in opened.to_list() if _ny_date(ts) == today)
    rows.append(
        _limit_row(
            "new entries today",
            float(entries),
            cfg.trading_limits.max_new_entries_per_day,
            "count",
            f"opened on {today} (New York)",
        )
    )
    margin_use = account.get_column("margin_use")[0] if account.height else None
    rows.append(
        _limit_row(
            "margin use",
            margin_use,
            cfg.risk.max_margin_use,
            "fraction",
            "initial margin / net liquidation",
        )
    )
    delta: float | None = None
    if not legs.is_empty():
        spy = legs.filter(pl.col("underlying") == "SPY").get_column("spot").drop_nulls()
        spy_spot = float(spy[0]) if spy.len() else None
        weighted = legs.with_columns(
            (
                pl.col("delta") * pl.col("spot") / spy_spot
                if spy_spot
                else pl.col("delta")  # no SPY quote: plain shares
            ).alias("w")
        )
        total = weighted.get_column("w").sum()
        delta = abs(float(total)) if total is not None else None
    rows.append(
        _limit_row(
            "portfolio delta",
            delta,
            cfg.risk.max_portfolio_delta,
            "shares",
            "SPY-equivalent shares, beta 1 (absolute)",
        )
    )
    budget = cfg.risk.max_margin_use * nl if nl else 0.0
    capital = _risk_capital(legs) if not legs.is_empty() else {}
    if capital and budget > 0:
        symbol, dollars = max(capital.items(), key=lambda kv: kv[1])
        rows.append(
            _limit_row(
                "underlying concentration",
                dollars / budget,
                cfg.risk.max_underlying_concentration,
                "fraction",
                f"{symbol}: {money(dollars)} of {money(budget)} risk budget",
            )
        )
    else:
        rows.append(
            _limit_row(
                "underlying concentration",
                None,
                cfg.risk.max_underlying_concentration,
                "fraction",
                "no open risk" if legs.is_empty() else "no spot to price the margin",
            )
        )
    day_pnl = account.get_column("day_pnl")[0] if account.height else None
    loss = max(-float(day_pnl), 0.0) if day_pnl is not None else None
    rows.append(
        _limit_row(
            "daily loss",
            loss,
            cfg.risk.circuit_breaker.daily_loss_limit,
            "dollars",
            "today's loss vs the circuit-breaker limit ($)",
        )
    )
    return pl.DataFrame(
        rows,
        schema={
            "check": pl.String,
            "value": pl.Float64,
            "limit": pl.Float64,
            "use": pl.Float64,
            "status": pl.String,
            "unit": pl.String,
            "detail": pl.String,
        },
    )


def recent_rejections(lake: Lake, now: datetime, n: int = RECENT_ROWS) -> pl.DataFrame:
    """The newest risk rejections (candidates refused, with the reason)."""
    return lake.read(TableName.RISK_REJECTIONS).sort("ts", descending=True).head(n).collect()


def breaker_state(lake: Lake, now: datetime) -> pl.DataFrame:
    """The newest circuit-breaker event (its ``state`` is the breaker's state); empty if none."""
    return (
        lake.read(TableName.CIRCUIT_BREAKER_EVENTS)
        .sort("ts")
        .tail(1)
        .with_columns(_age_minutes(now, "ts"))
        .collect()
    )


def slot_use(lake: Lake, now: datetime) -> pl.DataFrame:
    """The newest market-data line use: streaming lines vs the option budget, and snapshots."""
    option_lines = pl.col("budget") - pl.col("reserved")
    return (
        lake.read(TableName.MARKET_DATA_SLOTS)
        .sort("ts")
        .tail(1)
        .with_columns(
            option_lines.alias("option_lines"),
            pl.when(option_lines > 0)
            .then(pl.col("streaming_lines") / option_lines)
            .otherwise(None)
            .alias("stream_use"),
            _age_minutes(now, "ts"),
        )
        .collect()
    )


# --- orders, jobs, regime, predictions ---------------------------------------------------------
def recent_orders(lake: Lake, now: datetime, n: int = RECENT_ROWS) -> pl.DataFrame:
    """The most recently updated orders."""
    return lake.read(TableName.ORDERS).sort("updated_at", descending=True).head(n).collect()


def recent_fills(lake: Lake, now: datetime, n: int = RECENT_ROWS) -> pl.DataFrame:
    """The newest executions."""
    return lake.read(TableName.EXECUTIONS).sort("ts", descending=True).head(n).collect()


def job_health(lake: Lake, now: datetime) -> pl.DataFrame:
    """Per job: the last run (status, duration, error), runs and failures in the last 24 h.

    Jobs in the scheduler table that never ran show with a null last run.
    """
    since = _utc(now) - timedelta(hours=24)
    recent = pl.col("started_at") >= since
    runs = (
        lake.read(TableName.JOB_RUNS)
        .group_by("job")
        .agg(
            pl.col("started_at").max().alias("last_started"),
            pl.col("finished_at").sort_by("started_at").last(),
            pl.col("status").sort_by("started_at").last(),
            pl.col("duration_s").sort_by("started_at").last(),
            pl.col("error").sort_by("started_at").last(),
            recent.sum().cast(pl.Int64).alias("runs_24h"),
            (recent & pl.col("status").is_in(FAILED_STATUSES))
            .sum()
            .cast(pl.Int64)
            .alias("failures_24h"),
        )
        .collect()
    )
    tasks = lake.read(
        TableName.SCHEDULER_TASKS, columns=["job", "every_minutes", "enabled"]
    ).collect()
    return (
        runs.join(tasks, on="job", how="full", coalesce=True)
        .with_columns(
            pl.col("status").fill_null("never run"),
            pl.col("runs_24h").fill_null(0),
            pl.col("failures_24h").fill_null(0),
            _age_minutes(now, "last_started"),
        )
        .sort("job")
    )


def current_regime(lake: Lake, now: datetime) -> pl.DataFrame:
    """The market regime the system last acted on: the newest decision's inputs (on the
    newest day with decisions), else the newest prediction's; empty when neither is known."""
    newest = _newest_date(lake, TableName.DECISIONS)
    if newest is not None:
        found = (
            lake.read(TableName.DECISIONS, columns=["ts", "date", "inputs_json"])
            .filter(pl.col("date") == newest)
            .with_columns(
                pl.col("inputs_json").str.json_path_match("$.regime").alias("regime"),
                pl.col("inputs_json").str.json_path_match("$.vix").cast(pl.Float64).alias("vix"),
            )
            .drop_nulls("regime")
            .sort("ts")
            .tail(1)
            .select(
                "regime", pl.col("ts").alias("as_of"), "vix", pl.lit("decisions").alias("source")
            )
            .collect()
        )
        if found.height:
            return found
    return (
        lake.read(TableName.PREDICTIONS, columns=["regime", "entered_at"])
        .drop_nulls("regime")
        .sort("entered_at")
        .tail(1)
        .select(
            "regime",
            pl.col("entered_at").alias("as_of"),
            pl.lit(None, pl.Float64).alias("vix"),
            pl.lit("predictions").alias("source"),
        )
        .collect()
    )


def predictions_vs_actuals(lake: Lake, now: datetime) -> pl.DataFrame:
    """Every prediction with its outcome; ``error`` = actual - predicted once closed."""
    return (
        lake.read(TableName.PREDICTIONS)
        .with_columns((pl.col("actual_pnl") - pl.col("predicted_pnl")).alias("error"))
        .sort("entered_at", descending=True)
        .collect()
    )


def prediction_summary(predictions: pl.DataFrame) -> pl.DataFrame:
    """Per strategy type: predictions, closed, mean absolute error and bias of the closed."""
    return (
        predictions.group_by("strategy_type")
        .agg(
            pl.len().cast(pl.Int64).alias("predictions"),
            pl.col("actual_pnl").is_not_null().sum().cast(pl.Int64).alias("closed"),
            pl.col("error").abs().mean().alias("mae"),
            pl.col("error").mean().alias("bias"),
        )
        .sort("strategy_type")
    )


QUERIES: dict[str, Query] = {
    "account": account_summary,
    "equity": equity_curve,
    "legs": open_legs,
    "strategies": open_strategies,
    "rejections": recent_rejections,
    "breaker": breaker_state,
    "slots": slot_use,
    "orders": recent_orders,
    "fills": recent_fills,
    "jobs": job_health,
    "regime": current_regime,
    "predictions": predictions_vs_actuals,
}
"""Every panel query by name (``risk_limit_use`` also needs the config)."""


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
    "unrealized_pnl",
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
            "unrealized_pnl": ",.2f",
            "pnl_of_max": ".0%",
            "delta": "+,.1f",
            "gamma": "+,.2f",
            "theta": "+,.2f",
            "vega": "+,.2f",
        },
        labels={
            "strategy_id": "strategy",
            "strategy_type": "type",
            "unrealized_pnl": "P&L $",
            "pnl_of_max": "% of max",
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


def risk_html(limits: pl.DataFrame, rejections: pl.DataFrame) -> str:
    """Limit use (value / limit, coloured by status) and the newest risk rejections."""
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
    ) -> None:
        self.lake = lake
        self.cfg = cfg or TradingConfig()
        self.refresh_s = refresh_interval(refresh_s)
        self.cache = TTLCache(self.refresh_s, clock)
        self._wallclock = wallclock
        self.refreshes = 0
        self.status = widgets.HTML()
        self.panels: dict[str, widgets.HTML] = {name: widgets.HTML() for name in PANELS}
        self.figures = {name: go.FigureWidget() for name in ("equity", "predictions")}
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
                return risk_html(q("limits"), q("rejections"))
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
        ):
            try:
                _replace(self.figures[name], build(self.query(source)))
            except Exception as exc:
                _replace(self.figures[name], _empty_figure(f"failed: {mask_all(str(exc))}"))
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

        p, f = self.panels, self.figures
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
            ]
        )


def panel_texts(dashboard: MonitoringDashboard) -> Mapping[str, str]:
    """The HTML of every panel (for tests and for printing a dashboard in a notebook)."""
    return {name: panel.value for name, panel in dashboard.panels.items()}
