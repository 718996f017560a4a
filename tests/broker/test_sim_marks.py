"""SimBroker marks a book once per (holdings, market time): repeats give the same positions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tradelib.broker.sim import SimBroker
from tradelib.domain import OrderStatus

from .conftest import sim_market
from .scenarios import intent, marketable, put_credit_spread


@pytest.fixture
def broker() -> Iterator[SimBroker]:
    b = SimBroker(sim_market())
    b.connect()
    yield b
    b.disconnect()


def _fresh(broker: SimBroker) -> list[object]:
    return broker._mark(broker._ledger.open_holdings(), None)  # type: ignore[arg-type]


def test_positions_asked_twice_at_one_time_are_the_same_and_follow_trades_and_time(
    broker: SimBroker,
) -> None:
    assert broker.positions() == [] == _fresh(broker)
    legs = put_credit_spread(broker)
    order = intent(broker, legs, marketable(broker, legs))
    assert broker.place_order(order).status is OrderStatus.FILLED
    first = broker.positions()
    assert len(first) == 2
    assert first == broker.positions() == _fresh(broker)
    first.clear()  # a caller's list is its own
    assert len(broker.positions()) == 2
    broker.wait(60)
    later = broker.positions()
    assert later == _fresh(broker)
    assert [p.market_price for p in later] == [p.market_price for p in _fresh(broker)]
    assert broker.account().net_liquidation == broker.account().net_liquidation
