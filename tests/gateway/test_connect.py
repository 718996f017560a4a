"""Scenarios: ib_async connects, synchronises and shares the gateway with other clients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from ib_async import IB, LimitOrder, Stock

from tradelib.gateway import GatewayThread

ConnectFn = Callable[..., IB]
WaitFn = Callable[..., bool]

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_connect_syncs_account_values_and_an_empty_book(
    gateway: GatewayThread, connect: ConnectFn
) -> None:
    ib = connect(gateway)

    assert ib.isConnected()
    assert ib.managedAccounts() == ["DU0000001"]
    tags = {v.tag: v.value for v in ib.accountValues()}
    assert float(tags["NetLiquidation"]) == pytest.approx(100_000.0)
    assert "BuyingPower" in tags and "ExcessLiquidity" in tags
    assert ib.positions() == [] and ib.openTrades() == []


def test_positions_and_working_orders_are_synced_on_reconnect(
    gateway: GatewayThread, connect: ConnectFn, wait_until: WaitFn
) -> None:
    first = connect(gateway, client_id=1)
    [spy] = first.qualifyContracts(Stock("SPY", "SMART", "USD"))
    [ticker] = first.reqTickers(spy)
    first.placeOrder(spy, LimitOrder("BUY", 10, ticker.ask + 0.10, orderRef="tl:stk:open:1"))
    resting = first.placeOrder(spy, LimitOrder("BUY", 5, round(ticker.bid - 5.0, 2)))
    assert wait_until(first, lambda: len(first.positions()) == 1)
    first.disconnect()

    again = connect(gateway, client_id=1)

    [position] = again.positions()
    assert position.contract.conId == spy.conId and position.position == 10
    [item] = again.portfolio()
    assert item.contract.conId == spy.conId and item.account == position.account
    [trade] = again.openTrades()
    assert trade.order.orderId == resting.order.orderId
    assert trade.orderStatus.status == "Submitted" and trade.order.permId > 0
    assert len(again.fills()) == 1 and again.fills()[0].commissionReport.commission > 0


def test_two_clients_with_different_ids_share_the_account(
    gateway: GatewayThread, connect: ConnectFn
) -> None:
    one = connect(gateway, client_id=1)
    two = connect(gateway, client_id=2)

    assert one.isConnected() and two.isConnected()
    summary = {v.tag: v.value for v in two.accountSummary()}
    assert float(summary["NetLiquidation"]) == pytest.approx(100_000.0)
    for tag in ("TotalCashValue", "InitMarginReq", "FullMaintMarginReq", "Cushion"):
        assert tag in summary


def test_a_duplicate_client_id_is_refused_with_error_326(
    gateway: GatewayThread, connect: ConnectFn, ib_errors: Any
) -> None:
    ib_errors.allow("326", "API connection failed", "already in use", "Peer closed")
    connect(gateway, client_id=7)
    intruder = IB()

    with pytest.raises((TimeoutError, ConnectionError)):
        intruder.connect("127.0.0.1", gateway.port, clientId=7, timeout=2, raiseSyncErrors=True)
    assert not intruder.isConnected()
