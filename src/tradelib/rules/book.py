"""Decisions for a book over a portfolio limit (pure): no roll that feeds the breach, and the
reductions that bring the book back within its limits, most at risk first.

The rules engine judges each strategy alone; this step looks at the book. It runs on the
engine's decisions:

- a ROLL of a strategy that adds to a breached limit (``risk.book.adds_to_breach``)
  becomes a CLOSE: rolling a tested naked put for credit forever never frees margin;
- a strategy the reductions name (``risk.book.propose_reductions``: furthest-over
  breach first, the strategy that cuts it most first) that the engine would hold is
  closed, NORMAL urgency, the breach's numbers in its inputs.

Exits the engine already decided (stop loss, take profit, ...) stand as they are. A
breach acts only once it is past its limit by ``risk.breach_tolerance``; every breach is
recorded either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tradelib.domain import Decision, DecisionAction, Urgency
from tradelib.domain.decisions import InputValue
from tradelib.risk import LimitBreach, StrategyRisk, adds_to_breach, propose_reductions
from tradelib.rules.rules import decision_id

BOOK_LIMIT_RULE = "book_limit"
BOOK_LIMIT_PRIORITY = 2.9  # after the risk and profit exits, before the DTE exit


def apply_book_limits(
    decisions: Sequence[Decision],
    risks: Sequence[StrategyRisk],
    breaches: Sequence[LimitBreach],
    now: datetime,
    *,
    tolerance: float = 0.0,
) -> list[Decision]:
    """``decisions`` with rolls that feed a breach and the proposed reductions turned into
    closes (unchanged when no limit is breached).

    Only breaches more than ``tolerance`` (a fraction of the limit) past their limit act:
    entry fills the book up to a limit, so a book that drifts a hair over it would
    otherwise be cut and refilled day after day.
    """
    breaches = [b for b in breaches if abs(b.measured) > b.threshold * (1.0 + tolerance)]
    if not breaches:
        return list(decisions)
    risk_of = {r.strategy_id: r for r in risks}
    reductions = {r.strategy_id: r for r in propose_reductions(breaches, risks)}
    out: list[Decision] = []
    for d in decisions:
        risk = risk_of.get(d.strategy_id)
        if d.action is DecisionAction.ROLL and risk is not None:
            fed = [b for b in breaches if adds_to_breach(risk, [b])]
            if fed:
                why = f"{d.reason}; no roll: it adds to {_names(fed)}, close instead"
                out.append(_close(d, now, d.urgency, why, _numbers(fed[0])))
                continue
        cut = reductions.get(d.strategy_id)
        if d.action is DecisionAction.HOLD and cut is not None:
            breach = next(b for b in breaches if b.limit == cut.limit)
            why = f"book over its limits: {cut.reason}"
            numbers = {**_numbers(breach), "measured_after": round(cut.measured_after, 6)}
            out.append(_close(d, now, Urgency.NORMAL, why, numbers))
            continue
        out.append(d)
    return out


def _close(
    d: Decision, now: datetime, urgency: Urgency, reason: str, numbers: dict[str, InputValue]
) -> Decision:
    return Decision(
        decision_id=decision_id(d.strategy_id, now, BOOK_LIMIT_RULE),
        strategy_id=d.strategy_id,
        ts=now,
        rule=BOOK_LIMIT_RULE,
        priority=BOOK_LIMIT_PRIORITY,
        action=DecisionAction.CLOSE,
        urgency=urgency,
        reason=reason,
        inputs={**d.inputs, "engine_rule": d.rule, **numbers},
    )


def _numbers(b: LimitBreach) -> dict[str, InputValue]:
    return {"breached_limit": b.limit, "measured": b.measured, "threshold": b.threshold}


def _names(breaches: Sequence[LimitBreach]) -> str:
    return ", ".join(f"{b.limit} ({b.measured:.3g} > {b.threshold:.3g})" for b in breaches)
