"""Market data within IB's line budget: stream what is near a trigger, snapshot the rest."""

from tradelib.marketdata.priority import (
    SlotPolicy,
    SlotTier,
    TriggerDistance,
    plan_streams,
    trigger_distance,
)
from tradelib.marketdata.slots import (
    Admission,
    MarketDataSlotManager,
    RebalanceResult,
    SlotMode,
    SlotUsage,
)

__all__ = [
    "Admission",
    "MarketDataSlotManager",
    "RebalanceResult",
    "SlotMode",
    "SlotPolicy",
    "SlotTier",
    "SlotUsage",
    "TriggerDistance",
    "plan_streams",
    "trigger_distance",
]
