"""Scenario: the official IB client (ibapi) connects, reads positions and places an order."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from ibapi.client import EClient
from ibapi.contract import Contract
from ibapi.order import Order
from ibapi.wrapper import EWrapper

from tradelib.gateway import GatewayThread

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


class _App(EWrapper, EClient):  # type: ignore[misc]
    def __init__(self) -> None:
        EWrapper.__init__(self)
        EClient.__init__(self, self)
        self.ready = threading.Event()
        self.positions_done = threading.Event()
        self.filled = threading.Event()
        self.next_id = 0
        self.positions: list[tuple[int, float]] = []
        self.errors: list[tuple[int, str]] = []
        self.exec_sides: list[str] = []
        self.completed: list[tuple[str, str, str]] = []
        self.completed_done = threading.Event()

    def nextValidId(self, orderId: int) -> None:
        self.next_id = orderId
        self.ready.set()

    def position(self, account: str, contract: Contract, position: Decimal, avgCost: float) -> None:
        self.positions.append((contract.conId, float(position)))

    def positionEnd(self) -> None:
        self.positions_done.set()

    def orderStatus(self, orderId: int, status: str, *args: Any) -> None:
        if status == "Filled":
            self.filled.set()

    def execDetails(self, reqId: int, contract: Contract, execution: Any) -> None:
        self.exec_sides.append(execution.side)

    def completedOrder(self, contract: Contract, order: Order, orderState: Any) -> None:
        self.completed.append((order.orderRef, orderState.status, str(order.filledQuantity)))

    def completedOrdersEnd(self) -> None:
        self.completed_done.set()

    def error(self, reqId: int, *args: Any) -> None:
        codes = [a for a in args if isinstance(a, int) and 100 <= a < 100_000]  # skip errorTime
        self.errors.append((reqId, str(args)))
        if codes and 2100 <= codes[0] < 2200:
            self.errors.pop()


def test_the_official_client_reads_positions_and_fills_an_order(gateway: GatewayThread) -> None:
    app = _App()
    app.connect("127.0.0.1", gateway.port, clientId=11)
    reader = threading.Thread(target=app.run, daemon=True)
    reader.start()
    try:
        assert app.ready.wait(10) and app.serverVersion() == 178
        app.reqPositions()
        assert app.positions_done.wait(10) and app.positions == []

        stock = Contract()
        stock.symbol, stock.secType, stock.exchange, stock.currency = "SPY", "STK", "SMART", "USD"
        order = Order()
        order.action, order.orderType, order.totalQuantity = "BUY", "MKT", Decimal(3)
        order.orderRef = "tl:ibapi:open:1"
        app.placeOrder(app.next_id, stock, order)
        assert app.filled.wait(10)

        app.positions.clear()
        app.positions_done.clear()
        app.reqPositions()
        assert app.positions_done.wait(10)
        # The fill's pushed update and the second answer may both land: one holding either way.
        assert list(dict(app.positions).values()) == [3.0]
        assert app.exec_sides == ["BOT"] and app.errors == []

        app.reqCompletedOrders(False)
        assert app.completed_done.wait(10)
        assert app.completed == [("tl:ibapi:open:1", "Filled", "3")] and app.errors == []
    finally:
        app.disconnect()
        reader.join(5)
