"""The monitoring dashboard's queries: pure functions ``(lake, now, ...) -> pl.DataFrame``.

Each panel is filled by one query (tested without a browser); every table an
engineer has not written yet reads as an empty frame with the declared schema,
so each panel shows a clear "no data yet" instead.

``now`` is the wall-clock time of the refresh. Queries show the newest data in
the lake whatever its time (a simulated day may run ahead of the clock); ``now``
sets "today", the 24-hour job-health window and the age of what is shown.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from tradelib.config import TradingConfig
from tradelib.dashboards.common import (
    newest_in_log,
    strategy_legs,
    table_files,
)
from tradelib.domain import NEW_YORK
from tradelib.domain.pnl import profit_fraction, strategy_pnl
from tradelib.lake import Lake, TableName
from tradelib.stores.risk import latest_limit_use

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


def _sum_or_unknown(column: str) -> pl.Expr:
    """The sum over a strategy's legs, unknown (null, shown blank) when any leg's is unknown.

    Polars sums nulls to 0, which would show a strategy without greeks as delta-neutral.
    """
    return (
        pl.when(pl.col(column).null_count() == 0)
        .then(pl.col(column).sum())
        .otherwise(None)
        .alias(column)
    )


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
        *(_sum_or_unknown(greek) for greek in ("delta", "gamma", "theta", "vega")),
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
    )
    own = _own_pnl(table, legs)
    table = (
        table.join(own, on="strategy_id", how="left")
        .with_columns(
            pl.struct("pnl", "max_profit")
            .map_elements(
                lambda r: profit_fraction(r["pnl"], r["max_profit"]), return_dtype=pl.Float64
            )
            .alias("pnl_of_max"),
        )
        .drop("held_underlying", "held_legs", "legs_json")
    )
    decided = latest_decisions(lake, now, table.get_column("strategy_id").to_list())
    return table.join(decided, on="strategy_id", how="left").sort("underlying", "strategy_id")


def _own_pnl(table: pl.DataFrame, legs: pl.DataFrame) -> pl.DataFrame:
    """Each registered strategy's P&L from its own legs, credit and the contracts' marks.

    The same measure the take-profit rules use (``tradelib.domain.pnl``), so "% of max"
    here is the rule's "profit % of max". The broker's unrealized P&L per contract
    is not: a contract shared by two strategies, a roll's net credit or commissions
    in the average cost make it differ. Unregistered groups keep the broker's figure.
    """
    marks = {
        con_id: (price, mult)
        for con_id, price, mult in legs.select("con_id", "market_price", "multiplier")
        .drop_nulls("con_id")
        .iter_rows()
    }
    rows: list[dict[str, Any]] = []
    for sid, credit, units, text, broker in table.select(
        "strategy_id", "credit", "units", "legs_json", "unrealized_pnl"
    ).iter_rows():
        pnl = broker if text is None else None
        if text is not None and units:
            try:
                stored = json.loads(text)
            except ValueError:
                stored = []
            held: list[tuple[float, float | None]] = []
            multiplier = 100.0
            for leg in stored:
                qty = leg.get("quantity")
                if qty is None:  # the order journal's shape: a ratio per unit
                    qty = float(leg.get("ratio") or 0.0) * units
                price, mult = marks.get(leg.get("con_id"), (None, None))
                multiplier = float(mult or leg.get("multiplier") or multiplier)
                held.append((float(qty), price))
            pnl = strategy_pnl(credit, units, multiplier, held) if held else None
        rows.append({"strategy_id": sid, "pnl": pnl})
    return pl.DataFrame(rows, schema={"strategy_id": pl.String, "pnl": pl.Float64})


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


# (risk limit name, panel label, unit) of the limits monitoring measures.
_MEASURED_LIMITS = (
    ("max_margin_use", "margin use", "fraction"),
    ("max_portfolio_delta", "portfolio delta", "shares"),
    ("max_underlying_concentration", "underlying concentration", "fraction"),
    ("max_correlated_exposure", "correlated exposure", "fraction"),
)


def _configured_limit(cfg: TradingConfig, limit: str) -> float | None:
    risk = cfg.risk
    value = {
        "max_margin_use": risk.max_margin_use,
        "max_portfolio_delta": risk.max_portfolio_delta,
        "max_underlying_concentration": risk.max_underlying_concentration,
        "max_correlated_exposure": risk.max_correlated_exposure,
    }.get(limit)
    return None if value is None else float(value)


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

    The portfolio limits are not measured here: monitoring measures them each
    cycle with ``tradelib.risk.book.measure_book`` (beta-weighted delta,
    concentration and correlated exposure as shares of the risk budget, margin
    use) and stores them; this reads the newest cycle's. Counts (open
    strategies, today's entries) and the day's loss come from the lake's rows.
    ``account``, ``legs`` and ``strategies`` are the other queries' frames.
    """
    cfg = cfg or TradingConfig()
    account = account_summary(lake, now) if account is None else account
    legs = open_legs(lake, now) if legs is None else legs
    strategies = open_strategies(lake, now, legs=legs) if strategies is None else strategies
    today = _ny_date(now)
    rows: list[dict[str, Any]] = []

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
    measured = {r["limit"]: r for r in latest_limit_use(lake, now).iter_rows(named=True)}
    for limit, label, unit in _MEASURED_LIMITS:
        threshold = _configured_limit(cfg, limit)
        if threshold is None:
            continue
        row = measured.get(limit)
        value = row["measured"] if row is not None else None
        if value is not None and limit == "max_portfolio_delta":
            value = abs(value)
        detail = row["detail"] if row is not None else "not measured yet (no monitoring cycle)"
        rows.append(_limit_row(label, value, threshold, unit, detail))
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


