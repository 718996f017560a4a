"""The executor on a real broker and a real lake: walks, fills, timeouts, refusals."""

from __future__ import annotations

import pytest

from tradelib.broker import Broker
from tradelib.config import CircuitBreakerConfig, ExecutionConfig
from tradelib.domain import Leg, OrderPurpose, OrderStatus, TradingMode, Urgency, make_order_ref
from tradelib.execution import ExecutionOutcome, ExecutionPlan, TransactionalExecutor
from tradelib.lake import Lake
from tradelib.pricing import TickRule, round_to_tick
from tradelib.risk import CircuitBreaker

from .conftest import (
    FaultyQuotes,
    MakeBroker,
    broker_orders,
    plan_fills,
    position,
    prices,
    put_credit_spread,
)

CFG = ExecutionConfig(price_walk_steps=4, step_interval_s=10.0, order_timeout_s=120.0)


def _plan(legs: tuple[Leg, ...], sid: str = "pcs-1", **kw: object) -> ExecutionPlan:
    args: dict[str, object] = {"bound": -0.30, "quantity": 1}
    args.update(kw)
    return ExecutionPlan(sid, OrderPurpose.OPEN, legs, **args)  # type: ignore[arg-type]


def test_an_entry_fills_mid_walk_and_everything_is_journaled(broker: Broker, lake: Lake) -> None:
    legs = put_credit_spread(broker)
    mid, natural, _ = prices(broker, legs)
    result = TransactionalExecutor(broker, lake, CFG).execute(_plan(legs))

    assert result.outcome is ExecutionOutcome.FILLED and not result.resumed
    assert 1 < len(result.prices) <= CFG.price_walk_steps + 1
    assert result.prices == tuple(sorted(result.prices))  # always toward natural
    assert result.prices[0] == float(round_to_tick(mid, TickRule.all_penny(), "down"))
    assert all(p <= -0.30 for p in result.prices)
    assert result.avg_price <= natural + 0.01  # at or better than natural
    assert position(broker, legs[0].contract) == -1 and position(broker, legs[1].contract) == 1

    orders = lake.read("orders").collect().sort("order_ref")
    assert orders["order_ref"].to_list() == list(result.order_refs)
    assert orders["status"].to_list()[-1] == "filled"
    assert set(orders["status"].to_list()[:-1]) <= {"cancelled"}
    assert all(r.startswith("replacing") for r in orders["reason"].to_list()[:-1])
    assert set(orders["action"]) == {"SELL"}
    executions = lake.read("executions").collect()
    assert sorted(executions["exec_id"]) == sorted(f.exec_id for f in result.fills)
    assert executions.height == 2  # one fill per leg


def test_a_patient_walk_climbs_every_step_to_natural_on_ticks(
    make_broker: MakeBroker, lake: Lake
) -> None:
    broker = make_broker(reluctant=True)  # only a marketable price fills
    legs = put_credit_spread(broker, width=10.0)
    mid, natural, _ = prices(broker, legs)
    result = TransactionalExecutor(broker, lake, CFG).execute(_plan(legs, bound=-0.10))
    assert result.outcome is ExecutionOutcome.FILLED
    # a 4-cent wide market: steps that round to the same cent are not re-sent
    assert natural - mid == pytest.approx(0.04, abs=0.011)
    assert len(result.order_refs) == len(result.prices) >= 3
    assert list(result.order_refs) == [
        make_order_ref("pcs-1", OrderPurpose.OPEN, i + 1) for i in range(len(result.prices))
    ]
    assert all(b > a for a, b in zip(result.prices, result.prices[1:], strict=False))
    assert all(abs(p * 100 - round(p * 100)) < 1e-6 for p in result.prices)
    _, natural, _ = prices(broker, legs)
    assert result.prices[-1] >= natural - 0.02  # the last step was marketable


def test_an_order_that_cannot_fill_within_the_bound_is_cancelled_on_timeout(
    broker: Broker, lake: Lake
) -> None:
    legs = put_credit_spread(broker)
    mid, _, _ = prices(broker, legs)
    start = broker.now()
    result = TransactionalExecutor(broker, lake, CFG).execute(_plan(legs, bound=mid - 0.05))
    assert result.outcome is ExecutionOutcome.TIMEOUT
    assert result.reason == "timeout: not filled within 120s"
    assert (broker.now() - start).total_seconds() == pytest.approx(120, abs=1)
    assert result.prices and max(result.prices) <= mid - 0.05 + 1e-9
    assert broker.open_orders() == []
    assert position(broker, legs[0].contract) == 0
    last = lake.read("orders").collect().sort("order_ref")[-1]
    assert last["status"].item() == "cancelled" and last["reason"].item().startswith("timeout")


def test_invalid_quotes_stop_the_attempt_before_any_order(broker: Broker, lake: Lake) -> None:
    legs = put_credit_spread(broker)
    faulty = FaultyQuotes(broker)
    faulty.broken.add(legs[0].contract.key)
    result = TransactionalExecutor(faulty, lake, CFG).execute(_plan(legs))  # type: ignore[arg-type]
    assert result.outcome is ExecutionOutcome.INVALID_QUOTE
    assert result.reason == f"invalid quote: {legs[0].contract.key}: bid is NaN"
    assert result.order_refs == () and broker_orders(broker, "pcs-1", OrderPurpose.OPEN) == []


