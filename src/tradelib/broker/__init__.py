"""The broker port and its implementations."""

from tradelib.broker.port import (
    Broker,
    BrokerEvent,
    ConnectionEvent,
    EventHub,
    FillEvent,
    OptionChainInfo,
    OrderStatusEvent,
    QuoteEvent,
)

__all__ = [
    "Broker",
    "BrokerEvent",
    "ConnectionEvent",
    "EventHub",
    "FillEvent",
    "OptionChainInfo",
    "OrderStatusEvent",
    "QuoteEvent",
]