def book_breaches(lake: Lake, now: datetime, n: int = RECENT_ROWS) -> pl.DataFrame:
    """The newest limit breaches of the existing book, as monitoring measured them."""
    return lake.read(TableName.LIMIT_BREACHES).sort("ts", descending=True).head(n).collect()


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


# --- performance since inception ---------------------------------------------------------------
def equity_since_inception(lake: Lake, now: datetime) -> pl.DataFrame:
    """Per session since the first snapshot: closing net liquidation, its running peak and drawdown.

    ``drawdown`` is in dollars below the peak (<= 0), ``drawdown_pct`` a fraction of the peak.
    """
    return (
        lake.read(TableName.ACCOUNT_SNAPSHOTS, columns=["ts", "date", "net_liquidation", "day_pnl"])
        .sort("ts")
        .group_by("date")
        .agg(pl.col("net_liquidation").last().alias("equity"), pl.col("day_pnl").last())
        .sort("date")
        .with_columns(pl.col("equity").cum_max().alias("peak"))
        .with_columns(
            (pl.col("equity") - pl.col("peak")).alias("drawdown"),
            (pl.col("equity") / pl.col("peak") - 1.0).alias("drawdown_pct"),
        )
        .collect()
    )


def pnl_by_week(equity: pl.DataFrame) -> pl.DataFrame:
    """P&L per week (weeks start on Monday): the change in closing equity, first week from its day P&L."""
    if equity.is_empty():
        return pl.DataFrame(
            schema={"week": pl.Date, "pnl": pl.Float64, "sessions": pl.Int64, "equity": pl.Float64}
        )
    change = pl.col("equity").diff().fill_null(pl.col("day_pnl").fill_null(0.0)).alias("change")
    return (
        equity.with_columns(change, pl.col("date").dt.truncate("1w").alias("week"))
        .group_by("week")
        .agg(
            pl.col("change").sum().alias("pnl"),
            pl.len().cast(pl.Int64).alias("sessions"),
            pl.col("equity").last(),
        )
        .sort("week")
    )


def closed_trades(lake: Lake, now: datetime) -> pl.DataFrame:
    """Every closed prediction (a closed trade): type, underlying, exit rule, P&L, days held."""
    return (
        lake.read(
            TableName.PREDICTIONS,
            columns=[
                "strategy_id",
                "strategy_type",
                "underlying",
                "regime",
                "exit_rule",
                "entered_at",
                "closed_at",
                "actual_pnl",
                "predicted_pnl",
                "days_held",
            ],
        )
        .filter(pl.col("actual_pnl").is_not_null())
        .with_columns(pl.col("exit_rule").fill_null("unknown"))
        .sort("closed_at", descending=True)
        .collect()
    )


def realized_pnl_by(trades: pl.DataFrame, column: str) -> pl.DataFrame:
    """Realized P&L of closed trades grouped by ``column`` (strategy_type, exit_rule...)."""
    return (
        trades.group_by(column)
        .agg(
            pl.len().cast(pl.Int64).alias("trades"),
            pl.col("actual_pnl").sum().alias("pnl"),
            pl.col("actual_pnl").mean().alias("avg_pnl"),
            (pl.col("actual_pnl") > 0).mean().alias("win_rate"),
        )
        .sort("pnl", descending=True)
    )


QUERIES: dict[str, Query] = {
    "account": account_summary,
    "equity": equity_curve,
    "legs": open_legs,
    "strategies": open_strategies,
    "rejections": recent_rejections,
    "breaches": book_breaches,
    "breaker": breaker_state,
    "slots": slot_use,
    "orders": recent_orders,
    "fills": recent_fills,
    "jobs": job_health,
    "regime": current_regime,
    "predictions": predictions_vs_actuals,
    "inception": equity_since_inception,
    "trades": closed_trades,
}
"""Every panel query by name (``risk_limit_use`` also needs the config)."""
