"""Broker-neutral domain types: contracts, quotes, positions, strategies, orders, decisions."""

from tradelib.domain.contracts import Contract
from tradelib.domain.decisions import Decision
from tradelib.domain.enums import (
    Action,
    DecisionAction,
    MarketRegime,
    OrderPurpose,
    OrderStatus,
    OrderType,
    Right,
    SecType,
    StrategyType,
    TimeInForce,
    TradingMode,
    Urgency,
)
from tradelib.domain.market import (
    Dividend,
    OptionGreeks,
    Quote,
    QuoteCheck,
    QuoteProblem,
    check_quote,
    require_valid_quote,
)
from tradelib.domain.orders import (
    Fill,
    OrderError,
    OrderIntent,
    OrderState,
    ParsedOrderRef,
    make_order_ref,
    net_prices,
    parse_order_ref,
)
from tradelib.domain.positions import AccountSnapshot, Position
from tradelib.domain.strategies import Leg, PayoffProfile, Strategy, expiry_pnl, payoff_profile
from tradelib.domain.time import NEW_YORK, ensure_utc, new_york, utc

__all__ = [
    "NEW_YORK",
    "AccountSnapshot",
    "Action",
    "Contract",
    "Decision",
    "DecisionAction",
    "Dividend",
    "Fill",
    "Leg",
    "MarketRegime",
    "OptionGreeks",
    "OrderError",
    "OrderIntent",
    "OrderPurpose",
    "OrderState",
    "OrderStatus",
    "OrderType",
    "ParsedOrderRef",
    "PayoffProfile",
    "Position",
    "Quote",
    "QuoteCheck",
    "QuoteProblem",
    "Right",
    "SecType",
    "Strategy",
    "StrategyType",
    "TimeInForce",
    "TradingMode",
    "Urgency",
    "check_quote",
    "ensure_utc",
    "expiry_pnl",
    "make_order_ref",
    "net_prices",
    "new_york",
    "parse_order_ref",
    "payoff_profile",
    "require_valid_quote",
    "utc",
]
