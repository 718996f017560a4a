"""Transactional order execution: price walks, the lake-backed order journal, rollback."""

from tradelib.execution.executor import (
    ExecutionOutcome,
    ExecutionPlan,
    ExecutionResult,
    TransactionalExecutor,
)
from tradelib.execution.walk import (
    URGENCY_START,
    WalkSchedule,
    planned_walk,
    step_price,
    tick_rule_for_legs,
)

__all__ = [
    "URGENCY_START",
    "ExecutionOutcome",
    "ExecutionPlan",
    "ExecutionResult",
    "TransactionalExecutor",
    "WalkSchedule",
    "planned_walk",
    "step_price",
    "tick_rule_for_legs",
]
