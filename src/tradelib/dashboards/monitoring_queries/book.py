"""The book as held: legs with their strategy and greeks, open strategies with their P&L,
and each strategy's latest rules-engine decision."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from tradelib.dashboards.common import strategy_legs, table_files
from tradelib.dashboards.monitoring_queries.base import newest_date, ny_date
from tradelib.domain.pnl import profit_fraction, strategy_pnl
from tradelib.lake import Lake, TableName

# a strategy not decided on in the 4 days before the newest decision (a weekend and a holiday)
# is not being monitored: it shows no decision rather than a stale one
DECISIONS_LOOKBACK = timedelta(days=4)
_OPTION = "OPT"
_LEG_KEYS = ("underlying", "expiry", "strike", "right")


def _latest_positions(lake: Lake) -> pl.DataFrame:
    positions = lake.read(TableName.POSITIONS)
    newest = newest_date(lake, TableName.POSITIONS)
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
    as_of = ny_date(newest if isinstance(newest, datetime) else now)
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
    newest = newest_date(lake, TableName.DECISIONS)
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
