"""Legged mode: legs one by one, bought legs first; a failed leg rolls back the filled ones."""

from __future__ import annotations

from tradelib.broker import Broker
from tradelib.config import ExecutionConfig
from tradelib.domain import OrderPurpose, OrderStatus
from tradelib.execution import ExecutionOutcome, ExecutionPlan, TransactionalExecutor
from tradelib.lake import Lake

from .conftest import FaultyQuotes, broker_orders, position, put_credit_spread

CFG = ExecutionConfig(price_walk_steps=3, step_interval_s=10.0, order_timeout_s=60.0)


def _plan(broker: Broker, sid: str = "leg-1") -> ExecutionPlan:
    legs = put_credit_spread(broker)
    return ExecutionPlan(sid, OrderPurpose.OPEN, legs, 2, bound=-0.20, legged=True)


def test_legs_fill_one_by_one_protective_leg_first(broker: Broker, lake: Lake) -> None:
    plan = _plan(broker)
    short, long = plan.legs
    result = TransactionalExecutor(broker, lake, CFG).execute(plan)
    assert result.outcome is ExecutionOutcome.FILLED, result.reason
    assert [r.legs for r in result.legs] == [(), ()]
    first, second = result.legs
    assert first.order_refs[0] == "tl:leg-1:open:201"  # leg 2 (the long put) goes first
    assert second.order_refs[0] == "tl:leg-1:open:101"
    assert position(broker, short.contract) == -2 and position(broker, long.contract) == 2
    assert result.avg_price <= -0.20  # the net credit respected the bound
    # a re-run reports the same fills and sends nothing
    again = TransactionalExecutor(broker, Lake(lake.root), CFG).execute(plan)
    assert again.outcome is ExecutionOutcome.FILLED and again.resumed
    assert len(broker_orders(broker, "leg-1", OrderPurpose.OPEN)) == len(result.order_refs)


def test_a_failed_leg_rolls_back_the_filled_one(broker: Broker, lake: Lake) -> None:
    plan = _plan(broker)
    short, long = plan.legs
    faulty = FaultyQuotes(broker)
    faulty.break_after_fill_of = long.contract.key  # the short leg's quote dies after leg 1
    result = TransactionalExecutor(faulty, lake, CFG).execute(plan)  # type: ignore[arg-type]

    assert result.outcome is ExecutionOutcome.ROLLED_BACK
    assert result.reason.startswith("rolled back after a failed leg: invalid quote:")
    filled_leg, failed_leg = result.legs
    assert filled_leg.filled and failed_leg.outcome is ExecutionOutcome.INVALID_QUOTE
    (undo,) = result.rollback
    assert undo.filled and undo.order_refs[0] == "tl:leg-1:open:911"
    assert undo.fills[0].quantity == -2  # sold back what was bought
    assert position(broker, long.contract) == 0 and position(broker, short.contract) == 0
    rows = lake.read("orders").collect()
    assert rows.filter(rows["order_ref"] == "tl:leg-1:open:911")["status"].item() == "filled"

    # a re-run reports the rollback; it never restarts the legs
    again = TransactionalExecutor(broker, Lake(lake.root), CFG).execute(plan)
    assert again.outcome is ExecutionOutcome.ROLLED_BACK and again.resumed
    assert position(broker, long.contract) == 0 and position(broker, short.contract) == 0
    assert len(broker_orders(broker, "leg-1", OrderPurpose.OPEN)) == len(result.order_refs)


def test_a_rollback_that_cannot_trade_is_reported_loudly(broker: Broker, lake: Lake) -> None:
    plan = _plan(broker)
    _, long = plan.legs
    faulty = FaultyQuotes(broker)
    faulty.break_after_fill_of = long.contract.key

    def hook(point: str, ref: str) -> None:
        if point == "filled" and ref.rsplit(":", 1)[1].startswith("2"):
            faulty.broken.add(long.contract.key)  # now the bought leg cannot be priced either

    result = TransactionalExecutor(faulty, lake, CFG, hook=hook).execute(plan)  # type: ignore[arg-type]
    assert result.outcome is ExecutionOutcome.FAILED
    assert "ROLLBACK INCOMPLETE" in result.reason
    assert position(broker, long.contract) == 2  # still held: a person must act
    assert all(s.status is not OrderStatus.SUBMITTED for s in broker.open_orders())
