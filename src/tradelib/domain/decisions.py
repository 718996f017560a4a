"""Decisions made by the rules engine about an open strategy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from tradelib.domain.enums import DecisionAction, Urgency
from tradelib.domain.time import ensure_utc

InputValue = float | int | str | bool | None


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one strategy, why, and the inputs the rule saw."""

    decision_id: str
    strategy_id: str
    ts: datetime
    rule: str
    priority: float
    action: DecisionAction
    urgency: Urgency
    reason: str
    inputs: Mapping[str, InputValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ts", ensure_utc(self.ts, "Decision.ts"))

    @property
    def acts(self) -> bool:
        """True when the decision asks for an order (anything but hold)."""
        return self.action is not DecisionAction.HOLD
