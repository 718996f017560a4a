"""IBBroker against what a real TWS does that the happy path hides (issue 13, item 8).

Error 101 on a line the budget let through, the cost of asking the server's
time, an orderRef echoed empty, an account summary with holes, and the
dividend tick (generic tick 456, tick type 59).
"""

from __future__ import annotations

import pytest

from tradelib.broker.connection import IBConnectionManager
from tradelib.broker.ib import IBBroker
from tradelib.domain import Contract, Leg, OrderStatus, Right
from tradelib.domain.market import Dividend
from tradelib.errors import BrokerError, MarketDataLineLimitError
from tradelib.gateway import GatewayThread

from .conftest import IbErrorLog, MakeIB
from .scenarios import expiry_in, intent, option, prices, spot

pytestmark = [
    pytest.mark.usefixtures("ib_errors"),
    pytest.mark.integration,
    pytest.mark.timeout(90),
]

REQ_CURRENT_TIME = 49  # incoming message id of reqCurrentTime at the gateway


def _calls(broker: IBBroker, n: int) -> list[Contract]:
    expiry = expiry_in(broker)
    s = spot(broker)
    strikes = sorted(broker.option_chain("SPY").strikes_for(expiry), key=lambda k: abs(k - s))
    return [
        broker.resolve(Contract.option("SPY", expiry, k, Right.CALL)) for k in sorted(strikes[:n])
    ]


# --- error 101 ----------------------------------------------------------------------------------


def test_lines_ib_refuses_with_101_leave_the_budget_and_fall_back_to_snapshots(
    gateway: GatewayThread, make_ib: MakeIB, ib_errors: IbErrorLog
) -> None:
    ib_errors.allow("Error 101,")
    gateway.gateway.faults.set_line_limit(3)  # IB holds fewer lines than configured
    broker = make_ib(line_budget=6)
    contracts = _calls(broker, 6)

    with pytest.raises(MarketDataLineLimitError) as refused:
        broker.stream(contracts)

    assert refused.value.code == 101
    broker.wait(1)  # let the cancels reach the gateway
    stats = gateway.gateway.faults.stats
    held = stats.lines_by_client.get(broker.connection.client_id or 0, 0)
    assert len(broker.streaming()) == held == 0, "nothing half-started"
    assert broker.line_budget == 3, "the budget shrinks to what IB holds"
    assert broker.refused_lines == 3
    quotes = broker.snapshot(contracts)
    assert all(q.bid > 0 and q.ask > q.bid for q in quotes), "refused lines are snapshotted"

    broker.stream(contracts[:3])
    broker.wait(1)
    assert len(broker.streaming()) == 3
    assert gateway.gateway.faults.stats.lines_by_client == {broker.connection.client_id: 3}
    assert all(broker.latest(c) is not None for c in contracts[:3])
    with pytest.raises(MarketDataLineLimitError):
        broker.stream(contracts[3:4])  # refused locally now: no second 101
    assert gateway.gateway.faults.stats.errors_sent.get(101, 0) == 3


# --- the server clock -------------------------------------------------------------------------


def test_wait_asks_the_server_time_at_most_once_per_sync_interval(
    gateway: GatewayThread,
) -> None:
    gw = gateway.gateway
    gateway.call(lambda: setattr(gw, "speed", 1.0))
    connection = IBConnectionManager(
        "127.0.0.1", gateway.port, (1,), max_requests_per_s=0, connect_timeout_s=5.0
    )
    broker = IBBroker(connection)  # a plain broker: the gateway runs at real pace
    broker.connect()
    try:
        before = broker.now()
        asked = gw.faults.stats.messages_received.get(REQ_CURRENT_TIME, 0)
        broker.wait(2.0)
        for _ in range(50):
            broker.now()
        after = broker.now()
        asked_after = gw.faults.stats.messages_received.get(REQ_CURRENT_TIME, 0)
    finally:
        broker.disconnect()

    assert (after - before).total_seconds() >= 2.0
    assert asked_after - asked <= 1, f"{asked_after - asked} time requests in one wait(2)"


