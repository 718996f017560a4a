"""IBBroker beyond the shared contract: server time, events, idempotency across clients, sync."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from tradelib.broker import BrokerEvent, ConnectionEvent, FillEvent, OrderStatusEvent, QuoteEvent
from tradelib.broker.ib import IBBroker
from tradelib.domain import Leg, OrderStatus, Right
from tradelib.gateway import GatewayThread

from .conftest import START, connect_ib
from .scenarios import expiry_in, intent, marketable, option, prices, put_credit_spread, spot

pytestmark = [
    pytest.mark.usefixtures("ib_errors"),
    pytest.mark.integration,
    pytest.mark.timeout(60),
]


@pytest.fixture
def broker(gateway: GatewayThread) -> Iterator[IBBroker]:
    b = connect_ib(gateway)
    b.connect()
    yield b
    b.disconnect()


def test_time_is_the_servers_simulated_clock_and_waiting_follows_it(broker: IBBroker) -> None:
    start = broker.now()
    assert abs(start - START) < timedelta(minutes=1), "the gateway's market, not the wall clock"
    broker.wait(600)  # ten market minutes: the gateway fast-forwards while we wait
    assert broker.now() - start >= timedelta(seconds=600)


def test_orders_fills_quotes_and_the_connection_are_published_as_events(
    broker: IBBroker,
) -> None:
    seen: list[BrokerEvent] = []
    broker.events.subscribe(seen.append)
    put = option(broker, "SPY", expiry_in(broker), spot(broker) * 0.97, Right.PUT)
    broker.stream([put])
    legs = [Leg(put, +1)]
    order = intent(broker, legs, marketable(broker, legs))

    broker.place_order(order)
    broker.wait(3)
    broker.disconnect()

    statuses = [e.state.status for e in seen if isinstance(e, OrderStatusEvent)]
    assert OrderStatus.FILLED in statuses
    fills = [e.fill for e in seen if isinstance(e, FillEvent)]
    assert [(f.order_ref, f.quantity) for f in fills] == [(order.order_ref, 1.0)]
    assert fills[0].commission > 0
    assert any(isinstance(e, QuoteEvent) and e.quote.contract.key == put.key for e in seen)
    assert seen[-1] == ConnectionEvent(False, "disconnect requested")


def test_an_order_placed_by_another_client_is_found_by_its_ref_and_not_sent_twice(
    gateway: GatewayThread, broker: IBBroker
) -> None:
    other = connect_ib(gateway, client_ids=(2,))
    other.connect()
    put = option(broker, "SPY", expiry_in(broker), spot(broker) * 0.97, Right.PUT)
    legs = [Leg(put, +1)]
    resting = intent(broker, legs, max(round(prices(broker, legs)[0] * 0.5, 2), 0.01))

    mine = other.place_order(resting)
    theirs = broker.place_order(resting)
    other.disconnect()

    assert theirs.status is OrderStatus.SUBMITTED
    assert theirs.perm_id == mine.perm_id and theirs.limit_price == pytest.approx(mine.limit_price)
    assert gateway.gateway.faults.stats.place_orders == 1
    assert [o.order_ref for o in broker.open_orders()] == [resting.order_ref]


def test_a_filled_order_cannot_be_cancelled_and_is_returned_as_filled(broker: IBBroker) -> None:
    legs = list(put_credit_spread(broker))
    order = intent(broker, legs, marketable(broker, legs))
    broker.place_order(order)
    broker.wait(3)

    state = broker.cancel_order(order.order_ref)

    assert state.status is OrderStatus.FILLED and state.filled_quantity == 1
    assert state.avg_fill_price <= order.limit_price  # type: ignore[operator]


def test_positions_carry_ibs_portfolio_values_and_executions_filter_by_time(
    broker: IBBroker,
) -> None:
    legs = list(put_credit_spread(broker))
    order = intent(broker, legs, marketable(broker, legs))
    broker.place_order(order)
    broker.wait(5)
    placed_after = broker.now()

    held = {p.contract.key: p for p in broker.positions()}

    assert {k: p.quantity for k, p in held.items()} == {
        legs[0].contract.key: -1.0,
        legs[1].contract.key: 1.0,
    }
    short = held[legs[0].contract.key]
    assert short.avg_cost > 0 and short.market_value < 0
    assert len(broker.executions()) == 2
    assert broker.executions(since=placed_after) == []
