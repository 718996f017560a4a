"""The decision rules engine: twelve priority-ordered rules over each open strategy.

Pure: ``build_strategy_state`` + ``MarketState`` + the time go into
``DecisionEngine.evaluate``; a ``Decision`` comes out. Storing decisions is in
``tradelib.stores.decisions`` (kept out of this import so the pure core loads no
lake machinery).
"""

from tradelib.rules.engine import DecisionEngine, default_rules
from tradelib.rules.rules import (
    RULE_CLASSES,
    AssignmentRisk,
    DeltaBreach,
    DteExit,
    DynamicTakeProfit,
    ExpirationDay,
    FixedTakeProfit,
    GammaRisk,
    Hold,
    RollOpportunity,
    Rule,
    ShortStrikeBreached,
    StopLoss,
    VolatilityExpansion,
    decision_id,
    roll_or_close,
)
from tradelib.rules.state import (
    DividendInfo,
    LegState,
    MarketState,
    StrategyState,
    build_strategy_state,
)

__all__ = [
    "RULE_CLASSES",
    "AssignmentRisk",
    "DecisionEngine",
    "DeltaBreach",
    "DividendInfo",
    "DteExit",
    "DynamicTakeProfit",
    "ExpirationDay",
    "FixedTakeProfit",
    "GammaRisk",
    "Hold",
    "LegState",
    "MarketState",
    "RollOpportunity",
    "Rule",
    "ShortStrikeBreached",
    "StopLoss",
    "StrategyState",
    "VolatilityExpansion",
    "build_strategy_state",
    "decision_id",
    "default_rules",
    "roll_or_close",
]
