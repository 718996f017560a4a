"""Crash and re-run through the real IB path: ib_async over the simulated TWS gateway.

The first executor dies at a step; a new process (a new IBBroker connection
and a new Lake instance) runs the same plan. The gateway's own count of orders
that reached its exchange proves nothing was placed twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tradelib.broker.sim import FillModel, SimBroker
from tradelib.config import ExecutionConfig
from tradelib.domain import OrderPurpose, OrderStatus
from tradelib.execution import ExecutionOutcome, ExecutionPlan, TransactionalExecutor
from tradelib.gateway import GatewayThread
from tradelib.gateway.embedded import connect_ib, start_gateway
from tradelib.lake import Lake
from tradelib.sim import SimMarketConfig, SimRegime, SimulatedMarket

from .conftest import SEED, START, put_credit_spread

CFG = ExecutionConfig(price_walk_steps=2, step_interval_s=10.0, order_timeout_s=120.0)
pytestmark = [  # slow: crash and rerun over the gateway
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.timeout(180),
]


class Crash(Exception):
    """The process dies here."""


def crash_at(point: str, nth: int = 1) -> object:
    seen: Counter[str] = Counter()

    def hook(at: str, ref: str) -> None:
        seen[at] += 1
        if at == point and seen[at] == nth:
            raise Crash(f"{point} #{nth} ({ref})")

    return hook


@pytest.fixture
def exchange() -> Iterator[tuple[GatewayThread, SimBroker]]:
    market = SimulatedMarket(SimMarketConfig(seed=SEED, start=START, forced_regime=SimRegime.CALM))
    sim = SimBroker(market, fill_model=FillModel(max_hazard_per_s=1e-12))  # fills only at natural
    thread = start_gateway(sim)
    yield thread, sim
    thread.stop()


@pytest.mark.parametrize(
    ("point", "nth"), [("sent", 1), ("journaled", 2), ("sent", 2), ("filled", 1)]
)
def test_crash_then_rerun_over_ib_places_each_order_once(
    exchange: tuple[GatewayThread, SimBroker], tmp_path: Path, point: str, nth: int
) -> None:
    thread, sim = exchange
    first = connect_ib(thread)
    first.connect()
    plan = ExecutionPlan("gw-crash", OrderPurpose.OPEN, put_credit_spread(first), 1, bound=-0.10)
    with pytest.raises(Crash):
        TransactionalExecutor(first, Lake(tmp_path), CFG, hook=crash_at(point, nth)).execute(plan)  # type: ignore[arg-type]
    first.disconnect()  # the process is gone

    second = connect_ib(thread)
    second.connect()
    try:
        result = TransactionalExecutor(second, Lake(tmp_path), CFG).execute(plan)
        assert result.outcome is ExecutionOutcome.FILLED, result.reason
        again = TransactionalExecutor(second, Lake(tmp_path), CFG).execute(plan)
        assert again.outcome is ExecutionOutcome.FILLED and again.order_refs == result.order_refs
    finally:
        second.disconnect()

    reached = thread.gateway.faults.stats.broker_orders_by_ref
    assert reached and all(count == 1 for count in reached.values()), reached
    live_or_filled = [
        s
        for r in reached
        if (s := thread.call(lambda r=r: sim.order(r))) is not None
        if not s.status.is_terminal or s.status is OrderStatus.FILLED
    ]
    assert len(live_or_filled) == 1, live_or_filled
    orders = Lake(tmp_path).read("orders").collect()
    assert orders["order_ref"].n_unique() == orders.height
    executions = Lake(tmp_path).read("executions").collect()
    assert executions["exec_id"].n_unique() == executions.height > 0