def test_a_quote_going_bad_mid_walk_cancels_the_live_order(
    make_broker: MakeBroker, lake: Lake
) -> None:
    broker = make_broker(reluctant=True)
    legs = put_credit_spread(broker)
    faulty = FaultyQuotes(broker)
    seen: list[str] = []

    def hook(point: str, ref: str) -> None:
        seen.append(point)
        if point == "sent" and seen.count("sent") == 2:
            faulty.broken.add(legs[1].contract.key)

    ex = TransactionalExecutor(faulty, lake, CFG, hook=hook)  # type: ignore[arg-type]
    result = ex.execute(_plan(legs))
    assert result.outcome is ExecutionOutcome.INVALID_QUOTE
    assert broker.open_orders() == []
    states = broker_orders(broker, "pcs-1", OrderPurpose.OPEN)
    assert [s.status for s in states] == [OrderStatus.CANCELLED] * 2


def test_an_open_breaker_blocks_entries_but_not_exits(broker: Broker, lake: Lake) -> None:
    legs = put_credit_spread(broker)
    breaker = CircuitBreaker(CircuitBreakerConfig())
    breaker.record_failure(broker.now())
    breaker.record_failure(broker.now())
    breaker.record_failure(broker.now())
    ex = TransactionalExecutor(broker, lake, CFG, breaker)
    blocked = ex.execute(_plan(legs, urgency=Urgency.IMMEDIATE))
    assert blocked.outcome is ExecutionOutcome.BLOCKED and "circuit breaker open" in blocked.reason
    assert broker_orders(broker, "pcs-1", OrderPurpose.OPEN) == []

    closing = tuple(Leg(leg.contract, -leg.ratio) for leg in legs)
    exit_plan = ExecutionPlan(
        "pcs-0", OrderPurpose.CLOSE, closing, 1, bound=5.0, start_fraction=1.0, steps=1
    )
    assert ex.execute(exit_plan).outcome is ExecutionOutcome.FILLED


def test_rejected_orders_count_as_failures_and_trip_the_breaker(
    make_broker: MakeBroker, lake: Lake
) -> None:
    broker = make_broker(initial_cash=2_000.0)  # too little equity for a naked put
    short_put = (put_credit_spread(broker)[0],)
    breaker = CircuitBreaker(CircuitBreakerConfig(max_consecutive_failures=2))
    ex = TransactionalExecutor(broker, lake, CFG, breaker)
    first = ex.execute(_plan(short_put, sid="np-1", quantity=5, bound=-0.01))
    assert first.outcome is ExecutionOutcome.REJECTED and "insufficient equity" in first.reason
    assert not breaker.status(broker.now()).is_open
    ex.execute(_plan(short_put, sid="np-2", quantity=5, bound=-0.01))
    assert breaker.status(broker.now()).is_open
    third = ex.execute(_plan(short_put, sid="np-3", quantity=1, bound=-0.01))
    assert third.outcome is ExecutionOutcome.BLOCKED
    # a rejected order is final: a re-run reports it, it does not retry
    again = TransactionalExecutor(broker, Lake(lake.root), CFG).execute(
        _plan(short_put, sid="np-1", quantity=5, bound=-0.01)
    )
    assert again.outcome is ExecutionOutcome.REJECTED and again.resumed
    assert len(broker_orders(broker, "np-1", OrderPurpose.OPEN)) == 1


def test_read_only_mode_places_nothing(make_broker: MakeBroker, lake: Lake) -> None:
    broker = make_broker(mode=TradingMode.READONLY)
    legs = put_credit_spread(broker)
    result = TransactionalExecutor(broker, lake, CFG).execute(_plan(legs))
    assert result.outcome is ExecutionOutcome.REFUSED
    assert not lake.exists("orders")


def test_no_order_goes_out_while_the_market_is_closed(broker: Broker, lake: Lake) -> None:
    legs = put_credit_spread(broker)
    broker.wait(7 * 3600)  # 17:00 New York
    result = TransactionalExecutor(broker, lake, CFG).execute(_plan(legs))
    assert result.outcome is ExecutionOutcome.MARKET_CLOSED
    assert result.reason.startswith("market closed: ")
    assert broker_orders(broker, "pcs-1", OrderPurpose.OPEN) == []


def test_an_order_intent_is_executed_with_its_limit_as_the_bound(
    broker: Broker, lake: Lake
) -> None:
    from tradelib.domain import OrderIntent

    legs = put_credit_spread(broker)
    intent = OrderIntent(
        make_order_ref("pcs-9", OrderPurpose.OPEN), "pcs-9", OrderPurpose.OPEN, legs, 1,
        -0.30, broker.now(),
    )  # fmt: skip
    result = TransactionalExecutor(broker, lake, CFG).execute(intent)
    assert result.outcome is ExecutionOutcome.FILLED
    assert all(p <= -0.30 for p in result.prices)
    assert plan_fills(broker, "pcs-9")
