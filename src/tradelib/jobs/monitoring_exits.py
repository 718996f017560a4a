"""Acting on a monitoring cycle's decisions: the exit order, the executor, the booking.

``ExitActions`` is the second half of ``MonitoringWorkflow``: for each decision
that asks for an order it records the ``ExitOrder`` (price bound, or why none
goes out), works the exit as an attempt through the executor (resuming, never
repeating, one a re-run finds), and books what filled: the strategy closed,
reduced or rolled in the lake, the realized P&L against the entry prediction.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from datetime import datetime

import polars as pl

from tradelib.broker import Broker
from tradelib.config import TradingConfig
from tradelib.domain import (
    Decision,
    DecisionAction,
    Leg,
    OrderPurpose,
    Strategy,
    order_ref_prefix,
)
from tradelib.domain.decisions import InputValue
from tradelib.domain.pnl import realized_pnl
from tradelib.errors import (
    BrokerError,
    ExecutionPlanError,
)
from tradelib.execution import (
    ExecutionOutcome,
    ExecutionPlan,
    ExecutionResult,
    TransactionalExecutor,
)
from tradelib.jobs.monitoring_report import (
    ActionOutcome,
    ActionReport,
)
from tradelib.lake import Lake, TableName
from tradelib.marketdata import MarketDataSlotManager, SlotUsage
from tradelib.regime import RegimeReading
from tradelib.rules import (
    StrategyState,
)
from tradelib.rules.exits import (
    ExitOrder,
    closing_legs,
    exit_bound,
    reduce_units,
)
from tradelib.stores.orders import legs_from_json
from tradelib.stores.predictions import StrategyPredictionsTable
from tradelib.stores.sync import SyncStore
from tradelib.sync.model import CloseReason, HeldLeg, StrategyRecord
from tradelib.variance import ExitStatus

log = logging.getLogger("tradelib.jobs.monitoring")

_EPS = 1e-9
_PURPOSE = {
    DecisionAction.CLOSE: OrderPurpose.CLOSE,
    DecisionAction.REDUCE: OrderPurpose.REDUCE,
    DecisionAction.ROLL: OrderPurpose.ROLL,
}


@dataclass(slots=True)
class Watched:
    """One open strategy through the cycle."""

    record: StrategyRecord
    strategy: Strategy
    state: StrategyState | None = None
    roll: tuple[Leg, ...] | None = None  # the legs it would roll to
    close_natural: float | None = None  # natural debit per unit to close, at the decision


class ExitActions:
    """Act on exit decisions and book the outcome (mixed into ``MonitoringWorkflow``)."""

    cfg: TradingConfig
    broker: Broker
    lake: Lake
    executor: TransactionalExecutor
    slots: MarketDataSlotManager
    store: SyncStore
    predictions: StrategyPredictionsTable

    def _annotate(
        self, d: Decision, w: Watched, reading: RegimeReading, market_open: bool
    ) -> Decision:
        """Join what the workflow adds to the rule's inputs: regime confidence, and for an
        acting decision either the price bound or why no order will go out."""
        extra: dict[str, InputValue] = {"regime_confidence": reading.confidence}
        if d.acts:
            skip = self._skip_reason(d, w, market_open)
            if skip:
                order = ExitOrder(skip_reason=skip)
            else:
                roll_to = w.roll[0].contract.expiry if w.roll else None
                order = ExitOrder(
                    bound=round(self._bound(d, w), 4),
                    roll_expiry=roll_to if d.action is DecisionAction.ROLL else None,
                )
            extra.update(order.inputs())
        return replace(d, inputs={**d.inputs, **extra})

    def _skip_reason(self, d: Decision, w: Watched, market_open: bool) -> str:
        if not market_open:
            return "market closed: decisions only, no orders outside regular hours"
        state = w.state
        if state is not None and not state.marks_valid:
            return "invalid quote: " + "; ".join(state.mark_problems)
        if d.action is DecisionAction.ROLL and w.roll is None:
            return "no roll legs quoted"
        if w.close_natural is None or not math.isfinite(w.close_natural):
            return "no natural price to close at"
        return ""

    def _bound(self, d: Decision, w: Watched) -> float:
        if d.action is DecisionAction.ROLL:
            return -self.cfg.rules.roll_min_credit
        ex = self.cfg.execution
        assert w.close_natural is not None
        return exit_bound(w.close_natural, ex.exit_tolerance_pct, ex.exit_min_tolerance)

    # --- acting ----------------------------------------------------------------------------------
    def _try_act(self, d: Decision, w: Watched, reused: bool) -> ActionReport:
        """``_act``, with a broker or plan failure reported for this strategy alone."""
        try:
            return self._act(d, w, reused=reused)
        except (BrokerError, ExecutionPlanError) as exc:
            log.error("monitoring: %s %s failed: %s", d.strategy_id, d.action.value, exc)
            return ActionReport(
                d.strategy_id, d.rule, d.action, d.urgency, ActionOutcome.SKIPPED, f"failed: {exc}"
            )

    def _act(self, d: Decision, w: Watched, *, reused: bool) -> ActionReport:
        """Send (or resume, or book) the order ``d`` asks for; report the outcome."""
        base = ActionReport(
            d.strategy_id, d.rule, d.action, d.urgency, ActionOutcome.SKIPPED, reason=""
        )
        order = ExitOrder.of(d)
        if order.skip_reason:
            return replace(base, reason=order.skip_reason)
        bound = order.bound
        if bound is None:
            return replace(base, reason="no price bound recorded with the decision")
        purpose = _PURPOSE[d.action]
        quantity = w.strategy.quantity
        if d.action is DecisionAction.REDUCE:
            quantity = reduce_units(quantity, self.cfg.execution.reduce_fraction)
        base = replace(base, quantity=quantity, bound=float(bound))
        attempt = self._attempt(d, w, purpose, base, reused=reused)
        if isinstance(attempt, ActionReport):
            return attempt
        legs = closing_legs(w.strategy)
        if d.action is DecisionAction.ROLL:
            roll = w.roll or self._journaled_roll(d)
            if roll is None:
                return replace(base, reason="the roll legs are not known to this run")
            legs = (*legs, *roll)
        plan = ExecutionPlan(
            d.strategy_id, purpose, legs, quantity, float(bound), d.urgency, attempt=attempt
        )
        result = self.executor.execute(plan)
        return self._book_result(d, w, plan, result, replace(base, attempt=attempt))

    def _attempt(
        self,
        d: Decision,
        w: Watched,
        purpose: OrderPurpose,
        base: ActionReport,
        *,
        reused: bool,
    ) -> int | ActionReport:
        """The exit attempt to work now, or the report of why none is (see "Retries")."""
        attempts = self.executor.attempts(d.strategy_id, purpose)
        latest = attempts[-1] if attempts else None
        if latest is None:
            return 0
        if latest.unsettled:
            return latest.index  # an order may still be working: resume, never send twice
        if latest.filled > _EPS and latest.last_update > w.record.updated_at:
            if purpose is OrderPurpose.CLOSE and latest.filled >= latest.quantity - _EPS:
                return latest.index  # a close that filled but was never booked: book it
            why = (
                f"an earlier {purpose.value} filled {latest.filled:g} after the book was "
                "written: left to the sync to regroup the legs"
            )
            return replace(base, reason=why, attempt=latest.index)
        if reused:
            # This decision was already worked by an earlier run at the same time.
            why = f"attempt {latest.index} already worked at this time: {latest.reason}"
            outcome = ActionOutcome.NOT_FILLED if latest.filled <= _EPS else ActionOutcome.SKIPPED
            return replace(base, outcome=outcome, reason=why, attempt=latest.index)
        return latest.index + 1

    def _journaled_roll(self, d: Decision) -> tuple[Leg, ...] | None:
        """On a re-run the roll legs come from the journal (the decision's own run had them)."""
        entries = self.executor.journal.entries(d.strategy_id, OrderPurpose.ROLL)
        if not entries:
            return None
        legs = legs_from_json(entries[-1].legs_json)
        half = len(legs) // 2
        return tuple(legs[half:]) if half else None

    def _book_result(
        self,
        d: Decision,
        w: Watched,
        plan: ExecutionPlan,
        result: ExecutionResult,
        base: ActionReport,
    ) -> ActionReport:
        """Write what filled into ``strategies`` (and ``predictions`` on a full close)."""
        filled_units = math.floor(result.filled_quantity + _EPS)
        report = replace(base, filled=result.filled_quantity, price=result.avg_price)
        if filled_units < 1:
            why = f"{result.outcome.value}: {result.reason}"
            outcome = (
                ActionOutcome.SKIPPED
                if result.outcome
                in (
                    ExecutionOutcome.INVALID_QUOTE,
                    ExecutionOutcome.MARKET_CLOSED,
                    ExecutionOutcome.REFUSED,
                    ExecutionOutcome.BLOCKED,
                )
                and not result.order_refs
                else ActionOutcome.NOT_FILLED
            )
            log.info("monitoring: %s %s not filled (%s)", d.strategy_id, d.action.value, why)
            return replace(report, outcome=outcome, reason=why)
        at = max((f.ts for f in result.fills), default=self.broker.now())
        stamp = max(at, self.broker.now())
        record, units = w.record, w.strategy.quantity
        if d.action is DecisionAction.ROLL:
            return self._book_roll(d, w, plan, result, report, filled_units, stamp)
        left = units - filled_units
        if left > 0:
            self.store.save_strategies([record.scaled(left, stamp)])
            why = f"closed {filled_units} of {units} unit(s) at {result.avg_price:.2f}"
            if d.action is DecisionAction.CLOSE:
                why += f"; {left} left open ({result.reason})"
            return replace(report, outcome=ActionOutcome.REDUCED, reason=why)
        self.store.save_strategies(
            [replace(record.closed(CloseReason.CLOSED, at), updated_at=stamp)]
        )
        pnl = self._realized(w)
        status = self._record_exit(d, record, pnl, at, stamp)
        why = f"closed {units} unit(s) at {result.avg_price:.2f} debit: realized ${pnl:,.2f}"
        log.info("monitoring: %s %s", d.strategy_id, why)
        return replace(
            report, outcome=ActionOutcome.CLOSED, reason=why, realized_pnl=pnl, exit_status=status
        )

    def _book_roll(
        self,
        d: Decision,
        w: Watched,
        plan: ExecutionPlan,
        result: ExecutionResult,
        report: ActionReport,
        filled_units: int,
        stamp: datetime,
    ) -> ActionReport:
        """The strategy holds the new legs for the units that rolled (same id, bigger credit)."""
        record, units = w.record, w.strategy.quantity
        n_old = len(w.strategy.legs)
        new_legs = plan.legs[n_old:]
        filled_contracts = {f.contract.key: f.contract for f in result.fills}
        rolled = [
            HeldLeg(filled_contracts.get(leg.contract.key, leg.contract), leg.ratio * filled_units)
            for leg in new_legs
        ]
        kept = [
            HeldLeg(h.contract, h.quantity / units * (units - filled_units)) for h in record.legs
        ]
        roll_credit = -result.avg_price
        credit = (record.credit or 0.0) + roll_credit * filled_units / units
        legs = tuple(h for h in (*kept, *rolled) if abs(h.quantity) > _EPS)
        self.store.save_strategies([replace(record, legs=legs, credit=credit, updated_at=stamp)])
        why = f"rolled {filled_units} of {units} unit(s) for {roll_credit:.2f} credit"
        expiry = new_legs[0].contract.expiry if new_legs else None
        if expiry is not None:
            why += f" to {expiry.isoformat()}"
        log.info("monitoring: %s %s", d.strategy_id, why)
        return replace(report, outcome=ActionOutcome.ROLLED, reason=why)

    def _realized(self, w: Watched) -> float:
        """Realized P&L of the whole strategy from its fills (credit-based if it has none)."""
        sid = w.strategy.strategy_id
        fills = self.lake.read(
            TableName.EXECUTIONS,
            filter=pl.col("order_ref").is_not_null()
            & pl.col("order_ref").str.starts_with(order_ref_prefix(sid)),
        ).collect()
        multipliers = {
            h.contract.con_id: h.contract.multiplier
            for h in w.record.legs
            if h.contract.con_id is not None
        }
        opened = fills.filter(
            pl.col("order_ref").str.starts_with(order_ref_prefix(sid, OrderPurpose.OPEN))
        )
        pnl = realized_pnl(fills.iter_rows(named=True), multipliers, w.strategy.multiplier)
        if opened.height == 0:
            # Opened by hand (or before the journal): its credit stands in for the opening fills.
            s = w.strategy
            pnl += s.credit * s.multiplier * s.quantity
        return pnl

    def _record_exit(
        self, d: Decision, record: StrategyRecord, pnl: float, at: datetime, stamp: datetime
    ) -> str:
        if record.prediction_id is None:
            return "no prediction"
        result = self.predictions.record_exit(
            record.prediction_id, pnl, d.rule, at, recorded_at=stamp
        )
        if result.status not in (ExitStatus.RECORDED, ExitStatus.DUPLICATE):
            log.warning(
                "monitoring: exit of %s not stored: %s (%s)",
                record.prediction_id,
                result.status.value,
                result.reason,
            )
        return result.status.value

    # --- slot use --------------------------------------------------------------------------------
    def _record_usage(self, now: datetime) -> SlotUsage:
        usage = self.slots.usage()
        md = self.cfg.market_data
        legs = sum(len(self.slots.legs_of(sid)) for sid in self.slots.tracked)
        row = {
            "ts": now,
            "streaming_lines": usage.lines_in_use,
            "snapshot_contracts": max(legs - usage.lines_in_use, 0),
            "budget": md.line_budget,
            "reserved": md.reserved_lines,
            "snapshot_load_per_min": usage.snapshot_load_per_min,
            "snapshot_capacity_per_min": usage.snapshot_capacity_per_min,
        }
        self.lake.upsert(TableName.MARKET_DATA_SLOTS, [row])
        return usage
