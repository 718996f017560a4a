"""Legged mode: a plan's legs sent one by one, the filled ones closed again if a leg fails.

Bought legs go first. Each leg is one order group walked like a combo, its
bound what the plan's bound leaves once the later legs are priced at natural.
When a leg ends unfilled, every filled leg is closed at natural (its
*rollback*, never blocked by the breaker: closing our own fills is an exit).
Order numbers: leg ``i`` (as given) uses ``100*(i+1)+1``.., the rollback of
leg ``i`` uses ``901+10*i``..; a re-run that finds a rollback in the journal
never restarts a leg.

``LeggedMode`` is mixed into ``TransactionalExecutor``, whose single-group walk
(``_run``), market check (``_market``) and journal it uses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from tradelib.domain import Leg
from tradelib.execution.attempts import SEQ_BLOCK
from tradelib.execution.group import OrderGroup, Refusal
from tradelib.execution.plan import (
    INVALID_QUOTE,
    ExecutionOutcome,
    ExecutionPlan,
    ExecutionResult,
)
from tradelib.execution.walk import WalkSchedule

if TYPE_CHECKING:
    from tradelib.broker import Broker
    from tradelib.stores.orders import OrderJournal

ROLLBACK_BASE = 900
ROLLBACK_BLOCK = 10


class LeggedMode:
    """The legged half of ``TransactionalExecutor`` (see the module doc)."""

    broker: Broker
    journal: OrderJournal

    if TYPE_CHECKING:
        # provided by TransactionalExecutor

        def _run(self, g: OrderGroup) -> ExecutionResult: ...

        def _market(self, legs: Sequence[Leg], now: datetime) -> tuple[float, float] | Refusal: ...

        def _empty_group(
            self, g: OrderGroup, outcome: ExecutionOutcome, reason: str
        ) -> ExecutionResult: ...

    def _execute_legged(self, plan: ExecutionPlan, schedule: WalkSchedule) -> ExecutionResult:
        order = sorted(range(len(plan.legs)), key=lambda i: (plan.legs[i].ratio < 0, i))
        rollback_seen = any(
            self.journal.entries(plan.strategy_id, plan.purpose, _rollback_seqs(i))
            for i in range(len(plan.legs))
        )
        results: dict[int, ExecutionResult] = {}
        failed: ExecutionResult | None = None
        paid = 0.0
        for n, i in enumerate(order):
            leg = plan.legs[i]
            seqs = range(SEQ_BLOCK * (i + 1) + 1, SEQ_BLOCK * (i + 2))
            journaled = self.journal.entries(plan.strategy_id, plan.purpose, seqs)
            if rollback_seen and not journaled:
                # The plan already failed and was rolled back: never restart a leg.
                break
            bound = math.inf
            if math.isfinite(plan.bound):
                rest = [plan.legs[j] for j in order[n + 1 :]]
                worst = self._worst_net(rest)
                if worst is not None:
                    # Whatever this leg pays, the later legs at natural must still fit.
                    bound = plan.bound - paid - worst
                elif journaled:
                    # Later legs cannot be priced now; never go past what was already sent.
                    sent = [e.limit_price for e in journaled if e.limit_price is not None]
                    bound = max(sent, default=math.nan)
                else:
                    bound = math.nan
            group = OrderGroup(
                plan.strategy_id,
                plan.purpose,
                (leg,),
                plan.quantity,
                bound if not math.isnan(bound) else math.inf,
                schedule,
                seqs,
                plan.tif,
                guarded=True,
                label=f"leg {i + 1} ({leg.contract.key})",
            )
            if math.isnan(bound):
                reason = f"{INVALID_QUOTE}: a later leg cannot be priced"
                result = self._empty_group(group, ExecutionOutcome.INVALID_QUOTE, reason)
            else:
                result = self._run(group)
            results[i] = result
            if not result.filled:
                failed = result
                break
            paid += result.avg_price
        worked = tuple(results[i] for i in order if i in results)
        refs = tuple(r for res in worked for r in res.order_refs)
        if failed is None and not rollback_seen and len(results) == len(plan.legs):
            return ExecutionResult(
                plan.strategy_id,
                plan.purpose,
                ExecutionOutcome.FILLED,
                plan.quantity,
                float(plan.quantity),
                paid,
                refs,
                tuple(p for res in worked for p in res.prices),
                tuple(f for res in worked for f in res.fills),
                "all legs filled",
                any(res.resumed for res in worked),
                legs=worked,
            )
        return self._rollback(plan, schedule, results, failed)

    def _worst_net(self, legs: Sequence[Leg]) -> float | None:
        """The natural net price of ``legs`` now (None when a quote is unusable)."""
        if not legs:
            return 0.0
        market = self._market(legs, self.broker.now())
        return None if isinstance(market, Refusal) else market[1]

    def _rollback(
        self,
        plan: ExecutionPlan,
        schedule: WalkSchedule,
        results: dict[int, ExecutionResult],
        failed: ExecutionResult | None,
    ) -> ExecutionResult:
        """Close every filled leg at natural; report what happened."""
        closing = WalkSchedule(1.0, 1, schedule.step_interval_s, schedule.timeout_s)
        undo: list[ExecutionResult] = []
        for i, leg in enumerate(plan.legs):
            seqs = _rollback_seqs(i)
            res = results.get(i)
            has_rollback = bool(self.journal.entries(plan.strategy_id, plan.purpose, seqs))
            filled = round(res.filled_quantity) if res is not None else 0
            if filled <= 0 and not has_rollback:
                continue
            if filled <= 0 and res is None:
                # Resumed after the rollback: its size is in the journal.
                entries = self.journal.entries(plan.strategy_id, plan.purpose, seqs)
                filled = entries[0].quantity
            group = OrderGroup(
                plan.strategy_id,
                plan.purpose,
                (Leg(leg.contract, -leg.ratio),),
                filled,
                math.inf,
                closing,
                seqs,
                plan.tif,
                guarded=False,  # closing our own fills is an exit: never blocked
                label=f"rollback of leg {i + 1} ({leg.contract.key})",
            )
            undo.append(self._run(group))
        worked = tuple(results.values())
        why = failed.reason if failed is not None else "a leg failed earlier"
        ok = all(r.filled for r in undo)
        outcome = ExecutionOutcome.ROLLED_BACK if ok else ExecutionOutcome.FAILED
        text = f"{'rolled back' if ok else 'ROLLBACK INCOMPLETE'} after a failed leg: {why}"
        if not ok:
            text += "; " + "; ".join(f"{r.reason}" for r in undo if not r.filled)
        refs = tuple(r for res in (*worked, *undo) for r in res.order_refs)
        return ExecutionResult(
            plan.strategy_id,
            plan.purpose,
            outcome,
            plan.quantity,
            0.0,
            math.nan,
            refs,
            tuple(p for res in (*worked, *undo) for p in res.prices),
            tuple(f for res in (*worked, *undo) for f in res.fills),
            text,
            any(res.resumed for res in (*worked, *undo)),
            legs=worked,
            rollback=tuple(undo),
        )


def _rollback_seqs(leg_index: int) -> range:
    start = ROLLBACK_BASE + ROLLBACK_BLOCK * leg_index + 1
    return range(start, start + ROLLBACK_BLOCK - 1)
