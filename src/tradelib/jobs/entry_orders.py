"""An entry's orders and records: work the candidate's combo, and book what filled.

``EntryOrders.execute`` works one candidate's combo with the transactional
executor, never past its minimum credit; a fill becomes the open
``strategies`` row (through the sync's store, the one place a strategy row is
built) and the ``Prediction`` at entry. ``EntryOrders.recover`` finishes an
entry an interrupted run left in the order journal.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from tradelib.broker import Broker
from tradelib.config import TradingConfig
from tradelib.domain import Leg, OrderPurpose, Quote, StrategyType, Urgency, payoff_profile
from tradelib.entry import Candidate
from tradelib.errors import RiskInputError
from tradelib.execution import ExecutionPlan, TransactionalExecutor
from tradelib.jobs.entry_report import CandidateOutcome, Outcome, describe_legs, strategy_type_of
from tradelib.jobs.entry_rows import resolved, with_fill_contracts
from tradelib.lake import Lake
from tradelib.risk import PortfolioRiskCalculator
from tradelib.stores.orders import legs_from_json
from tradelib.stores.predictions import StrategyPredictionsTable
from tradelib.stores.sync import SyncStore
from tradelib.sync.model import HeldLeg, StrategyRecord
from tradelib.variance import Prediction

log = logging.getLogger("tradelib.jobs.entry")  # one log for the whole entry job

_EPS = 1e-9


def minimum_credit(candidate: Candidate, floor: float) -> float:
    """The least credit per share worth taking: natural, but never below ``floor``."""
    natural = candidate.credit_natural if math.isfinite(candidate.credit_natural) else floor
    return max(natural, floor)


class EntryOrders:
    """Orders and records of the entry job (see the module doc)."""

    def __init__(
        self,
        cfg: TradingConfig,
        broker: Broker,
        lake: Lake,
        executor: TransactionalExecutor,
        predictions: StrategyPredictionsTable,
    ) -> None:
        self.cfg = cfg
        self.broker = broker
        self.lake = lake
        self.executor = executor
        self.predictions = predictions

    def execute(
        self,
        cand: Candidate,
        base: CandidateOutcome,
        quantity: int,
        quotes: Mapping[str, Quote],
        calculator: PortfolioRiskCalculator,
    ) -> CandidateOutcome:
        """Work the candidate's combo; on a fill, store its strategy and prediction."""
        assert base.strategy_id is not None
        floor = minimum_credit(cand, self.cfg.strategies.min_credit)
        legs = tuple(resolved(leg, quotes) for leg in cand.legs)
        plan = ExecutionPlan(
            base.strategy_id, OrderPurpose.OPEN, legs, quantity, -floor, Urgency.NORMAL
        )
        result = self.executor.execute(plan)
        units = math.floor(result.filled_quantity + _EPS)
        if units < 1:
            why = f"{result.outcome.value}: {result.reason}"
            if result.resumed:
                why = f"earlier attempt today: {why}"
            log.info("entry: %s not filled (%s)", base.strategy_id, why)
            return replace(base, outcome=Outcome.NOT_FILLED, reason=why)
        fill_credit = -result.avg_price
        opened_at = min((f.ts for f in result.fills), default=self.broker.now())
        legs = with_fill_contracts(legs, result)
        reason = f"filled {units} at {fill_credit:.2f} credit (floor {floor:.2f})"
        prediction_id: str | None = None
        try:
            prediction = self._prediction(
                cand, base.strategy_id, fill_credit, units, opened_at, quotes, calculator
            )
        except (ValueError, RiskInputError) as exc:
            # The position exists whatever the model could say about it: record it anyway.
            reason += f"; no prediction stored: {exc}"
        else:
            self.predictions.record_entry(prediction)
            prediction_id = prediction.prediction_id
        self._book(
            base.strategy_id, cand.strategy, legs, units, fill_credit, opened_at, prediction_id
        )
        if units < quantity:
            reason += f"; {quantity - units} unit(s) not filled: {result.reason}"
        log.info("entry: %s %s", base.strategy_id, reason)
        return replace(
            base,
            outcome=Outcome.ENTERED,
            reason=reason,
            fill_credit=fill_credit,
            quantity=units,
            prediction_id=prediction_id,
        )

    def _book(
        self,
        strategy_id: str,
        kind: StrategyType,
        legs: Sequence[Leg],
        units: int,
        credit: float,
        opened_at: datetime,
        prediction_id: str | None,
    ) -> None:
        """Write the open ``strategies`` row of a filled entry (through the sync's store)."""
        held = tuple(HeldLeg(leg.contract, float(leg.ratio * units)) for leg in legs)
        record = StrategyRecord(
            strategy_id,
            kind,
            legs[0].contract.symbol,
            held,
            opened_at,
            opened_at,
            credit=credit,
            prediction_id=prediction_id,
        )
        SyncStore(self.lake).save_strategies([record])

    def recover(self, sid: str) -> CandidateOutcome | None:
        """Finish and record an entry an interrupted run left in the journal.

        The executor resumes it under the furthest price already offered (so it
        never goes past what was decided then) and reports the fills; a filled
        entry gets its ``strategies`` row. Its prediction cannot be rebuilt: the
        model's numbers were not kept, and this run did not rank it again.
        """
        entries = self.executor.journal.entries(sid, OrderPurpose.OPEN)
        prices = [e.limit_price for e in entries if e.limit_price is not None]
        legs = legs_from_json(entries[0].legs_json) if entries else ()
        if not legs or not prices:
            return None  # not an order of this workflow's making: nothing to resume
        kind = strategy_type_of(sid)
        plan = ExecutionPlan(sid, OrderPurpose.OPEN, legs, entries[0].quantity, max(prices))
        result = self.executor.execute(plan)
        units = math.floor(result.filled_quantity + _EPS)
        base = CandidateOutcome(
            legs[0].contract.symbol,
            kind.value,
            min((leg.contract.expiry for leg in legs if leg.contract.expiry), default=None),
            describe_legs(legs),
            Outcome.NOT_FILLED,
            f"earlier attempt: {result.outcome.value}: {result.reason}",
            strategy_id=sid,
        )
        if units < 1:
            return base
        credit = -result.avg_price
        opened_at = min((f.ts for f in result.fills), default=self.broker.now())
        legs = with_fill_contracts(legs, result)
        self._book(sid, kind, legs, units, credit, opened_at, None)
        reason = (
            f"recorded from the journal after an interrupted run: filled {units} at "
            f"{credit:.2f} credit (no prediction: not ranked again)"
        )
        log.warning("entry: %s %s", sid, reason)
        return replace(
            base, outcome=Outcome.ENTERED, reason=reason, fill_credit=credit, quantity=units
        )

    def _prediction(
        self,
        cand: Candidate,
        strategy_id: str,
        fill_credit: float,
        units: int,
        entered_at: datetime,
        quotes: Mapping[str, Quote],
        calculator: PortfolioRiskCalculator,
    ) -> Prediction:
        """The prediction at entry, taken at the credit actually received."""
        # Expected value is credit + E[payoff]: at the fill it moves one-for-one with
        # the credit received; so does the max loss.
        profile = payoff_profile(cand.legs, fill_credit)
        # The max risk of an unbounded strategy is the margin it ties up on its own.
        flat = calculator.calculate((), {})
        alone = calculator.with_candidate(flat, cand.legs, quotes, quantity=units)
        return Prediction.for_entry(
            strategy_id=strategy_id,
            strategy_type=cand.strategy,
            underlying=cand.underlying,
            entered_at=entered_at,
            # What the fill made of the model's value at mid, less the commissions of the
            # opening and closing orders: comparable with the realized P&L, which pays them.
            expected_value=cand.expected_value + (fill_credit - cand.credit_mid) - cand.commissions,
            probability_of_profit=cand.probability_of_profit,
            max_loss=profile.max_loss,
            regime=cand.regime,
            skew_ratio=cand.skew.ratio,
            weight=cand.weight,
            multiplier=cand.multiplier,
            quantity=units,
            risk_capital=alone.risk_capital,
        )