def test_the_clock_resyncs_after_its_interval(gateway: GatewayThread) -> None:
    gw = gateway.gateway
    connection = IBConnectionManager(
        "127.0.0.1", gateway.port, (1,), max_requests_per_s=0, connect_timeout_s=5.0
    )
    broker = IBBroker(connection, clock_sync_s=0.5)
    broker.connect()
    try:
        asked = gw.faults.stats.messages_received.get(REQ_CURRENT_TIME, 0)
        broker.wait(1.5 * gw.speed)
        asked_after = gw.faults.stats.messages_received.get(REQ_CURRENT_TIME, 0)
    finally:
        broker.disconnect()
    assert 1 <= asked_after - asked <= 6


# --- orders whose orderRef comes back empty -------------------------------------------------------


def test_an_order_is_found_by_its_ids_when_the_server_echoes_an_empty_order_ref(
    gateway: GatewayThread, make_ib: MakeIB, ib_errors: IbErrorLog
) -> None:
    ib_errors.allow("Peer closed connection", "Connection reset by peer")
    broker = make_ib()
    put = option(broker, "SPY", expiry_in(broker), spot(broker) * 0.97, Right.PUT)
    legs = [Leg(put, +1)]
    resting = intent(broker, legs, max(round(prices(broker, legs)[0] * 0.5, 2), 0.01))
    gateway.gateway.faults.blank_order_refs()

    placed = broker.place_order(resting)
    gateway.gateway.faults.drop_connections()  # a new session knows only what IB echoes
    found = broker.order(resting.order_ref)
    again = broker.place_order(resting)

    assert placed.status is OrderStatus.SUBMITTED
    assert found is not None and found.status is OrderStatus.SUBMITTED
    assert found.perm_id == placed.perm_id
    assert again.perm_id == placed.perm_id, "not sent twice"
    assert gateway.gateway.faults.stats.broker_orders == 1
    assert [o.order_ref for o in broker.open_orders()] == [resting.order_ref]
    cancelled = broker.cancel_order(resting.order_ref)
    assert cancelled.status is OrderStatus.CANCELLED


# --- the account summary ----------------------------------------------------------------------------


def test_account_names_the_fields_the_server_left_out(
    gateway: GatewayThread, make_ib: MakeIB
) -> None:
    broker = make_ib()
    assert broker.account().cash > 0
    gateway.gateway.faults.omit_account_tags(["TotalCashValue", "BuyingPower"])

    with pytest.raises(BrokerError) as missing:
        broker.account()

    text = str(missing.value)
    assert "cash (TotalCashValue)" in text and "buying power (BuyingPower)" in text
    assert "margin" not in text.split("lacks", 1)[1].split(":")[0]


# --- dividends ----------------------------------------------------------------------------------------


def test_dividend_comes_from_ibs_dividend_tick(gateway: GatewayThread, make_ib: MakeIB) -> None:
    from tradelib.sim.dividends import next_dividend

    broker = make_ib()
    today = broker.now().date()

    spy = broker.dividend("SPY")
    expected = next_dividend("SPY", today)

    assert isinstance(spy, Dividend) and expected is not None
    assert spy == expected
    assert spy.ex_date >= today and 0.5 < spy.amount < 3.0
    assert broker.streaming() == [], "the dividend line is released"
    broker.wait(1)
    assert gateway.gateway.faults.stats.lines_by_client == {broker.connection.client_id: 0}


def test_a_line_ib_refuses_on_resubscription_goes_back_to_snapshots(
    gateway: GatewayThread, make_ib: MakeIB, ib_errors: IbErrorLog
) -> None:
    ib_errors.allow("Error 101,", "Peer closed connection", "Connection reset by peer")
    broker = make_ib(line_budget=6)
    contracts = _calls(broker, 3)
    broker.stream(contracts)
    faults = gateway.gateway.faults
    faults.set_line_limit(2)  # another session took a line meanwhile

    faults.drop_connections()
    broker.wait(2)  # reconnect and resubscribe: IB holds two of the three

    assert broker.connection.reconnects == 1
    assert len(broker.streaming()) == 2 and broker.line_budget == 2
    assert broker.refused_lines == 1
    assert faults.stats.lines_by_client == {broker.connection.client_id: 2}
    quotes = broker.snapshot(contracts)
    assert all(q.bid > 0 for q in quotes)
