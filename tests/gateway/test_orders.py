"""Scenarios: orders placed through ib_async fill, report commissions, rest and cancel."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from ib_async import IB, ComboLeg, Contract, LimitOrder, Option, Stock

from tradelib.gateway import GatewayThread

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

ConnectFn = Callable[..., IB]
WaitFn = Callable[..., bool]


def _puts(ib: IB) -> tuple[Option, Option]:
    """An ATM put and the put 10 points lower, same expiry."""
    [spy] = ib.qualifyContracts(Stock("SPY", "SMART", "USD"))
    chain = next(
        c for c in ib.reqSecDefOptParams("SPY", "", "STK", spy.conId) if c.exchange == "SMART"
    )
    [ticker] = ib.reqTickers(spy)
    expiry = sorted(chain.expirations)[8]
    strike = round(ticker.last / 5) * 5
    short, long_ = ib.qualifyContracts(
        Option("SPY", expiry, strike, "P", "SMART"),
        Option("SPY", expiry, strike - 10, "P", "SMART"),
    )
    return short, long_


def test_a_marketable_option_order_fills_and_the_position_appears(
    gateway: GatewayThread, connect: ConnectFn, wait_until: WaitFn
) -> None:
    ib = connect(gateway)
    put, _ = _puts(ib)
    [quote] = ib.reqTickers(put)

    trade = ib.placeOrder(
        put, LimitOrder("SELL", 2, round(quote.bid - 0.05, 2), orderRef="tl:sp1:open:1")
    )

    assert wait_until(ib, lambda: trade.isDone() and len(ib.positions()) == 1)
    assert trade.orderStatus.status == "Filled" and trade.orderStatus.filled == 2
    assert trade.order.permId > 0 and trade.order.orderRef == "tl:sp1:open:1"
    assert trade.orderStatus.avgFillPrice >= round(quote.bid - 0.05, 2)
    assert all(f.execution.side == "SLD" and f.commissionReport.commission > 0 for f in trade.fills)
    [position] = ib.positions()
    assert position.contract.conId == put.conId and position.position == -2
    assert position.avgCost == pytest.approx(trade.orderStatus.avgFillPrice * 100)
    assert wait_until(ib, lambda: any(i.contract.conId == put.conId for i in ib.portfolio()))


def test_a_put_credit_spread_combo_fills_as_one_order(
    gateway: GatewayThread, connect: ConnectFn, wait_until: WaitFn
) -> None:
    ib = connect(gateway)
    short, long_ = _puts(ib)
    q_short, q_long = ib.reqTickers(short, long_)
    natural = q_long.ask - q_short.bid  # what BUYing the combo pays: negative = a credit
    bag = Contract(
        symbol="SPY",
        secType="BAG",
        exchange="SMART",
        currency="USD",
        comboLegs=[
            ComboLeg(conId=short.conId, ratio=1, action="SELL", exchange="SMART"),
            ComboLeg(conId=long_.conId, ratio=1, action="BUY", exchange="SMART"),
        ],
    )

    trade = ib.placeOrder(
        bag, LimitOrder("BUY", 1, round(natural + 0.05, 2), orderRef="tl:pcs1:open:1")
    )

    assert wait_until(ib, lambda: trade.isDone() and len(ib.positions()) == 2)
    assert trade.orderStatus.status == "Filled" and trade.filled() == 1
    assert trade.orderStatus.avgFillPrice < 0  # a credit, in IB's combo price convention
    legs = {f.contract.conId: f.execution.side for f in trade.fills if f.contract.secType == "OPT"}
    assert legs == {short.conId: "SLD", long_.conId: "BOT"}
    held = {p.contract.conId: p.position for p in ib.positions()}
    assert held == {short.conId: -1, long_.conId: 1}


def test_a_passive_order_rests_until_cancelled(
    fast_gateway: GatewayThread, connect: ConnectFn, wait_until: WaitFn
) -> None:
    ib = connect(fast_gateway)
    put, _ = _puts(ib)
    [quote] = ib.reqTickers(put)

    trade = ib.placeOrder(put, LimitOrder("SELL", 1, round(quote.ask + 2.0, 2)))
    assert wait_until(ib, lambda: trade.orderStatus.status == "Submitted")
    ib.sleep(0.5)
    assert trade.orderStatus.filled == 0 and [t.order.orderId for t in ib.openTrades()] == [
        trade.order.orderId
    ]

    ib.cancelOrder(trade.order)

    assert wait_until(ib, lambda: trade.orderStatus.status == "Cancelled")
    assert ib.openTrades() == [] and ib.positions() == []


def test_modifying_a_resting_order_to_marketable_fills_it(
    gateway: GatewayThread, connect: ConnectFn, wait_until: WaitFn
) -> None:
    ib = connect(gateway)
    put, _ = _puts(ib)
    [quote] = ib.reqTickers(put)
    order = LimitOrder("BUY", 1, round(quote.bid - 1.0, 2))
    trade = ib.placeOrder(put, order)
    assert wait_until(ib, lambda: trade.orderStatus.status == "Submitted")

    order.lmtPrice = round(quote.ask + 0.10, 2)
    ib.placeOrder(put, order)

    assert wait_until(ib, lambda: trade.orderStatus.status == "Filled")
    assert trade.orderStatus.filled == 1 and len(ib.trades()) == 1
    # the position row follows the fill's status in the same market tick, maybe a packet later
    assert wait_until(ib, lambda: [p.position for p in ib.positions()] == [1])
