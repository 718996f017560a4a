"""IBBroker trades the configured account or refuses to start (issue 17)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tradelib.broker.ib import IBBroker
from tradelib.domain import Leg, OrderStatus, Right
from tradelib.errors import ConfigError
from tradelib.gateway import GatewayThread

from .conftest import connect_ib, start_gateway
from .scenarios import expiry_in, intent, option, prices, spot

pytestmark = [
    pytest.mark.usefixtures("ib_errors"),
    pytest.mark.integration,
    pytest.mark.timeout(60),
]

OTHER = "DU9876543"  # a fake account id the gateway does not manage


@pytest.fixture
def two_accounts() -> Iterator[GatewayThread]:
    thread = start_gateway(accounts=("DU0000001", "DU0000002"))
    yield thread
    thread.stop()


def _order_accounts(gateway: GatewayThread) -> list[str]:
    gw = gateway.gateway
    return gateway.call(lambda: [o.request.account for o in gw._orders_by_key.values()])


def _rest_an_order(broker: IBBroker) -> None:
    put = option(broker, "SPY", expiry_in(broker), spot(broker) * 0.97, Right.PUT)
    legs = [Leg(put, +1)]
    state = broker.place_order(
        intent(broker, legs, max(round(prices(broker, legs)[0] / 2, 2), 0.01))
    )
    assert state.status is OrderStatus.SUBMITTED


def test_a_configured_account_the_server_does_not_manage_refuses_to_start(
    gateway: GatewayThread,
) -> None:
    broker = connect_ib(gateway, account=OTHER)

    with pytest.raises(ConfigError) as refused:
        broker.connect()

    text = str(refused.value)
    assert OTHER not in text and "DU0000001" not in text, "ids are masked"
    assert "DU*****43" in text and "TRADELIB_IB_ACCOUNT" in text
    assert not broker.is_connected
    assert gateway.gateway.faults.stats.place_orders == 0


def test_several_managed_accounts_and_none_configured_refuses_to_start(
    two_accounts: GatewayThread,
) -> None:
    broker = connect_ib(two_accounts)

    with pytest.raises(ConfigError, match="2 accounts"):
        broker.connect()
    assert not broker.is_connected


def test_the_configured_one_of_several_accounts_is_traded_and_named_on_every_order(
    two_accounts: GatewayThread,
) -> None:
    broker = connect_ib(two_accounts, account="DU0000002")
    broker.connect()
    try:
        _rest_an_order(broker)
        assert _order_accounts(two_accounts) == ["DU0000002"]
        assert broker.connection.account == "DU0000002"
    finally:
        broker.disconnect()


def test_the_only_managed_account_is_named_on_every_order(gateway: GatewayThread) -> None:
    broker = connect_ib(gateway)
    broker.connect()
    try:
        _rest_an_order(broker)
        assert _order_accounts(gateway) == ["DU0000001"]
    finally:
        broker.disconnect()
