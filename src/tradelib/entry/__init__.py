"""Strategy entry: columnar option chains, skew-aware strikes and ranked candidates.

``OptionChain`` holds a chain as arrays; ``SmartStrikeSelector`` reads the skew
and finds strikes by delta; ``StrategySelector`` turns chains into a
``Selection`` of ranked ``Candidate``s and ``Rejection``s with reasons;
``EntryCosts`` and ``StrategyShape`` (``entry.edge``) are its cost model and
its near-duplicate test.
"""

from tradelib.entry.candidates import LEG_PLANS, Candidate, Rejection, Selection
from tradelib.entry.chain import ExpiryChain, OptionChain, years_to_expiry
from tradelib.entry.edge import EntryCosts, StrategyShape, strikes_apart
from tradelib.entry.probability import (
    expected_payoff,
    expected_value,
    expiry_pnl,
    prob_above,
    probability_of_profit,
)
from tradelib.entry.selector import StrategySelector, atm_vol
from tradelib.entry.strikes import (
    SkewAwareStrikes,
    SkewInterpretation,
    SkewReading,
    SmartStrikeSelector,
    StrikePick,
    nearest_delta_row,
)

__all__ = [
    "LEG_PLANS",
    "Candidate",
    "EntryCosts",
    "ExpiryChain",
    "OptionChain",
    "Rejection",
    "Selection",
    "SkewAwareStrikes",
    "SkewInterpretation",
    "SkewReading",
    "SmartStrikeSelector",
    "StrategySelector",
    "StrategyShape",
    "StrikePick",
    "atm_vol",
    "expected_payoff",
    "expected_value",
    "expiry_pnl",
    "nearest_delta_row",
    "prob_above",
    "probability_of_profit",
    "strikes_apart",
    "years_to_expiry",
]
