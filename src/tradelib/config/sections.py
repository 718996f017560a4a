"""One configuration model per component (everything but IB and storage)."""

from __future__ import annotations

import zoneinfo
from datetime import date, time
from typing import Annotated, Any, Literal, Self

from pydantic import Field, StrictBool, ValidationInfo, field_validator, model_validator

from tradelib.config.base import (
    RULE_NAMES,
    STRATEGY_NAMES,
    ConfigModel,
    JobName,
    RegimeName,
    RuleName,
    StrategyName,
)
from tradelib.config.problems import suggest

PositiveFloat = Annotated[float, Field(gt=0, le=1e6)]
Weight = Annotated[float, Field(ge=0, le=100)]
# A ticker as IB spells it: SPY, BRK.B, ES.
Symbol = Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9.]{0,11}$")]
# 30 days: a task that runs less often than that is not a scheduled task.
MAX_TASK_MINUTES = 43_200
Fraction = Annotated[float, Field(gt=0, le=1)]


def _merge_over(defaults: dict[str, Any], given: Any) -> Any:
    """Merge a user mapping over defaults so naming one entry keeps the others."""
    if not isinstance(given, dict):
        return given  # let pydantic report the type error
    return {**defaults, **given}


class RefreshIntervals(ConfigModel):
    """How often things are refreshed, in seconds."""

    streaming_rebalance_s: float = Field(default=60.0, gt=0, le=86_400)
    snapshot_near_trigger_s: float = Field(default=30.0, gt=0, le=86_400)
    snapshot_normal_s: float = Field(default=120.0, gt=0, le=86_400)
    snapshot_far_s: float = Field(default=300.0, gt=0, le=86_400)
    account_s: float = Field(default=60.0, gt=0, le=86_400)
    positions_s: float = Field(default=60.0, gt=0, le=86_400)


class MarketDataConfig(ConfigModel):
    """Streaming market-data line budget and quote freshness."""

    line_budget: int = Field(default=100, gt=0, le=10_000)
    # Kept back for futures / index streams; option legs never use them.
    reserved_lines: int = Field(default=10, ge=0)
    max_quote_age_s: float = Field(default=15.0, gt=0, le=3600)
    # Slot priorities: each exit trigger's distance is scaled so 1.0 means "far"; a
    # strategy's score is its smallest one (see tradelib.marketdata.slots).
    far_trigger_sd: float = Field(default=2.0, gt=0, le=20)  # short strike this many SDs from spot
    far_trigger_days: int = Field(default=14, gt=0, le=3650)  # days of DTE left before the DTE exit
    near_trigger_score: float = Field(default=0.25, gt=0, le=100)  # at or below: near trigger
    far_trigger_score: float = Field(default=0.75, gt=0, le=100)  # at or above: far from triggers
    # Option quotes per minute the snapshot path may request; a new strategy that
    # cannot stream and would push the snapshot load past this is refused.
    snapshot_capacity_per_min: float = Field(default=600.0, gt=0, le=1_000_000)

    @field_validator("far_trigger_score")
    @classmethod
    def _scores_ordered(cls, value: float, info: ValidationInfo) -> float:
        near = info.data.get("near_trigger_score")
        if near is not None and value <= near:
            raise ValueError(f"must be > market_data.near_trigger_score ({near}), got {value}")
        return value

    @field_validator("reserved_lines")
    @classmethod
    def _below_budget(cls, value: int, info: ValidationInfo) -> int:
        budget = info.data.get("line_budget")
        if budget is not None and value >= budget:
            raise ValueError(f"must be < market_data.line_budget ({budget}), got {value}")
        return value


class TradingLimits(ConfigModel):
    """Hard caps on how much the system may trade."""

    max_positions: int = Field(default=20, ge=0, le=10_000)
    max_new_entries_per_day: int = Field(default=5, ge=0, le=10_000)
    max_contracts_per_order: int = Field(default=10, gt=0, le=10_000)
    max_orders_per_minute: int = Field(default=10, gt=0, le=10_000)


class RegimeProfitTargets(ConfigModel):
    """Take-profit threshold per market regime, as a fraction of max profit."""

    crash: Fraction = 0.40
    high_vol: Fraction = 0.50
    normal: Fraction = 0.80
    low_vol: Fraction = 0.90
    trending: Fraction = 0.85
    range_bound: Fraction = 0.80


