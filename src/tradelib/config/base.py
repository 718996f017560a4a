"""The base every configuration model shares, and the shared vocabularies."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

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

STRATEGY_NAMES: tuple[StrategyName, ...] = get_args(StrategyName)
REGIME_NAMES: tuple[RegimeName, ...] = get_args(RegimeName)
RULE_NAMES: tuple[RuleName, ...] = get_args(RuleName)


class ConfigModel(BaseModel):
    """Base of every config section: immutable, and unknown keys are errors."""

    # validate_default: cross-field checks (dte_min <= dte_max...) must also run when
    # only one side of the pair is given in the file.
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)
