"""Position sync: reconcile the broker with the lake and keep the strategy registry.

``run_sync`` / ``SyncWorkflow`` (the job), ``StrategyRegistry`` (legs into
strategies, pure), ``tradelib.sync.reconcile`` (differences as events, pure)
and ``SyncStore`` (the lake adapter).
"""

from tradelib.sync.model import CloseReason, HeldLeg, StrategyRecord, StrategyStatus
from tradelib.sync.reconcile import ReconEvent, ReconKind
from tradelib.sync.registry import Assignment, FillFact, RegistryUpdate, StrategyRegistry

__all__ = [
    "Assignment",
    "CloseReason",
    "FillFact",
    "HeldLeg",
    "ReconEvent",
    "ReconKind",
    "RegistryUpdate",
    "StrategyRecord",
    "StrategyRegistry",
    "StrategyStatus",
]