class ProfitTargets(ConfigModel):
    """Fixed and regime-dependent take-profit thresholds."""

    fixed: Fraction = 0.50
    dynamic_enabled: StrictBool = True
    regime: RegimeProfitTargets = Field(default_factory=RegimeProfitTargets)


class RulesConfig(ConfigModel):
    """Thresholds of the decision rules engine."""

    stop_loss_multiple: float = Field(default=2.0, gt=0, le=100)  # loss as a multiple of credit
    expiration_proximity_pct: Fraction = 0.01  # short strike within this of spot on 0 DTE
    delta_breach: Fraction = 0.40  # abs(short-leg delta)
    gamma_dte: int = Field(default=7, ge=0, le=3650)
    # Absolute position gamma: sum over legs of gamma x multiplier x quantity, i.e.
    # shares of delta gained per $1 move of the underlying.
    max_position_gamma: float = Field(default=50.0, gt=0, le=1e9)
    dte_exit: int = Field(default=21, ge=0, le=3650)
    vol_expansion_pct: float = Field(default=0.50, gt=0, le=100)  # relative IV rise since entry
    roll_min_credit: float = Field(default=0.05, ge=0, le=10_000)  # dollars per share
    # A short leg at or above this abs delta is "tested": the roll-opportunity rule looks
    # for a credit roll from here, before the delta breach forces a close or roll.
    roll_tested_delta: Fraction = 0.30
    enabled: dict[RuleName, StrictBool] = Field(
        default_factory=lambda: dict.fromkeys(RULE_NAMES, True)
    )

    @field_validator("enabled", mode="before")
    @classmethod
    def _merge_enabled(cls, value: Any) -> Any:
        return _merge_over(dict.fromkeys(RULE_NAMES, True), value)

    def is_enabled(self, rule: RuleName) -> bool:
        """Return whether ``rule`` may fire."""
        return self.enabled.get(rule, True)

    @model_validator(mode="after")
    def _tested_before_breach(self) -> Self:
        if self.roll_tested_delta >= self.delta_breach:
            raise ValueError(
                f"roll_tested_delta ({self.roll_tested_delta}) must be < "
                f"delta_breach ({self.delta_breach})"
            )
        return self


