"""Crash at every step, re-run in a fresh "process": never a duplicate order or row.

A hook raises ``Crash`` at one point of the executor's journal/act sequence;
then a new executor on a new ``Lake`` instance (same tables) and the same
broker (the broker outlives our process, as IB does) runs the same plan.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tradelib.broker import Broker
from tradelib.config import ExecutionConfig
from tradelib.domain import OrderPurpose, OrderStatus
from tradelib.execution import ExecutionOutcome, ExecutionPlan, TransactionalExecutor
from tradelib.lake import Lake

from .conftest import MakeBroker, broker_orders, plan_fills, position, put_credit_spread

CFG = ExecutionConfig(price_walk_steps=2, step_interval_s=10.0, order_timeout_s=120.0)


class Crash(Exception):
    """The process dies here."""


def crash_at(point: str, nth: int = 1) -> object:
    seen: Counter[str] = Counter()

    def hook(at: str, ref: str) -> None:
        seen[at] += 1
        if at == point and seen[at] == nth:
            raise Crash(f"{point} #{nth} ({ref})")

    return hook


def _assert_no_duplicates(broker: Broker, lake: Lake, plan: ExecutionPlan) -> None:
    at_broker = broker_orders(broker, plan.strategy_id, plan.purpose)
    working_or_filled = [
        s for s in at_broker if not s.status.is_terminal or s.status is OrderStatus.FILLED
    ]
    assert len(working_or_filled) == 1, at_broker
    orders = lake.read("orders").collect()
    assert orders["order_ref"].n_unique() == orders.height
    assert sorted(orders["order_ref"]) == sorted(s.order_ref for s in at_broker)
    executions = lake.read("executions").collect()
    assert executions["exec_id"].n_unique() == executions.height
    assert sorted(executions["exec_id"]) == sorted(
        f.exec_id for f in plan_fills(broker, plan.strategy_id)
    )
    short, long = plan.legs
    assert position(broker, short.contract) == -1 and position(broker, long.contract) == 1


STEPS = [
    ("journaled", 1),  # written pending, never sent
    ("sent", 1),  # sent, state not journaled
    ("cancel_requested", 1),  # replacement reason journaled, cancel not sent
    ("cancelled", 1),  # cancelled at the broker, not journaled
    ("journaled", 2),  # the replacement written pending, not sent
    ("sent", 2),  # the replacement sent, not journaled
    ("filled", 1),  # fill journaled in orders, fills not in executions
]


@pytest.mark.parametrize(("point", "nth"), STEPS, ids=[f"{p}-{n}" for p, n in STEPS])
def test_a_rerun_after_a_crash_resumes_without_duplicates(
    make_broker: MakeBroker, lake: Lake, point: str, nth: int
) -> None:
    broker = make_broker(reluctant=True)  # fills only at natural: the walk runs every step
    plan = ExecutionPlan("crash-1", OrderPurpose.OPEN, put_credit_spread(broker), 1, bound=-0.10)
    first = TransactionalExecutor(broker, lake, CFG, hook=crash_at(point, nth))  # type: ignore[arg-type]
    with pytest.raises(Crash):
        first.execute(plan)
    broker.wait(3)  # the restart takes a moment

    result = TransactionalExecutor(broker, Lake(lake.root), CFG).execute(plan)
    assert result.outcome is ExecutionOutcome.FILLED, result.reason
    assert result.resumed
    _assert_no_duplicates(broker, lake, plan)

    # and a third run only reports
    again = TransactionalExecutor(broker, Lake(lake.root), CFG).execute(plan)
    assert again.outcome is ExecutionOutcome.FILLED and again.order_refs == result.order_refs
    _assert_no_duplicates(broker, lake, plan)


def test_a_crash_with_a_fill_mid_walk_resumes_the_same_way(broker: Broker, lake: Lake) -> None:
    plan = ExecutionPlan("crash-2", OrderPurpose.OPEN, put_credit_spread(broker), 1, bound=-0.10)
    hook = crash_at("filled")
    with pytest.raises(Crash):
        TransactionalExecutor(broker, lake, CFG, hook=hook).execute(plan)  # type: ignore[arg-type]
    assert not lake.exists("executions")  # crashed before the fills were written
    result = TransactionalExecutor(broker, Lake(lake.root), CFG).execute(plan)
    assert result.outcome is ExecutionOutcome.FILLED and len(result.fills) == 2
    _assert_no_duplicates(broker, lake, plan)
