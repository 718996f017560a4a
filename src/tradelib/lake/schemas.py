"""Every Delta table tradelib writes, declared once.

A ``TableSpec`` holds a table's Arrow schema with its partitioning, merge keys
and time column. Other code takes column and table names from here
(``TableName``, ``TableSpec.columns``) instead of spelling them again.

Conventions: timestamps are ``timestamp("us", tz="UTC")``; money and
quantities are float64 (IB reports quantities as decimals); ids are strings
except IB's numeric ids (``con_id``, ``broker_order_id``, ``perm_id``); the
``date`` partition column is the UTC calendar date of the table's time column.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import polars as pl
import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")
MONEY = pa.float64()
NUMBER = pa.float64()
ID = pa.string()
TEXT = pa.string()
COUNT = pa.int64()
FLAG = pa.bool_()
DAY = pa.date32()
BLOB = pa.binary()


class TableName(StrEnum):
    """Names of the lake's tables."""

    ACCOUNT_SNAPSHOTS = "account_snapshots"
    POSITIONS = "positions"
    STRATEGIES = "strategies"
    ORDERS = "orders"
    EXECUTIONS = "executions"
    DECISIONS = "decisions"
    OPTION_SNAPSHOTS = "option_snapshots"
    FUTURES_BARS = "futures_bars"
    FUTURES_GAPS = "futures_gaps"
    PREDICTIONS = "predictions"
    STRATEGY_WEIGHTS = "strategy_weights"
    CIRCUIT_BREAKER_EVENTS = "circuit_breaker_events"
    RISK_REJECTIONS = "risk_rejections"
    RECONCILIATION_EVENTS = "reconciliation_events"
    SCHEDULER_TASKS = "scheduler_tasks"
    JOB_RUNS = "job_runs"
    MARKET_DATA_SLOTS = "market_data_slots"
    REGIME_READINGS = "regime_readings"
    LIMIT_BREACHES = "limit_breaches"
    RISK_LIMIT_USE = "risk_limit_use"
    BACKTEST_RUNS = "backtest_runs"
    BACKTEST_TRADES = "backtest_trades"
    BACKTEST_EQUITY = "backtest_equity"
    BACKTEST_SWEEPS = "backtest_sweeps"
    ALERTS = "alerts"
    MARKET_TAPE = "market_tape"
    REPLAY_CHECKPOINTS = "replay_checkpoints"
    MARKET_HISTORY = "market_history"


@dataclass(frozen=True, slots=True)
class TableSpec:
    """One Delta table: schema, partitioning, merge keys and time column."""

    name: str
    schema: pa.Schema
    partition_by: tuple[str, ...]
    merge_keys: tuple[str, ...]  # empty = append-only
    time_column: str
    description: str

    def __post_init__(self) -> None:
        # store the plain string so reprs and f-strings show "orders", not the enum
        object.__setattr__(self, "name", str(self.name))

    @property
    def columns(self) -> tuple[str, ...]:
        """Return the column names in schema order."""
        return tuple(self.schema.names)

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Return the columns that may not hold nulls."""
        return tuple(f.name for f in self.schema if not f.nullable)

    @property
    def append_only(self) -> bool:
        """Return True when the table has no merge keys."""
        return not self.merge_keys

    @property
    def derives_date(self) -> bool:
        """Return True when ``date`` is a partition column derived from the time column."""
        return "date" in self.partition_by and self.time_column != "date"

    @property
    def polars_schema(self) -> pl.Schema:
        """Return the schema as polars dtypes."""
        return pl.from_arrow(self.schema.empty_table()).schema  # type: ignore[union-attr]

    def column(self, name: str) -> str:
        """Return ``name`` after checking it is a column of this table."""
        if name not in self.schema.names:
            raise KeyError(f"table '{self.name}' has no column '{name}' (columns: {self.columns})")
        return name

    def empty(self) -> pl.DataFrame:
        """Return an empty polars frame with this table's schema."""
        frame = pl.from_arrow(self.schema.empty_table())
        assert isinstance(frame, pl.DataFrame)
        return frame