class RegimeDetectorConfig(ConfigModel):
    """Thresholds of the market regime detector (VIX, realized vol, trend, drawdown).

    Windows are in daily bars. Volatilities are annualised decimals (0.25 = 25%),
    VIX in index points.
    """

    crash_vix: float = Field(default=40.0, gt=0, le=1000)  # VIX at or above: crash
    high_vol_vix: float = Field(default=24.0, gt=0, le=1000)  # VIX at or above: high_vol
    low_vol_vix: float = Field(
        default=18.0, gt=0, le=1000
    )  # VIX at or below (and calm rv): low_vol
    # VIX / VIX3M (when a 3-month series is given): backwardation is stress.
    backwardation_ratio: float = Field(default=1.0, gt=0, le=100)  # at or above: at least high_vol
    crash_term_ratio: float = Field(default=1.15, gt=0, le=100)  # at or above, with high VIX: crash
    rv_window: int = Field(default=5, ge=2, le=5000)  # realized vol of close-to-close returns
    shock_window: int = Field(default=3, ge=1, le=5000)  # short realized vol, reacts within days
    high_vol_rv: float = Field(default=0.20, gt=0, le=100)  # realized vol at or above: high_vol
    # Realized vol at or below allows low_vol; a high VIX over realized vol this calm is
    # fear fading, so VIX alone no longer makes it high_vol.
    low_vol_rv: float = Field(default=0.14, gt=0, le=100)
    crash_rv: float = Field(default=0.70, gt=0, le=100)  # short realized vol at or above ...
    crash_drawdown: Fraction = 0.08  # ... with this drawdown from the recent high: crash
    drawdown_window: int = Field(default=20, ge=2, le=5000)  # recent high over this many days
    trend_window: int = Field(default=10, ge=2, le=5000)  # efficiency ratio and trend return
    trend_efficiency: Fraction = 0.6  # efficiency ratio at or above (and a move): trending
    trend_min_return: float = Field(default=0.02, ge=0, le=100)  # abs log move over trend_window
    range_efficiency: Fraction = 0.2  # efficiency ratio at or below: range_bound
    # Hysteresis (on the way down; a step up into high_vol or crash is admitted at once):
    # a new regime must show up this many readings in a row ...
    confirm_readings: int = Field(default=2, ge=1, le=1000)
    # ... unless it is a smaller step up in danger that beats its threshold by this fraction.
    switch_margin: float = Field(default=0.15, ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        pairs = (
            ("low_vol_vix", self.low_vol_vix, "high_vol_vix", self.high_vol_vix),
            ("high_vol_vix", self.high_vol_vix, "crash_vix", self.crash_vix),
            ("low_vol_rv", self.low_vol_rv, "high_vol_rv", self.high_vol_rv),
            ("high_vol_rv", self.high_vol_rv, "crash_rv", self.crash_rv),
            ("range_efficiency", self.range_efficiency, "trend_efficiency", self.trend_efficiency),
            (
                "backwardation_ratio",
                self.backwardation_ratio,
                "crash_term_ratio",
                self.crash_term_ratio,
            ),
        )
        for low_name, low, high_name, high in pairs:
            if low >= high:
                raise ValueError(f"{low_name} ({low}) must be < {high_name} ({high})")
        return self


class SkewConfig(ConfigModel):
    """Skew-aware strike selection: ratio = put IV / call IV at matching deltas."""

    matching_delta: Fraction = 0.25
    high_put: float = Field(default=1.2, gt=0, le=100)  # ratio above this = high put skew
    high_call: float = Field(default=0.8, gt=0, le=100)  # ratio below this = high call skew
    adjust_pct: float = Field(
        default=0.20, ge=0, le=100
    )  # raise the expensive side's delta by this
    max_delta: Fraction = 0.30  # cap on the raised target delta

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.high_call >= self.high_put:
            raise ValueError(f"high_call ({self.high_call}) must be < high_put ({self.high_put})")
        return self


class StrategiesConfig(ConfigModel):
    """Which strategies to open, where, and the entry filters."""

    enabled: list[StrategyName] = Field(default_factory=lambda: list(STRATEGY_NAMES))
    underlyings: list[Symbol] = Field(
        default_factory=lambda: ["SPY", "QQQ", "IWM"], min_length=1, max_length=100
    )
    dte_min: int = Field(default=30, ge=0, le=3650)
    dte_max: int = Field(default=45, ge=0, le=3650)
    target_delta: Fraction = 0.16
    # Spread wing width in strike points per underlying; entries merge over the defaults.
    wing_widths: dict[Symbol, PositiveFloat] = Field(
        default_factory=lambda: {"SPY": 5.0, "QQQ": 5.0, "IWM": 3.0}
    )
    min_credit: float = Field(default=0.30, ge=0, le=10_000)  # dollars per share
    # Strategy units each new entry opens (capped by trading_limits.max_contracts_per_order).
    entry_quantity: int = Field(default=1, gt=0, le=10_000)
    # Entries and rolls stay off contracts another open strategy holds (in either direction).
    # Off: they may share them; each strategy is still booked from its own fills.
    avoid_held_contracts: StrictBool = True
    max_bid_ask_width: float = Field(default=0.10, gt=0, le=10_000)  # dollars, absolute
    max_bid_ask_width_pct: Fraction = 0.15  # of mid
    # Minimum edge (tradelib.entry.edge): expected P&L per strategy unit after modelled
    # slippage and round-trip commissions must be above this many dollars (negative:
    # accept up to that modelled loss).
    min_net_edge: float = Field(default=0.0, ge=-1e12, le=1e12)
    slippage_fraction: float = Field(default=0.6, ge=0, le=1)  # of credit at mid - at natural
    commission_per_contract: float = Field(
        default=0.65, ge=0, le=100
    )  # dollars per option contract
    commission_min_per_order: float = Field(default=1.0, ge=0)  # dollars per order
    # ev_per_risk: net EV / risk capital (max loss; Reg-T margin with naked shorts); ev: net EV.
    ranking: Literal["ev_per_risk", "ev"] = "ev_per_risk"
    # Same underlying, type and expiry with short strikes within this many listed strikes ...
    near_duplicate_strikes: int = Field(default=2, ge=0, le=1000)
    # Expiries this many days apart or fewer count as one for the near-duplicate cap
    # (a weekly beside a weekly two days later is the same trade).
    near_duplicate_days: int = Field(default=7, ge=0, le=3650)
    # ... is a near-duplicate; at most this many of them may join one strategy.
    max_near_duplicates: int = Field(default=0, ge=0, le=1000)
    # Continuously compounded; prices model greeks and, with put-call parity, the forward
    # behind probability of profit and expected value.
    risk_free_rate: float = Field(default=0.04, ge=-0.05, le=0.25)
    skew: SkewConfig = Field(default_factory=SkewConfig)

    @field_validator("enabled")
    @classmethod
    def _no_duplicate_strategies(cls, value: list[StrategyName]) -> list[StrategyName]:
        dupes = sorted({s for s in value if value.count(s) > 1})
        if dupes:
            raise ValueError(f"strategies listed more than once: {dupes}")
        return value

    @field_validator("dte_max")
    @classmethod
    def _dte_window(cls, value: int, info: ValidationInfo) -> int:
        low = info.data.get("dte_min")
        if low is not None and value < low:
            raise ValueError(f"must be >= strategies.dte_min ({low}), got {value}")
        return value

    @field_validator("wing_widths", mode="before")
    @classmethod
    def _merge_wings(cls, value: Any) -> Any:
        return _merge_over({"SPY": 5.0, "QQQ": 5.0, "IWM": 3.0}, value)

    @field_validator("wing_widths")
    @classmethod
    def _wing_per_underlying(
        cls, value: dict[str, float], info: ValidationInfo
    ) -> dict[str, float]:
        missing = [u for u in info.data.get("underlyings", []) if u not in value]
        if missing:
            raise ValueError(f"no wing width for strategies.underlyings {missing}")
        return value


class CircuitBreakerConfig(ConfigModel):
    """When to halt new entries (exits stay allowed)."""

    daily_loss_limit: float = Field(default=2000.0, gt=0, le=1e9)  # dollars
    max_consecutive_failures: int = Field(default=3, gt=0, le=10_000)
    max_orders_per_minute: int = Field(default=10, gt=0, le=10_000)
    cooldown_minutes: int = Field(default=60, ge=0, le=525_600)


class RiskConfig(ConfigModel):
    """Portfolio-level limits."""

    # Beta-weighted delta in SPY-equivalent shares.
    max_portfolio_delta: float = Field(default=500.0, gt=0, le=1e9)
    max_underlying_concentration: Fraction = 0.40
    max_correlated_exposure: Fraction = 0.60
    correlation_threshold: Fraction = 0.70
    correlation_lookback_days: int = Field(default=60, ge=2, le=10_000)
    max_margin_use: Fraction = 0.50
    # A book already over a limit (prices moved): monitoring refuses rolls that feed the
    # breach and closes the strategies that cut it most. Off: breaches are only recorded.
    reduce_on_breach: StrictBool = True
    # ... once past the limit by this fraction of it (entry fills up to a limit: without a
    # band a book drifting a hair over would be cut and refilled day after day).
    breach_tolerance: Fraction = 0.10
    circuit_breaker: CircuitBreakerConfig = Field(default_factory=CircuitBreakerConfig)


class ExecutionConfig(ConfigModel):
    """Combo limit-order price walk from mid toward natural."""

    price_walk_steps: int = Field(default=5, gt=0, le=1000)
    step_interval_s: float = Field(default=10.0, gt=0, le=3600)
    order_timeout_s: float = Field(default=120.0, gt=0, le=86_400)
    # An exit may pay up to its natural debit at the decision plus this much slack
    # (the larger of the two), so a market moving against a close still fills.
    exit_tolerance_pct: float = Field(default=0.10, ge=0, le=100)  # of the natural debit
    exit_min_tolerance: float = Field(default=0.05, ge=0, le=10_000)  # dollars per share
    reduce_fraction: Fraction = 0.5  # of the units a reduce closes (at least one)


class VarianceAnalysisConfig(ConfigModel):
    """Prediction-vs-actual analysis and the strategy weights derived from it."""

    lookback_days: int = Field(default=30, gt=0, le=10_000)
    min_predictions: int = Field(default=10, gt=0, le=1_000_000)
    mae_scale: float = Field(default=0.40, gt=0, le=1000)
    min_weight: Fraction = 0.5
    max_penalty: Fraction = 0.5
    # Manual weights that replace the computed ones (overall and per regime).
    strategy_weights: dict[StrategyName, Weight] = Field(default_factory=dict)
    # regime -> strategy -> multiplier on that regime's weight; names are checked so a
    # typo fails loudly instead of silently adjusting nothing.
    regime_adjustments: dict[RegimeName, dict[StrategyName, Weight]] = Field(default_factory=dict)


class FuturesConfig(ConfigModel):
    """Futures collection and futures-vs-spot analysis."""

    symbols: list[Symbol] = Field(default_factory=lambda: ["ES", "NQ", "RTY"], max_length=100)
    bar_seconds: int = Field(default=1, gt=0, le=86_400)
    flush_interval_s: int = Field(default=60, gt=0, le=86_400)
    roll_days_before_expiry: int = Field(default=8, ge=0, le=365)
    min_days_for_analysis: int = Field(default=7, gt=0, le=3650)
    asof_tolerance_s: int = Field(default=5, ge=0, le=86_400)
    correlation_window_s: int = Field(default=300, gt=0, le=86_400 * 30)
    max_lag_s: int = Field(default=30, ge=0, le=86_400)
    # future -> spot ETF it leads; entries merge over the defaults.
    spot_pairs: dict[Symbol, Symbol] = Field(
        default_factory=lambda: {"ES": "SPY", "NQ": "QQQ", "RTY": "IWM"}
    )

    @field_validator("spot_pairs", mode="before")
    @classmethod
    def _merge_pairs(cls, value: Any) -> Any:
        return _merge_over({"ES": "SPY", "NQ": "QQQ", "RTY": "IWM"}, value)


class TaskSchedule(ConfigModel):
    """How often a job runs and how long it may take."""

    every_minutes: int = Field(default=5, gt=0, le=MAX_TASK_MINUTES)
    market_hours_only: StrictBool = True
    timeout_minutes: int = Field(default=10, gt=0, le=MAX_TASK_MINUTES)
    enabled: StrictBool = True


def _default_tasks() -> dict[JobName, dict[str, Any]]:
    return {
        "sync": {"every_minutes": 5, "market_hours_only": True, "timeout_minutes": 5},
        "entry": {"every_minutes": 30, "market_hours_only": True, "timeout_minutes": 10},
        "monitoring": {"every_minutes": 5, "market_hours_only": True, "timeout_minutes": 5},
        "variance": {"every_minutes": 1440, "market_hours_only": False, "timeout_minutes": 10},
        "maintenance": {
            "every_minutes": 1440,
            "market_hours_only": False,
            "timeout_minutes": 20,
        },
        # after the close: its 1440-minute slot starts at local midnight; it reports the last closed session
        "daily_report": {
            "every_minutes": 1440,
            "market_hours_only": False,
            "timeout_minutes": 15,
        },
    }


# Calendars exchange_calendars is known to have (checked by a test), accepted without
# importing it; any other name is looked up.
_COMMON_CALENDARS = frozenset({"XNYS", "NYSE", "XNAS", "NASDAQ", "XCBF", "CMES"})


_ENTRY_JOBS: tuple[JobName, ...] = ("entry",)
_BROKER_JOBS: tuple[JobName, ...] = ("sync", "entry", "monitoring")


class PreflightGateConfig(ConfigModel):
    """The scheduler's daily preflight: no go, no new entries (SPEC 13, issue 19).

    Before the first broker job of a trading day the runner runs ``tradelib
    preflight``; on a no-go it skips ``entry_jobs`` and re-checks at most every
    ``recheck_minutes``. Exits (monitoring) and sync keep running, as under the
    circuit breaker, unless the failure is the session itself (wrong account or
    port): then every broker job is held, since even a closing order would go to
    the wrong place. Never run in ``ib.mode: sim`` (nothing to check).
    """

    enabled: bool = True
    recheck_minutes: int = Field(default=15, ge=1, le=24 * 60)
    entry_jobs: list[JobName] = Field(default_factory=lambda: list(_ENTRY_JOBS))  # held on no-go
    # jobs that talk to the broker: they trigger the preflight, and all are held on a
    # wrong-account / wrong-port no-go
    broker_jobs: list[JobName] = Field(default_factory=lambda: list(_BROKER_JOBS))

    @model_validator(mode="after")
    def _entries_are_broker_jobs(self) -> Self:
        stray = sorted(set(self.entry_jobs) - set(self.broker_jobs))
        if stray:
            raise ValueError(f"entry_jobs {stray} must also be in broker_jobs")
        return self


class SchedulerConfig(ConfigModel):
    """Initial job schedule (the runner's live copy is in the lake) and market calendar."""

    # Jobs named here merge field by field over the defaults; the others keep theirs.
    tasks: dict[JobName, TaskSchedule] = Field(
        default_factory=lambda: {k: TaskSchedule(**v) for k, v in _default_tasks().items()}
    )
    calendar: str = Field(default="XNYS", min_length=1, max_length=32)  # exchange_calendars name
    timezone: str = "America/New_York"
    preflight: PreflightGateConfig = Field(default_factory=PreflightGateConfig)
    # The daily IB Gateway / TWS restart, "HH:MM" in ``timezone`` (null: none). Broker jobs
    # due within ``broker_restart_window_minutes`` of it wait for the first tick after.
    broker_restart: str | None = None
    broker_restart_window_minutes: int = Field(default=10, ge=1, le=120)

    @field_validator("broker_restart")
    @classmethod
    def _restart_time(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            time.fromisoformat(value)
        except ValueError:
            raise ValueError(f"must be a time HH:MM, got {value!r}") from None
        if len(value) != 5:
            raise ValueError(f"must be a time HH:MM, got {value!r}")
        return value

    @field_validator("tasks", mode="before")
    @classmethod
    def _merge_tasks(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        merged: dict[str, Any] = {str(k): v for k, v in _default_tasks().items()}
        for name, given in value.items():
            if isinstance(given, TaskSchedule):
                given = given.model_dump()
            if isinstance(given, dict) and name in merged:
                merged[name] = {**merged[name], **given}
            else:
                merged[name] = given
        return merged

    @field_validator("calendar")
    @classmethod
    def _known_calendar(cls, value: str) -> str:
        if value in _COMMON_CALENDARS:
            return value  # no need to import exchange_calendars (~1 s) for these
        import exchange_calendars as xcals  # slow import (~1 s): only on this rare path

        names = xcals.get_calendar_names(include_aliases=True)
        if value not in names:
            hint = suggest(value, names)
            raise ValueError(f"unknown exchange calendar {value!r}{hint}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class SimulationConfig(ConfigModel):
    """The embedded simulated market."""

    seed: int = Field(default=7, ge=0, le=2**32 - 1)  # numpy seeds are unsigned 32-bit
    speed: float = Field(
        default=60.0, gt=0, le=1_000_000
    )  # simulated seconds per wall-clock second
    # None: the simulation picks its own start. Not strict: a date given as text
    # ("2026-11-24", e.g. through with_overrides) is a date all the same.
    start_date: date | None = Field(
        default=None, ge=date(1990, 1, 1), le=date(2100, 12, 31), strict=False
    )
    initial_cash: float = Field(default=100_000.0, gt=0, le=1e12)  # dollars
    # simulated account between job runs (relative: workspace)
    state_path: str = Field(default="data/sim/broker.pkl", min_length=1, max_length=4096)
    # Record every answer the simulated market gives a job (lake table market_tape, about
    # 1-2 MB a day) so a day with a checkpoint can be replayed: `tradelib backtest --source lake`.
    record_tape: bool = True


class SweepsConfig(ConfigModel):
    """Where `tradelib sweep` runs its backtests (issue 16): a LocalCluster or a dask cluster."""

    # The dask scheduler of an existing cluster (dask-kubernetes, dask-jobqueue, Coiled, or
    # `dask scheduler` on a host); null runs a LocalCluster of `workers` processes here.
    # --scheduler and TRADELIB_SWEEP_SCHEDULER override it.
    scheduler: str | None = Field(
        default=None,
        pattern=r"^(tcp|tls|inproc|ucx|ws|wss)://[^\s/]+(:\d{1,5})?/?$",
        max_length=256,
    )
    workers: int = Field(default=2, ge=0, le=256)  # LocalCluster processes (0: one at a time here)
