"""Decisions to and from the lake's ``decisions`` table.

Writes are upserts on ``decision_id`` (the table's merge key), and ids are
deterministic (strategy, time, rule), so recording a cycle twice stores each
decision once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from tradelib.domain import Decision, DecisionAction, Urgency
from tradelib.domain.decisions import InputValue
from tradelib.lake import Lake, MergeStats, TableName

Row = dict[str, Any]


def _json_value(value: InputValue) -> InputValue:
    # JSON has no NaN/inf: a missing number is stored as null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def inputs_json(inputs: Mapping[str, InputValue]) -> str:
    """Serialise a decision's inputs as stable JSON (sorted keys, NaN -> null)."""
    return json.dumps(
        {k: _json_value(v) for k, v in inputs.items()}, sort_keys=True, allow_nan=False
    )


def decision_rows(decisions: Iterable[Decision]) -> list[Row]:
    """Return one ``decisions`` row per decision (``date`` is derived by the lake)."""
    return [
        {
            "decision_id": d.decision_id,
            "strategy_id": d.strategy_id,
            "ts": d.ts,
            "rule": d.rule,
            "priority": float(d.priority),
            "action": d.action.value,
            "urgency": d.urgency.name,
            "reason": d.reason,
            "inputs_json": inputs_json(d.inputs),
        }
        for d in decisions
    ]


def record_decisions(lake: Lake, decisions: Iterable[Decision]) -> MergeStats:
    """Store ``decisions`` idempotently (upsert on ``decision_id``); return the merge stats."""
    return lake.upsert(TableName.DECISIONS, decision_rows(decisions))


def decision_from_row(row: Mapping[str, Any]) -> Decision:
    """A stored ``decisions`` row as the engine's ``Decision``."""
    inputs = json.loads(row["inputs_json"]) if row.get("inputs_json") else {}
    return Decision(
        decision_id=row["decision_id"],
        strategy_id=row["strategy_id"],
        ts=row["ts"],
        rule=row["rule"],
        priority=float(row["priority"]),
        action=DecisionAction(row["action"]),
        urgency=Urgency[row["urgency"]],
        reason=row["reason"],
        inputs=inputs,
    )
