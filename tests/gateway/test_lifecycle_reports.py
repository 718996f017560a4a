"""Scenarios: what the gateway reports beyond live orders (farm status, completed orders, expiry)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from ib_async import IB, LimitOrder, Option, Stock

from tradelib.gateway import GatewayThread

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

ConnectFn = Callable[..., IB]
WaitFn = Callable[..., bool]


def test_farm_status_notices_arrive_on_connect_as_warnings(gateway: GatewayThread) -> None:
    ib = IB()
    codes: list[int] = []
    ib.errorEvent += lambda req_id, code, msg, contract: codes.append(code)
    try:
        ib.connect("127.0.0.1", gateway.port, clientId=1, timeout=10, raiseSyncErrors=True)
        ib.sleep(0.1)
    finally:
        ib.disconnect()

    assert {2104, 2106, 2158} <= set(codes)  # the autouse fixture: none logged at ERROR


def test_completed_orders_list_filled_and_cancelled_orders_after_a_reconnect(
    gateway: GatewayThread, connect: ConnectFn, wait_until: WaitFn
) -> None:
    ib = connect(gateway, client_id=1)
    [spy] = ib.qualifyContracts(Stock("SPY", "SMART", "USD"))
    [ticker] = ib.reqTickers(spy)
    filled = ib.placeOrder(spy, LimitOrder("BUY", 5, ticker.ask + 0.10, orderRef="tl:c1:open:1"))
    resting = ib.placeOrder(
        spy, LimitOrder("BUY", 2, round(ticker.bid - 5.0, 2), orderRef="tl:c2:open:1")
    )
    assert wait_until(ib, lambda: filled.isDone() and resting.orderStatus.status == "Submitted")
    ib.cancelOrder(resting.order)
    assert wait_until(ib, lambda: resting.isDone())
    ib.disconnect()

    again = connect(gateway, client_id=1)
    completed = {t.order.orderRef: t for t in again.reqCompletedOrders(apiOnly=False)}

    assert set(completed) == {"tl:c1:open:1", "tl:c2:open:1"}
    done, cancelled = completed["tl:c1:open:1"], completed["tl:c2:open:1"]
    assert done.orderStatus.status == "Filled" and done.order.filledQuantity == 5
    assert done.order.permId == filled.order.permId and done.contract.conId == spy.conId
    assert cancelled.orderStatus.status == "Cancelled" and cancelled.order.totalQuantity == 2
    assert cancelled.order.lmtPrice == resting.order.lmtPrice
    # The connect-time sync already bound the fill to the completed trade by perm id.
    synced = [t for t in again.trades() if t.order.permId == filled.order.permId]
    assert len(synced) == 1 and len(synced[0].fills) >= 1


def test_an_itm_short_put_is_assigned_at_expiry_and_reported_as_executions(
    gateway: GatewayThread, connect: ConnectFn, wait_until: WaitFn
) -> None:
    ib = connect(gateway)
    [spy] = ib.qualifyContracts(Stock("SPY", "SMART", "USD"))
    [ticker] = ib.reqTickers(spy)
    expiry = min(ib.reqSecDefOptParams("SPY", "", "STK", spy.conId)[0].expirations)  # tomorrow
    puts = [d.contract for d in ib.reqContractDetails(Option("SPY", expiry, 0.0, "P", "SMART"))]
    put = max((p for p in puts if p.strike <= ticker.last + 25), key=lambda p: p.strike)
    strike = put.strike
    assert strike >= ticker.last + 8  # deep enough in the money to stay there until tomorrow
    [quote] = ib.reqTickers(put)
    sale = ib.placeOrder(put, LimitOrder("SELL", 1, round(quote.bid - 0.05, 2)))
    assert wait_until(ib, lambda: sale.isDone() and len(ib.positions()) == 1)

    broker = gateway.gateway.broker
    gateway.call(lambda: broker.wait(36 * 3600))  # through tomorrow's close

    def settled() -> list[tuple[str, str, float, float]]:
        return sorted(
            (f.contract.secType, f.execution.side, f.execution.shares, f.execution.price)
            for f in ib.fills()
            if f.execution.orderId == 0
        )

    assert wait_until(ib, lambda: len(settled()) == 2)
    assert settled() == [("OPT", "BOT", 1.0, 0.0), ("STK", "BOT", 100.0, strike)]
    assert wait_until(ib, lambda: [p.contract.secType for p in ib.positions()] == ["STK"])
    [stock] = ib.positions()
    assert stock.position == 100 and stock.avgCost == pytest.approx(strike)
    assert len([f for f in ib.reqExecutions() if f.execution.orderId == 0]) == 2