def _schema(*fields: tuple[str, pa.DataType, bool]) -> pa.Schema:
    """Build a schema from ``(name, type, nullable)`` triples."""
    return pa.schema([pa.field(name, dtype, nullable=nullable) for name, dtype, nullable in fields])


REQ, OPT = False, True  # nullable flag, spelled for the reader

_SPECS: tuple[TableSpec, ...] = (
    TableSpec(
        name=TableName.ACCOUNT_SNAPSHOTS,
        schema=_schema(
            ("ts", TIMESTAMP, REQ),
            ("date", DAY, REQ),
            ("account_masked", ID, REQ),
            ("mode", TEXT, REQ),  # sim / paper / live
            ("net_liquidation", MONEY, REQ),
            ("cash", MONEY, OPT),
            ("buying_power", MONEY, OPT),
            ("excess_liquidity", MONEY, OPT),
            ("init_margin", MONEY, OPT),
            ("maint_margin", MONEY, OPT),
            ("day_pnl", MONEY, OPT),
            ("unrealized_pnl", MONEY, OPT),
            ("realized_pnl", MONEY, OPT),
        ),
        partition_by=("date",),
        merge_keys=("account_masked", "ts"),
        time_column="ts",
        description="Account values at each sync; the account id is stored masked.",
    ),
    TableSpec(
        name=TableName.POSITIONS,
        schema=_schema(
            ("snapshot_ts", TIMESTAMP, REQ),
            ("date", DAY, REQ),
            ("con_id", COUNT, REQ),
            ("symbol", TEXT, REQ),
            ("sec_type", TEXT, REQ),  # STK / OPT / FUT / FOP
            ("underlying", TEXT, OPT),
            ("right", TEXT, OPT),  # C / P for options
            ("strike", NUMBER, OPT),
            ("expiry", DAY, OPT),
            ("multiplier", NUMBER, OPT),
            ("quantity", NUMBER, REQ),  # signed: negative = short
            ("avg_cost", MONEY, OPT),
            ("market_price", MONEY, OPT),
            ("market_value", MONEY, OPT),
            ("unrealized_pnl", MONEY, OPT),
            ("strategy_id", ID, OPT),
        ),
        partition_by=("date",),
        merge_keys=("snapshot_ts", "con_id"),
        time_column="snapshot_ts",
        description="Broker positions at each sync (the broker is the truth).",
    ),
    TableSpec(
        name=TableName.STRATEGIES,
        schema=_schema(
            ("strategy_id", ID, REQ),
            ("strategy_type", TEXT, REQ),
            ("underlying", TEXT, REQ),
            ("status", TEXT, REQ),  # open / closed
            ("opened_at", TIMESTAMP, REQ),
            ("closed_at", TIMESTAMP, OPT),
            ("legs_json", TEXT, REQ),
            ("quantity", NUMBER, REQ),
            ("credit", MONEY, OPT),
            ("max_profit", MONEY, OPT),
            ("max_loss", MONEY, OPT),
            ("breakevens_json", TEXT, OPT),
            ("inferred", FLAG, REQ),  # legs grouped by the fallback, not our order refs
            ("prediction_id", ID, OPT),
            ("updated_at", TIMESTAMP, REQ),
            ("close_reason", TEXT, OPT),  # closed / rolled / expired / assigned / closed_outside
            ("linked_strategy_id", ID, OPT),  # rolled from, or assigned out of, this strategy
        ),
        partition_by=(),
        merge_keys=("strategy_id",),
        time_column="updated_at",
        description="Multi-leg strategies, current state per strategy.",
    ),
    TableSpec(
        name=TableName.ORDERS,
        schema=_schema(
            ("order_ref", ID, REQ),  # idempotent reference, written before sending
            ("strategy_id", ID, OPT),
            ("intent", TEXT, REQ),  # open / close / roll
            ("status", TEXT, REQ),
            ("order_type", TEXT, REQ),
            ("action", TEXT, REQ),  # BUY / SELL
            ("limit_price", MONEY, OPT),
            ("quantity", NUMBER, REQ),
            ("filled_quantity", NUMBER, REQ),
            ("avg_fill_price", MONEY, OPT),
            ("legs_json", TEXT, REQ),
            ("broker_order_id", COUNT, OPT),
            ("perm_id", COUNT, OPT),
            ("created_at", TIMESTAMP, REQ),
            ("updated_at", TIMESTAMP, REQ),
            ("reason", TEXT, OPT),
            ("error_code", COUNT, OPT),
        ),
        partition_by=(),
        merge_keys=("order_ref",),
        time_column="updated_at",
        description="Orders, current state per order reference.",
    ),
    TableSpec(
        name=TableName.EXECUTIONS,
        schema=_schema(
            ("exec_id", ID, REQ),
            ("order_ref", ID, OPT),  # missing for fills of orders placed by hand
            ("con_id", COUNT, REQ),
            ("symbol", TEXT, REQ),
            ("side", TEXT, REQ),  # BOT / SLD
            ("quantity", NUMBER, REQ),
            ("price", MONEY, REQ),
            ("commission", MONEY, OPT),  # arrives after the fill
            ("ts", TIMESTAMP, REQ),
            ("synced_at", TIMESTAMP, OPT),  # when a sync first accounted for it (null: not yet)
        ),
        partition_by=(),
        merge_keys=("exec_id",),
        time_column="ts",
        description="Fills reported by the broker.",
    ),
    TableSpec(
        name=TableName.DECISIONS,
        schema=_schema(
            ("decision_id", ID, REQ),
            ("strategy_id", ID, REQ),
            ("ts", TIMESTAMP, REQ),
            ("date", DAY, REQ),
            ("rule", TEXT, REQ),
            ("priority", NUMBER, REQ),
            ("action", TEXT, REQ),
            ("urgency", TEXT, REQ),  # IMMEDIATE / HIGH / NORMAL / LOW
            ("reason", TEXT, REQ),
            ("inputs_json", TEXT, OPT),
        ),
        partition_by=("date",),
        merge_keys=("decision_id",),
        time_column="ts",
        description="Every rules-engine decision with the inputs it saw.",
    ),
    TableSpec(
        name=TableName.OPTION_SNAPSHOTS,
        schema=_schema(
            ("ts", TIMESTAMP, REQ),
            ("date", DAY, REQ),
            ("underlying", TEXT, REQ),
            ("expiry", DAY, REQ),
            ("strike", NUMBER, REQ),
            ("right", TEXT, REQ),
            ("bid", MONEY, OPT),
            ("ask", MONEY, OPT),
            ("last", MONEY, OPT),
            ("iv", NUMBER, OPT),
            ("delta", NUMBER, OPT),
            ("gamma", NUMBER, OPT),
            ("theta", NUMBER, OPT),
            ("vega", NUMBER, OPT),
            ("underlying_price", MONEY, OPT),
            ("open_interest", COUNT, OPT),
        ),
        partition_by=("underlying", "date"),
        merge_keys=("ts", "underlying", "expiry", "strike", "right"),
        time_column="ts",
        description="Option quotes and greeks as seen by the system.",
    ),
    TableSpec(
        name=TableName.FUTURES_BARS,
        schema=_schema(
            ("ts", TIMESTAMP, REQ),
            ("date", DAY, REQ),
            ("symbol", TEXT, REQ),  # ES / NQ / RTY, and the ETFs they lead (SPY / QQQ / IWM)
            ("local_symbol", TEXT, REQ),  # the contract month, e.g. ESZ4 (the ETF itself for spot)
            ("open", MONEY, REQ),
            ("high", MONEY, REQ),
            ("low", MONEY, REQ),
            ("close", MONEY, REQ),
            ("volume", NUMBER, OPT),
        ),
        partition_by=("symbol", "date"),
        merge_keys=("symbol", "ts"),
        time_column="ts",
        description="Front-month futures bars, and the spot ETF bars they are compared with; gaps are recorded, never filled.",
    ),
    TableSpec(
        name=TableName.FUTURES_GAPS,
        schema=_schema(
            ("symbol", TEXT, REQ),
            ("gap_start", TIMESTAMP, REQ),
            ("gap_end", TIMESTAMP, OPT),  # null while the gap is still open
            ("reason", TEXT, REQ),
        ),
        partition_by=(),
        merge_keys=("symbol", "gap_start"),
        time_column="gap_start",
        description="Periods with no futures data, and why.",
    ),
    TableSpec(
        name=TableName.PREDICTIONS,
        schema=_schema(
            ("prediction_id", ID, REQ),
            ("strategy_id", ID, OPT),
            ("strategy_type", TEXT, REQ),
            ("underlying", TEXT, REQ),
            ("regime", TEXT, OPT),
            ("skew_ratio", NUMBER, OPT),
            ("predicted_pnl", MONEY, REQ),
            ("prob_profit", NUMBER, OPT),
            ("max_loss", MONEY, OPT),  # max risk: max loss, or risk capital if unbounded
            ("weight_used", NUMBER, OPT),
            ("entered_at", TIMESTAMP, REQ),
            ("actual_pnl", MONEY, OPT),  # filled at exit
            ("days_held", NUMBER, OPT),
            ("exit_rule", TEXT, OPT),
            ("closed_at", TIMESTAMP, OPT),
            ("updated_at", TIMESTAMP, REQ),
        ),
        partition_by=(),
        merge_keys=("prediction_id",),
        time_column="updated_at",
        description="Entry predictions and, once closed, the actual outcome.",
    ),
    TableSpec(
        name=TableName.STRATEGY_WEIGHTS,
        schema=_schema(
            ("computed_at", TIMESTAMP, REQ),
            ("strategy_type", TEXT, REQ),
            ("regime", TEXT, REQ),  # "*" = across all regimes
            ("weight", NUMBER, REQ),
            ("mae", NUMBER, OPT),
            ("bias", NUMBER, OPT),
            ("count", COUNT, REQ),
            ("source", TEXT, REQ),  # variance / config / default / inherited
            ("adjustment", NUMBER, OPT),  # regime_adjustments multiplier applied; null = none
        ),
        partition_by=(),
        merge_keys=("computed_at", "strategy_type", "regime"),
        time_column="computed_at",
        description="Strategy weights from variance analysis or config overrides.",
    ),
    TableSpec(
        name=TableName.CIRCUIT_BREAKER_EVENTS,
        schema=_schema(
            ("event_id", ID, REQ),
            ("ts", TIMESTAMP, REQ),
            ("state", TEXT, REQ),  # open (halted) / closed
            ("trigger", TEXT, REQ),
            ("reason", TEXT, REQ),
            ("value", NUMBER, OPT),
            ("limit", NUMBER, OPT),
            ("reset_by", TEXT, OPT),
        ),
        partition_by=(),
        merge_keys=("event_id",),
        time_column="ts",
        description="Circuit-breaker trips and resets; the latest row is the state.",
    ),
    TableSpec(
        name=TableName.RISK_REJECTIONS,
        schema=_schema(
            ("rejection_id", ID, REQ),
            ("ts", TIMESTAMP, REQ),
            ("strategy_type", TEXT, REQ),
            ("underlying", TEXT, OPT),
            ("check", TEXT, REQ),
            ("reason", TEXT, REQ),
            ("value", NUMBER, OPT),
            ("limit", NUMBER, OPT),
        ),
        partition_by=(),
        merge_keys=("rejection_id",),
        time_column="ts",
        description="Candidates refused by a risk check, with the reason.",
    ),
    TableSpec(
        name=TableName.LIMIT_BREACHES,
        schema=_schema(
            ("breach_id", ID, REQ),
            ("ts", TIMESTAMP, REQ),
            ("date", DAY, REQ),
            ("limit", TEXT, REQ),  # max_portfolio_delta / max_margin_use / ...
            ("measured", NUMBER, REQ),
            ("threshold", NUMBER, REQ),
            ("reason", TEXT, REQ),
            ("underlyings", TEXT, OPT),  # comma-separated contributors
            ("strategies", TEXT, OPT),
            ("action", TEXT, OPT),  # what monitoring did about it
        ),
        partition_by=("date",),
        merge_keys=("breach_id",),
        time_column="ts",
        description="Portfolio limits the existing book was over, per monitoring cycle.",
    ),
    TableSpec(
        name=TableName.RISK_LIMIT_USE,
        schema=_schema(
            ("ts", TIMESTAMP, REQ),
            ("date", DAY, REQ),
            ("limit", TEXT, REQ),  # max_portfolio_delta / max_margin_use / ...
            ("measured", NUMBER, OPT),  # null: could not be measured
            ("threshold", NUMBER, REQ),
            ("detail", TEXT, REQ),  # what was measured (the worst underlying or group)
        ),
        partition_by=("date",),
        merge_keys=("ts", "limit"),
        time_column="ts",
        description="How much of each portfolio limit the book used, per monitoring cycle.",
    ),
    TableSpec(
        name=TableName.BACKTEST_RUNS,
        schema=_schema(
            ("run_id", ID, REQ),
            ("created_at", TIMESTAMP, REQ),  # wall clock
            ("source", TEXT, REQ),  # sim / history / chains / lake
            ("source_name", TEXT, REQ),
            ("modelled", FLAG, REQ),  # option quotes from a model (not recorded)
            ("seed", COUNT, OPT),
            ("start", DAY, REQ),
            ("end", DAY, REQ),
            ("days", COUNT, REQ),
            ("cycles_per_day", COUNT, REQ),
            ("config_hash", TEXT, REQ),
            ("config_json", TEXT, REQ),
            ("code_version", TEXT, REQ),
            ("wall_s", NUMBER, REQ),
            ("stats_json", TEXT, REQ),  # the headline statistics
        ),
        partition_by=(),
        merge_keys=("run_id",),
        time_column="created_at",
        description="One row per backtest run: what ran, on what, and its statistics.",
    ),
    TableSpec(
        name=TableName.BACKTEST_TRADES,
        schema=_schema(
            ("run_id", ID, REQ),
            ("strategy_id", ID, REQ),
            ("strategy_type", TEXT, REQ),
            ("underlying", TEXT, REQ),
            ("opened_at", TIMESTAMP, REQ),
            ("closed_at", TIMESTAMP, OPT),  # null: still open at the end
            ("status", TEXT, REQ),
            ("exit_rule", TEXT, OPT),  # the rule (or expiry/assignment) that ended it
            ("regime", TEXT, OPT),  # the regime at entry
            ("quantity", NUMBER, REQ),
            ("credit", NUMBER, OPT),  # per share per unit at entry
            ("pnl", NUMBER, OPT),  # realized dollars (fills less commissions); null while open
            ("predicted_pnl", NUMBER, OPT),
            ("prob_profit", NUMBER, OPT),
            ("max_loss", NUMBER, OPT),
            ("commissions", NUMBER, REQ),
            ("slippage", NUMBER, OPT),  # dollars given up against the first (mid) limit
        ),
        partition_by=(),
        merge_keys=("run_id", "strategy_id"),
        time_column="opened_at",
        description="Every strategy a backtest traded, with its entry prediction and outcome.",
    ),
    TableSpec(
        name=TableName.BACKTEST_EQUITY,
        schema=_schema(
            ("run_id", ID, REQ),
            ("day", DAY, REQ),
            ("net_liquidation", NUMBER, REQ),
            ("cash", NUMBER, REQ),
            ("init_margin", NUMBER, REQ),
            ("margin_use", NUMBER, REQ),
            ("drawdown", NUMBER, REQ),  # fraction below the running peak
            ("day_pnl", NUMBER, REQ),
            ("benchmark_close", NUMBER, OPT),  # the benchmark ETF's close (buy-and-hold)
            ("regime", TEXT, OPT),
            ("open_strategies", COUNT, REQ),
            ("entered", COUNT, REQ),
            ("closed", COUNT, REQ),
        ),
        partition_by=(),
        merge_keys=("run_id", "day"),
        time_column="day",
        description="A backtest's daily equity, drawdown and margin use.",
    ),
    TableSpec(
        name=TableName.BACKTEST_SWEEPS,
        schema=_schema(
            ("sweep_id", ID, REQ),
            ("created_at", TIMESTAMP, REQ),  # wall clock of the first run of the sweep
            ("grid_hash", TEXT, REQ),  # the grid as run (base config included)
            ("grid_json", TEXT, REQ),  # the GRID.yaml as given, as JSON
            ("points", COUNT, REQ),
            ("points_json", TEXT, REQ),  # [{run_id, params, seed, market, period}, ...]
        ),
        partition_by=(),
        merge_keys=("sweep_id",),
        time_column="created_at",
        description="One row per parameter sweep: its grid and points (each point a backtest run).",
    ),
    TableSpec(
        name=TableName.RECONCILIATION_EVENTS,
        schema=_schema(
            ("event_id", ID, REQ),
            ("ts", TIMESTAMP, REQ),
            ("kind", TEXT, REQ),  # opened_outside / closed_outside / quantity_mismatch
            ("con_id", COUNT, OPT),
            ("symbol", TEXT, OPT),
            ("lake_quantity", NUMBER, OPT),
            ("broker_quantity", NUMBER, OPT),
            ("detail", TEXT, OPT),
        ),
        partition_by=(),
        merge_keys=("event_id",),
        time_column="ts",
        description="Differences found between the lake and the broker.",
    ),
    TableSpec(
        name=TableName.SCHEDULER_TASKS,
        schema=_schema(
            ("job", TEXT, REQ),
            ("every_minutes", COUNT, REQ),
            ("market_hours_only", FLAG, REQ),
            ("timeout_minutes", COUNT, REQ),
            ("enabled", FLAG, REQ),
            ("updated_at", TIMESTAMP, REQ),
        ),
        partition_by=(),
        merge_keys=("job",),
        time_column="updated_at",
        description="Job intervals, editable at runtime.",
    ),
    TableSpec(
        name=TableName.JOB_RUNS,
        schema=_schema(
            ("run_id", ID, REQ),
            ("job", TEXT, REQ),
            ("started_at", TIMESTAMP, REQ),
            ("finished_at", TIMESTAMP, OPT),
            ("status", TEXT, REQ),  # tradelib.scheduler.RunStatus: running / success / failed / ...
            ("duration_s", NUMBER, OPT),
            ("error", TEXT, OPT),
            ("output_path", TEXT, OPT),
        ),
        partition_by=(),
        merge_keys=("run_id",),
        time_column="started_at",
        description="One row per scheduled job run.",
    ),
    TableSpec(
        name=TableName.MARKET_DATA_SLOTS,
        schema=_schema(
            ("ts", TIMESTAMP, REQ),
            ("streaming_lines", COUNT, REQ),  # streaming lines in use
            ("snapshot_contracts", COUNT, REQ),  # contracts refreshed by snapshots instead
            ("budget", COUNT, REQ),  # market_data.line_budget
            ("reserved", COUNT, REQ),  # lines kept back for futures / index streams
            ("snapshot_load_per_min", NUMBER, OPT),
            ("snapshot_capacity_per_min", NUMBER, OPT),
        ),
        partition_by=(),
        merge_keys=("ts",),
        time_column="ts",
        description="Market-data line use at each monitoring cycle: streaming vs snapshot.",
    ),
    TableSpec(
        name=TableName.REGIME_READINGS,
        schema=_schema(
            ("as_of", DAY, REQ),  # the daily bar the reading is for
            ("ts", TIMESTAMP, REQ),  # when it was last taken
            ("regime", TEXT, OPT),  # after hysteresis; null = unknown
            ("raw", TEXT, OPT),  # what the day's features alone say
            ("candidate", TEXT, OPT),  # a regime waiting for confirmation
            ("streak", COUNT, REQ),  # readings in a row for the candidate
            ("confidence", NUMBER, REQ),
            ("evidence_json", TEXT, OPT),
        ),
        partition_by=(),
        merge_keys=("as_of",),
        time_column="ts",
        description="The regime detector's reading per day, kept for hysteresis across runs.",
    ),
    TableSpec(
        name=TableName.ALERTS,
        schema=_schema(
            ("alert_id", ID, REQ),  # from kind, key and time: writing it twice stores it once
            ("ts", TIMESTAMP, REQ),
            ("kind", TEXT, REQ),  # tradelib.alerts.AlertKind
            ("severity", TEXT, REQ),  # critical / warning / info
            ("key", TEXT, REQ),  # what the alert is about, for deduplication (kind + key)
            ("title", TEXT, REQ),  # masked: no secret, no unmasked account id
            ("message", TEXT, REQ),  # masked
            ("status", TEXT, REQ),  # sent / suppressed / failed
            ("reason", TEXT, OPT),  # why suppressed or failed, per channel
            ("channels", TEXT, OPT),  # channels it went to, comma-separated names
        ),
        partition_by=(),
        merge_keys=("alert_id",),
        time_column="ts",
        description="Every alert raised: sent, suppressed (duplicate, rate limit) or failed.",
    ),
    TableSpec(
        name=TableName.MARKET_TAPE,
        schema=_schema(
            ("day", DAY, REQ),  # the trading day whose jobs asked (the replay reads one day)
            ("key", TEXT, REQ),  # the question and the market time it was asked at
            ("ts", TIMESTAMP, REQ),  # market time asked at
            ("method", TEXT, REQ),  # spot / quote / option_chain / bars / ...
            ("value", BLOB, REQ),  # the exact answer (or error), pickled
        ),
        partition_by=("day",),
        merge_keys=(),  # append-only: a key asked twice has one answer, kept once on read
        time_column="ts",
        description="What the simulated market showed the jobs, answer by answer, for replay.",
    ),
    TableSpec(
        name=TableName.MARKET_HISTORY,
        schema=_schema(
            ("symbol", TEXT, REQ),  # an underlying or the volatility index
            ("day", DAY, REQ),  # the exchange session
            ("open", NUMBER, OPT),  # null: an index file with closes only (derived on read)
            ("high", NUMBER, OPT),
            ("low", NUMBER, OPT),
            ("close", NUMBER, REQ),  # as traded, not dividend-adjusted
            ("volume", COUNT, REQ),  # 0 where the file had none
            ("adj_close", NUMBER, OPT),
            ("source", TEXT, REQ),  # the file it was imported from (name only)
            ("imported_at", TIMESTAMP, REQ),
        ),
        partition_by=("symbol",),
        merge_keys=("symbol", "day"),
        time_column="imported_at",
        description="Daily bars imported for backtests: every machine and sweep worker reads these.",
    ),
    TableSpec(
        name=TableName.REPLAY_CHECKPOINTS,
        schema=_schema(
            ("day", DAY, REQ),
            ("ts", TIMESTAMP, REQ),  # market time of the account state
            ("created_at", TIMESTAMP, REQ),  # wall clock
            ("broker_state", BLOB, REQ),  # the simulated account at the day's start, pickled
            ("start_versions_json", TEXT, REQ),  # {table: Delta version} before the day's jobs
            ("end_versions_json", TEXT, OPT),  # {table: Delta version} after them
            ("slots_json", TEXT, REQ),  # [[job, market time], ...] as the day ran them
            ("config_json", TEXT, REQ),  # the trading config the jobs ran with (no secrets)
        ),
        partition_by=(),
        merge_keys=("day",),
        time_column="ts",
        description="A replayable day: the account and the lake's versions at its start.",
    ),
)

TABLES: dict[str, TableSpec] = {spec.name: spec for spec in _SPECS}
