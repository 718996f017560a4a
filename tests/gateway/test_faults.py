"""Scenarios: each injected fault reaches a real ib_async client the way IB's would.

The fault calls run in the test thread while the gateway runs in its own
(``FaultInjector`` marshals them onto the gateway loop). Expected IB errors
are allowed by text; any other ERROR logged by ib_async fails the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections.abc import Callable
from typing import Any

import pytest
from ib_async import IB, ComboLeg, Contract, LimitOrder, Option, RequestError, Stock, util

from tradelib.gateway import GatewayThread

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

ConnectFn = Callable[..., IB]
WaitFn = Callable[..., bool]


def _errors(ib: IB) -> list[tuple[int, int, str]]:
    """A live list of (reqId, code, message) of every error event ``ib`` sees."""
    seen: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req_id, code, msg, contract: seen.append((req_id, code, msg))
    return seen


def _spy(ib: IB) -> Contract:
    [spy] = ib.qualifyContracts(Stock("SPY", "SMART", "USD"))
    return spy


def _atm_put(ib: IB, spy: Contract) -> Option:
    chain = next(
        c for c in ib.reqSecDefOptParams("SPY", "", "STK", spy.conId) if c.exchange == "SMART"
    )
    [ticker] = ib.reqTickers(spy)
    strike = min(chain.strikes, key=lambda k: abs(k - ticker.last))
    [put] = ib.qualifyContracts(Option("SPY", sorted(chain.expirations)[8], strike, "P", "SMART"))
    return put


def _passive_buy(ib: IB, contract: Contract, ref: str, qty: int = 1) -> LimitOrder:
    """A buy limit far below the bid: it rests without filling."""
    [ticker] = ib.reqTickers(contract)
    return LimitOrder("BUY", qty, round(ticker.bid * 0.5, 2), orderRef=ref)


# --- connections ---------------------------------------------------------------------------
def test_a_dropped_connection_fires_disconnected_and_fails_in_flight_requests(
    gateway: GatewayThread, connect: ConnectFn, ib_errors: Any
) -> None:
    ib_errors.allow("Peer closed connection")
    ib = connect(gateway, client_id=1)
    dropped = threading.Event()
    ib.disconnectedEvent += dropped.set
    faults = gateway.gateway.faults
    faults.set_delay(30.0)  # the answer cannot beat the drop
    threading.Timer(0.3, faults.drop_connections).start()  # from another thread, mid-request

    with pytest.raises(ConnectionError):
        ib.reqContractDetails(Stock("SPY", "SMART", "USD"))

    assert dropped.is_set() and not ib.isConnected()
    faults.set_delay(0.0)
    assert faults.stats.connections_dropped == 1
    again = connect(gateway, client_id=1)  # the gateway forgot the old session at once
    assert again.isConnected()


def test_drop_after_order_acks_then_drops_and_the_order_reaches_the_broker_once(
    gateway: GatewayThread, connect: ConnectFn, wait_until: WaitFn, ib_errors: Any
) -> None:
    ib_errors.allow("Peer closed connection")
    ib = connect(gateway, client_id=3)
    spy = _spy(ib)
    order = _passive_buy(ib, spy, "tl:drop1:open:1")
    statuses_at_drop: list[str] = []
    faults = gateway.gateway.faults
    faults.set_delay(0.2)  # the acks wait in the outbox: the close must queue behind them
    faults.drop_after_next_order()

    trade = ib.placeOrder(spy, order)
    ib.disconnectedEvent += lambda: statuses_at_drop.append(trade.orderStatus.status)

    with contextlib.suppress(ConnectionError):  # ib_async raises it in whatever call is running
        wait_until(ib, lambda: bool(statuses_at_drop))
    assert statuses_at_drop == ["Submitted"] and trade.order.permId > 0
    faults.set_delay(0.0)
    again = connect(gateway, client_id=3)
    [found] = [t for t in again.openTrades() if t.order.orderRef == "tl:drop1:open:1"]
    assert found.order.orderId == order.orderId and found.orderStatus.status == "Submitted"
    stats = faults.stats
    assert stats.broker_orders_by_ref == {"tl:drop1:open:1": 1} and stats.broker_orders == 1
    assert stats.orders_received == {3: 1} and stats.connections_dropped == 1
    live = gateway.call(lambda: gateway.gateway.broker.open_orders())
    assert [o.limit_price for o in live] == [order.lmtPrice]


def test_connectivity_lost_only_logs_and_restored_with_data_kept_resyncs_the_summary(
    gateway: GatewayThread, connect: ConnectFn, wait_until: WaitFn, ib_errors: Any
) -> None:
    ib_errors.allow("Error 1100", "Error 1102")
    ib = connect(gateway)
    seen = _errors(ib)
    ib.reqMktData(_spy(ib))
    faults = gateway.gateway.faults

    faults.connectivity_lost()
    assert wait_until(ib, lambda: any(code == 1100 for _, code, _ in seen))
    assert ib.isConnected()
    summaries_before = faults.stats.messages_received.get(62, 0)

    faults.connectivity_restored(data_lost=False)

    assert wait_until(ib, lambda: any(code == 1102 for _, code, _ in seen))
    assert wait_until(ib, lambda: faults.stats.messages_received.get(62, 0) > summaries_before)
    assert ib.isConnected() and faults.stats.streaming_lines == 1


def test_restored_with_data_lost_drops_the_streaming_subscriptions(
    gateway: GatewayThread, connect: ConnectFn, wait_until: WaitFn, ib_errors: Any
) -> None:
    ib_errors.allow("Error 1100", "Error 1101")
    ib = connect(gateway, client_id=1)
    other = connect(gateway, client_id=2)
    seen = _errors(ib)
    spy = _spy(ib)
    ib.reqMktData(spy)
    other.reqMktData(_spy(other))
    faults = gateway.gateway.faults
    assert wait_until(ib, lambda: faults.stats.streaming_lines == 2)

    faults.connectivity_lost()
    faults.connectivity_restored(data_lost=True)

    assert wait_until(ib, lambda: any(code == 1101 for _, code, _ in seen))
    assert faults.stats.streaming_lines == 0
    ib.cancelMktData(spy)
    ticker = ib.reqMktData(spy)  # what a client must do after 1101: subscribe again
    assert wait_until(ib, lambda: faults.stats.lines_by_client.get(1) == 1)
    assert wait_until(ib, lambda: ticker.bid > 0)


def test_a_refused_client_id_times_out_and_another_id_connects(
    gateway: GatewayThread, connect: ConnectFn, ib_errors: Any
) -> None:
    ib_errors.allow("Error 326", "Peer closed connection", "API connection failed")
    faults = gateway.gateway.faults
    faults.refuse_client_ids([7])
    refused = IB()

    with pytest.raises(TimeoutError):
        refused.connect("127.0.0.1", gateway.port, clientId=7, timeout=1, raiseSyncErrors=True)

    assert not refused.isConnected()
    assert connect(gateway, client_id=8).isConnected()
    stats = faults.stats
    assert stats.connections_refused == 1 and stats.connections_accepted == 1
    assert stats.errors_sent.get(326) == 1


# --- market data and history ---------------------------------------------------------------
def test_a_stream_past_the_line_limit_gets_101_and_stays_nan(
    gateway: GatewayThread, connect: ConnectFn, wait_until: WaitFn, ib_errors: Any
) -> None:
    ib_errors.allow("Error 101")
    ib = connect(gateway)
    seen = _errors(ib)
    spy, qqq, iwm = ib.qualifyContracts(*(Stock(s, "SMART", "USD") for s in ("SPY", "QQQ", "IWM")))
    faults = gateway.gateway.faults
    faults.set_line_limit(2)

    first, second = ib.reqMktData(spy), ib.reqMktData(qqq)
    third = ib.reqMktData(iwm)

    assert wait_until(ib, lambda: any(code == 101 for _, code, _ in seen))
    assert wait_until(ib, lambda: first.bid > 0 and second.bid > 0)
    assert math.isnan(third.bid) and third in ib.tickers()
    assert [msg for _, code, msg in seen if code == 101] == [
        "Max number of tickers has been reached"
    ]
    assert faults.stats.streaming_lines == 2
    [snapshot] = ib.reqTickers(iwm)  # snapshots do not hold a line
    assert snapshot.bid > 0


def test_the_default_line_limit_is_ibs_100(
    gateway: GatewayThread, connect: ConnectFn, wait_until: WaitFn, ib_errors: Any
) -> None:
    ib_errors.allow("Error 101")
    ib = connect(gateway)
    spy = _spy(ib)
    faults = gateway.gateway.faults

    for _ in range(101):  # ib_async sends a new line (request id) on each call
        ib.reqMktData(spy)

    assert wait_until(ib, lambda: faults.stats.errors_sent.get(101) == 1)
    assert faults.stats.streaming_lines == 100


def test_failed_historical_requests_are_empty_or_raise(
    gateway: GatewayThread, connect: ConnectFn, ib_errors: Any
) -> None:
    ib_errors.allow("Error 162")
    ib = connect(gateway)
    spy = _spy(ib)
    faults = gateway.gateway.faults

    faults.fail_historical(162, times=1)
    assert len(ib.reqHistoricalData(spy, "", "2 D", "1 hour", "TRADES", True)) == 0
    assert len(ib.reqHistoricalData(spy, "", "2 D", "1 hour", "TRADES", True)) > 0

    faults.fail_historical()
    ib.RaiseRequestErrors = True
    with pytest.raises(RequestError) as raised:
        ib.reqHistoricalData(spy, "", "2 D", "1 hour", "TRADES", True)
    assert raised.value.code == 162


# --- orders ----------------------------------------------------------------------------------
def test_a_rejected_order_ends_cancelled_with_the_reason_and_never_reaches_the_broker(
    gateway: GatewayThread, connect: ConnectFn, wait_until: WaitFn, ib_errors: Any
) -> None:
    ib_errors.allow("Error 201")
    ib = connect(gateway)
    seen = _errors(ib)
    spy = _spy(ib)
    faults = gateway.gateway.faults
    faults.reject_next_order(201, "insufficient margin")

    trade = ib.placeOrder(spy, _passive_buy(ib, spy, "tl:rej1:open:1"))

    assert wait_until(ib, lambda: trade.isDone())
    assert trade.orderStatus.status == "Cancelled"
    [(req_id, _, msg)] = [e for e in seen if e[1] == 201]
    assert req_id == trade.order.orderId and msg == "Order rejected - reason:insufficient margin"
    assert any(entry.errorCode == 201 for entry in trade.log)
    assert faults.stats.broker_orders == 0 and faults.stats.place_orders == 1
    assert gateway.call(lambda: gateway.gateway.broker.open_orders()) == []

    after = ib.placeOrder(spy, _passive_buy(ib, spy, "tl:rej1:open:2"))  # only one was armed
    assert wait_until(ib, lambda: after.orderStatus.status == "Submitted")


def test_an_off_tick_limit_gets_110_and_an_off_tick_modify_keeps_the_order(
    gateway: GatewayThread, connect: ConnectFn, wait_until: WaitFn, ib_errors: Any
) -> None:
    ib_errors.allow("Error 110")
    ib = connect(gateway)
    seen = _errors(ib)
    spy = _spy(ib)
    put = _atm_put(ib, spy)
    lower = ib.qualifyContracts(
        Option("SPY", put.lastTradeDateOrContractMonth, put.strike - 10, "P", "SMART")
    )[0]
    bag = Contract(
        symbol="SPY",
        secType="BAG",
        exchange="SMART",
        currency="USD",
        comboLegs=[
            ComboLeg(conId=put.conId, ratio=1, action="SELL", exchange="SMART"),
            ComboLeg(conId=lower.conId, ratio=1, action="BUY", exchange="SMART"),
        ],
    )

    single = ib.placeOrder(put, LimitOrder("BUY", 1, 0.123))
    combo = ib.placeOrder(bag, LimitOrder("BUY", 1, -0.555))

    assert wait_until(ib, lambda: single.isDone() and combo.isDone())
    assert single.orderStatus.status == combo.orderStatus.status == "Cancelled"
    assert sorted(r for r, code, _ in seen if code == 110) == sorted(
        [single.order.orderId, combo.order.orderId]
    )
    faults = gateway.gateway.faults
    assert faults.stats.broker_orders == 0

    resting = ib.placeOrder(put, LimitOrder("BUY", 1, 0.12))
    assert wait_until(ib, lambda: resting.orderStatus.status == "Submitted")
    resting.order.lmtPrice = 0.125
    ib.placeOrder(put, resting.order)

    assert wait_until(ib, lambda: sum(code == 110 for _, code, _ in seen) == 3)
    live = gateway.call(lambda: gateway.gateway.broker.open_orders())
    assert [o.limit_price for o in live] == [0.12]  # the order kept working at its old price


def test_delayed_replies_arrive_late_and_in_request_order(
    gateway: GatewayThread, connect: ConnectFn, wait_until: WaitFn
) -> None:
    ib = connect(gateway)
    faults = gateway.gateway.faults
    faults.set_delay(0.5)
    loop = util.getLoop()
    done: list[str] = []
    tasks = []
    for symbol in ("SPY", "QQQ", "IWM"):
        task = asyncio.ensure_future(
            ib.reqContractDetailsAsync(Stock(symbol, "SMART", "USD")), loop=loop
        )
        task.add_done_callback(lambda _t, s=symbol: done.append(s))
        tasks.append(task)

    ib.sleep(0.05)  # the requests are out; the answers are held back
    assert done == []
    assert wait_until(ib, lambda: len(done) == 3)

    assert done == ["SPY", "QQQ", "IWM"]
    assert [t.result()[0].contract.symbol for t in tasks] == ["SPY", "QQQ", "IWM"]
    faults.set_delay(0.0)
    [ticker] = ib.reqTickers(tasks[0].result()[0].contract)
    assert ticker.bid > 0
