"""The base every configuration model shares, and the shared vocabularies."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, field_validator

IBMode = Literal["sim", "paper", "live", "readonly"]
StrategyName = Literal[
    "short_put", "put_credit_spread", "call_credit_spread", "iron_condor", "short_strangle"
]
RegimeName = Literal["crash", "high_vol", "normal", "low_vol", "trending", "range_bound"]
RuleName = Literal[
    "stop_loss",
    "expiration_day",
    "short_strike_breached",
    "delta_breach",
    "assignment_risk",
    "gamma_risk",
    "dynamic_take_profit",
    "fixed_take_profit",
    "dte_exit",
    "volatility_expansion",
    "roll_opportunity",
    "hold",
]

# The scheduled jobs (one notebook each in notebooks/); a scheduler task must name one.
JobName = Literal["sync", "entry", "monitoring", "variance", "maintenance", "daily_report"]
JOB_NAMES: tuple[str, ...] = get_args(JobName)
# Largest absolute number any setting may hold (per-field ranges are tighter).
MAX_MAGNITUDE = 1e12

STRATEGY_NAMES: tuple[StrategyName, ...] = get_args(StrategyName)
REGIME_NAMES: tuple[RegimeName, ...] = get_args(RegimeName)
RULE_NAMES: tuple[RuleName, ...] = get_args(RuleName)


class ConfigModel(BaseModel):
    """Base of every config section: immutable, and unknown keys are errors."""

    # validate_default: cross-field checks (dte_min <= dte_max...) must also run when
    # only one side of the pair is given in the file.
    # strict: YAML already gives typed values, so `port: true` or `allow_live: "yes"`
    # is a mistake to report, not something to coerce (True would be port 1).
    # allow_inf_nan=False: `.inf` would switch a limit off (max_quote_age_s: .inf
    # means no quote is ever stale).
    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_default=True, strict=True, allow_inf_nan=False
    )

    @field_validator("*", mode="after")
    @classmethod
    def _sane_scalar(cls, value: Any) -> Any:
        # Safety nets under the per-field rules. No setting needs a number this big:
        # huge ints (10**30 retries) or floats (1e308) only overflow later. A blank or
        # control-character string is never a valid host, path or name.
        if isinstance(value, int | float) and not isinstance(value, bool):
            if abs(value) > MAX_MAGNITUDE:
                raise ValueError(f"must be between -{MAX_MAGNITUDE:.0e} and {MAX_MAGNITUDE:.0e}")
        elif isinstance(value, str):
            if not value.strip():
                raise ValueError("must not be blank")
            if value != value.strip():
                raise ValueError(f"must not start or end with spaces, got {value!r}")
            if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
                raise ValueError(f"must not contain control characters, got {value!r}")
        return value
