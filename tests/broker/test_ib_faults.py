"""IBBroker against a misbehaving gateway: drops, connectivity loss, refused ids, rejections, IB's rules."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tradelib.broker.ib import IBBroker
from tradelib.domain import Contract, Leg, OrderStatus, Right, TradingMode, check_quote
from tradelib.errors import ClientIdInUseError, MarketDataLineLimitError
from tradelib.gateway import GatewayThread

from .conftest import IbErrorLog, MakeIB, connect_ib
from .scenarios import expiry_in, intent, marketable, option, prices, put_credit_spread, spot

pytestmark = [
    pytest.mark.usefixtures("ib_errors"),
    pytest.mark.integration,
    pytest.mark.timeout(60),
]

REQ_MKT_DATA = 1  # incoming message id of reqMktData at the gateway


def _otm_put(broker: IBBroker) -> Contract:
    return option(broker, "SPY", expiry_in(broker), spot(broker) * 0.97, Right.PUT)


def _options(broker: IBBroker, n: int) -> list[Contract]:
    expiry = expiry_in(broker)
    strikes = broker.option_chain("SPY").strikes_for(expiry)
    s = spot(broker)
    near = sorted(strikes, key=lambda k: abs(k - s))[:n]
    return [broker.resolve(Contract.option("SPY", expiry, k, Right.CALL)) for k in sorted(near)]


# --- dropped connections -------------------------------------------------------------------------


def test_an_order_acked_before_a_drop_is_found_by_its_ref_after_reconnecting_and_never_resent(
    gateway: GatewayThread, make_ib: MakeIB, ib_errors: IbErrorLog
) -> None:
    ib_errors.allow("Peer closed connection")
    broker = make_ib()
    put = _otm_put(broker)
    legs = [Leg(put, +1)]
    resting = intent(broker, legs, max(round(prices(broker, legs)[0] * 0.5, 2), 0.01))
    gateway.gateway.faults.drop_after_next_order()

    first = broker.place_order(resting)
    for _ in range(100):  # the gateway closes the socket once its acks are out
        if gateway.gateway.faults.stats.connections_dropped:
            break
        broker.connection.ib.sleep(0.02)
    again = broker.place_order(resting)

    assert first.status is OrderStatus.SUBMITTED
    assert again.order_ref == resting.order_ref and again.status is OrderStatus.SUBMITTED
    assert again.broker_order_id == first.broker_order_id
    assert broker.connection.reconnects == 1 and broker.is_connected
    stats = gateway.gateway.faults.stats
    assert stats.connections_dropped == 1
    assert stats.broker_orders_by_ref == {resting.order_ref: 1}
    assert stats.place_orders == 1
    assert [o.order_ref for o in broker.open_orders()] == [resting.order_ref]


def test_an_order_that_filled_while_disconnected_is_found_through_its_executions(
    gateway: GatewayThread, make_ib: MakeIB, ib_errors: IbErrorLog
) -> None:
    ib_errors.allow("Peer closed connection")
    broker = make_ib()
    legs = [Leg(_otm_put(broker), +1)]
    # a generous pad: the market runs on (20x) between the quote and the order on a busy machine
    order = intent(broker, legs, marketable(broker, legs, pad=0.5))
    gateway.gateway.faults.drop_after_next_order()

    broker.place_order(order)
    sim = gateway.gateway.broker
    for _ in range(20):  # the market moves on without us until the order fills
        if gateway.call(lambda: sim.order(order.order_ref)).status is OrderStatus.FILLED:  # type: ignore[union-attr]
            break
        gateway.call(lambda: sim.wait(5))
    state = broker.place_order(order)

    assert state.status is OrderStatus.FILLED and state.filled_quantity == 1
    assert gateway.gateway.faults.stats.broker_orders_by_ref == {order.order_ref: 1}
    assert [f.order_ref for f in broker.executions()] == [order.order_ref]


def test_every_call_reconnects_after_the_gateway_drops_everyone(
    gateway: GatewayThread, make_ib: MakeIB, ib_errors: IbErrorLog
) -> None:
    ib_errors.allow("Peer closed connection", "Connection reset by peer")
    broker = make_ib()
    legs = put_credit_spread(broker)
    broker.stream([leg.contract for leg in legs])

    gateway.gateway.faults.drop_connections()

    assert broker.account().net_liquidation > 0
    assert broker.connection.reconnects == 1
    broker.wait(2)
    stats = gateway.gateway.faults.stats
    assert stats.lines_by_client == {broker.connection.client_id: 2}, "streams resubscribed"
    for leg in legs:
        assert broker.latest(leg.contract) is not None


# --- connectivity between IB and the gateway ---------------------------------------------------------


def test_1100_then_1102_keeps_streams_orders_and_positions(
    gateway: GatewayThread, make_ib: MakeIB, ib_errors: IbErrorLog
) -> None:
    ib_errors.allow("Error 1100,", "Error 1102,")
    broker = make_ib()
    legs = put_credit_spread(broker)
    contracts = [leg.contract for leg in legs]
    broker.stream(contracts)
    put = _otm_put(broker)
    resting = intent(broker, [Leg(put, +1)], 0.01)
    broker.place_order(resting)
    faults = gateway.gateway.faults
    requests_before = faults.stats.messages_received.get(REQ_MKT_DATA, 0)

    faults.connectivity_lost()
    broker.wait(30)
    stale = broker.latest(contracts[0])
    assert stale is not None
    assert not check_quote(stale, broker.now(), max_age_s=15.0), "quotes age while IB is cut off"

    faults.connectivity_restored(data_lost=False)
    broker.wait(1)

    stats = faults.stats
    assert stats.messages_received.get(REQ_MKT_DATA, 0) == requests_before, "nothing resubscribed"
    assert stats.lines_by_client == {broker.connection.client_id: 2}
    fresh = broker.latest(contracts[0])
    assert fresh is not None and check_quote(fresh, broker.now(), max_age_s=15.0)
    assert [o.order_ref for o in broker.open_orders()] == [resting.order_ref]
    assert broker.connection.reconnects == 0


def test_1100_then_1101_resubscribes_every_streaming_line(
    gateway: GatewayThread, make_ib: MakeIB, ib_errors: IbErrorLog
) -> None:
    ib_errors.allow("Error 1100,", "Error 1101,")
    broker = make_ib()
    contracts = _options(broker, 4)
    broker.stream(contracts)
    faults = gateway.gateway.faults

    faults.connectivity_lost()
    faults.connectivity_restored(data_lost=True)
    broker.wait(2)

    assert faults.stats.lines_by_client == {broker.connection.client_id: 4}
    assert {c.key for c in broker.streaming()} == {c.key for c in contracts}
    for c in contracts:
        quote = broker.latest(c)
        assert quote is not None and check_quote(quote, broker.now(), max_age_s=15.0)


# --- client ids ------------------------------------------------------------------------------------


def test_a_refused_client_id_falls_back_to_the_next_configured_one(
    gateway: GatewayThread, make_ib: MakeIB, ib_errors: IbErrorLog
) -> None:
    ib_errors.allow("Error 326,", "API connection failed", "already in use")
    gateway.gateway.faults.refuse_client_ids([1])

    broker = make_ib(client_ids=(1, 11, 12))

    assert broker.connection.client_id == 11
    assert broker.connection.refused_ids == [1]
    assert broker.account().net_liquidation > 0


def test_every_client_id_refused_is_a_clear_error_naming_them(
    gateway: GatewayThread, ib_errors: IbErrorLog
) -> None:
    ib_errors.allow("Error 326,", "API connection failed", "already in use")
    gateway.gateway.faults.refuse_client_ids([1, 11])
    broker = connect_ib(gateway, client_ids=(1, 11))

    with pytest.raises(ClientIdInUseError, match=r"1, 11.*326") as err:
        broker.connect()

    assert err.value.code == 326
    assert not broker.is_connected


# --- orders -------------------------------------------------------------------------------------------


def test_a_201_rejection_ends_the_order_rejected_with_ibs_reason(
    gateway: GatewayThread, make_ib: MakeIB, ib_errors: IbErrorLog
) -> None:
    ib_errors.allow("Error 201,")
    broker = make_ib()
    legs = [Leg(_otm_put(broker), +1)]
    order = intent(broker, legs, marketable(broker, legs))
    gateway.gateway.faults.reject_next_order(201, "insufficient margin for the test")

    state = broker.place_order(order)
    again = broker.place_order(order)

    assert state.status is OrderStatus.REJECTED
    assert state.error_code == 201
    assert "insufficient margin for the test" in state.reason
    later = broker.order(order.order_ref)
    for seen in (again, later):
        assert seen is not None and seen.status is OrderStatus.REJECTED
        assert (seen.reason, seen.error_code) == (state.reason, 201)
    assert gateway.gateway.faults.stats.place_orders == 1
    assert broker.open_orders() == [] and broker.positions() == []


def test_off_grid_limits_are_rounded_passively_so_ib_never_answers_110(
    gateway: GatewayThread, make_ib: MakeIB
) -> None:
    broker = make_ib()
    put = _otm_put(broker)
    spread = list(put_credit_spread(broker))
    credit = round(prices(broker, spread)[1], 2) - 1.0  # a dollar more credit than natural
    es = broker.resolve(Contract.future("ES", date(2026, 12, 18), 50))
    es_bid = round(broker.snapshot([es])[0].bid * 0.9)
    odd = [  # resting prices with sub-tick digits; rounding must never make them richer
        (intent(broker, [Leg(put, +1)], 0.123456, to_cent=False), 0.12),  # buy
        (intent(broker, [Leg(put, -1)], -9.876543, to_cent=False), -9.88),  # sell for 9.88
        (intent(broker, spread, credit - 0.004321, to_cent=False), credit - 0.01),  # combo credit
        (intent(broker, [Leg(es, +1)], es_bid + 0.13, to_cent=False), es_bid),  # ES ticks 0.25
    ]

    states = [broker.place_order(order) for order, _ in odd]

    assert gateway.gateway.faults.stats.errors_sent.get(110, 0) == 0
    assert [s.status for s in states] == [OrderStatus.SUBMITTED] * 4, states
    assert [s.limit_price for s in states] == pytest.approx([want for _, want in odd])


def test_the_line_budget_refuses_before_ib_would_answer_101(
    gateway: GatewayThread, make_ib: MakeIB
) -> None:
    gateway.gateway.faults.set_line_limit(5)
    broker = make_ib(line_budget=5)
    contracts = _options(broker, 12)

    broker.stream(contracts[:5])
    with pytest.raises(MarketDataLineLimitError):
        broker.stream(contracts[5:6])
    quotes = broker.snapshot(contracts)  # snapshots share what is left of the budget

    assert [q.contract.key for q in quotes] == [c.key for c in contracts]
    assert all(q.bid > 0 and q.greeks is not None for q in quotes)
    stats = gateway.gateway.faults.stats
    assert stats.errors_sent.get(101, 0) == 0
    assert stats.lines_by_client == {broker.connection.client_id: 5}


def test_read_only_mode_sends_the_gateway_no_order_message_at_all(
    gateway: GatewayThread, make_ib: MakeIB
) -> None:
    from tradelib.errors import ReadOnlyModeError

    broker = make_ib(mode=TradingMode.READONLY)
    legs = [Leg(_otm_put(broker), +1)]
    order = intent(broker, legs, marketable(broker, legs))

    for action in (lambda: broker.place_order(order), lambda: broker.cancel_order(order.order_ref)):
        with pytest.raises(ReadOnlyModeError):
            action()

    stats = gateway.gateway.faults.stats
    assert stats.place_orders == 0 and stats.cancels == 0 and stats.global_cancels == 0
    assert broker.account().net_liquidation > 0


def test_historical_data_retries_a_transient_162(
    gateway: GatewayThread, make_ib: MakeIB, ib_errors: IbErrorLog
) -> None:
    ib_errors.allow("Error 162,")
    broker = make_ib()
    spy = broker.resolve(Contract.stock("SPY"))
    end = broker.now()
    gateway.gateway.faults.fail_historical(162, times=1)

    bars = broker.bars(spy, end - timedelta(days=10), end, 86400)

    assert bars.height >= 5
    assert bars.columns == ["ts", "open", "high", "low", "close", "volume"]
    assert (bars["high"] >= bars["low"]).all()
