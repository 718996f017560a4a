"""Enumerations shared across the engine (broker-neutral)."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class SecType(StrEnum):
    STOCK = "STK"
    INDEX = "IND"
    FUTURE = "FUT"
    OPTION = "OPT"
    COMBO = "BAG"


class Right(StrEnum):
    CALL = "C"
    PUT = "P"


class Action(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell."""
        return 1 if self is Action.BUY else -1

    @property
    def opposite(self) -> Action:
        return Action.SELL if self is Action.BUY else Action.BUY


class OrderType(StrEnum):
    LIMIT = "LMT"
    MARKET = "MKT"


class TimeInForce(StrEnum):
    DAY = "DAY"
    GTC = "GTC"


class OrderStatus(StrEnum):
    """Lifecycle of an order, from our intent to a terminal state."""

    PENDING = "pending"  # intent stored, not yet acknowledged by the broker
    SUBMITTED = "submitted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @property
    def is_terminal(self) -> bool:
        return self in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED)


class OrderPurpose(StrEnum):
    """Why an order exists: opening, closing or rolling a strategy."""

    OPEN = "open"
    CLOSE = "close"
    ROLL = "roll"
    REDUCE = "reduce"


class Urgency(IntEnum):
    """How urgently a decision must be executed (lower value = more urgent)."""

    IMMEDIATE = 0
    HIGH = 1
    NORMAL = 2
    LOW = 3


class MarketRegime(StrEnum):
    CRASH = "crash"
    HIGH_VOL = "high_vol"
    NORMAL = "normal"
    LOW_VOL = "low_vol"
    TRENDING = "trending"
    RANGE_BOUND = "range_bound"


class StrategyType(StrEnum):
    SHORT_PUT = "short_put"
    SHORT_CALL = "short_call"
    PUT_CREDIT_SPREAD = "put_credit_spread"
    CALL_CREDIT_SPREAD = "call_credit_spread"
    IRON_CONDOR = "iron_condor"
    SHORT_STRANGLE = "short_strangle"
    SINGLE_LEG = "single_leg"
    STOCK = "stock"
    CUSTOM = "custom"


class DecisionAction(StrEnum):
    HOLD = "hold"
    CLOSE = "close"
    ROLL = "roll"
    REDUCE = "reduce"


class TradingMode(StrEnum):
    SIM = "sim"
    PAPER = "paper"
    LIVE = "live"
    READONLY = "readonly"

    @property
    def may_place_orders(self) -> bool:
        return self is not TradingMode.READONLY
