"""The broker contract: what every Broker implementation must do, through the port only."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, timedelta

import pytest

from tradelib.broker import Broker
from tradelib.domain import Contract, Leg, OrderPurpose, OrderStatus, Right, SecType, TradingMode
from tradelib.errors import (
    BrokerError,
    ContractError,
    MarketDataLineLimitError,
    NotConnectedError,
    ReadOnlyModeError,
)

from .conftest import MakeBroker
from .scenarios import (
    expiry_in,
    intent,
    marketable,
    new_ref,
    option,
    position_qty,
    prices,
    put_credit_spread,
    spot,
)

# --- session -------------------------------------------------------------------------------


def test_connect_and_disconnect_are_idempotent(broker: Broker) -> None:
    broker.connect()
    assert broker.is_connected
    broker.disconnect()
    broker.disconnect()
    assert not broker.is_connected
    broker.connect()
    assert broker.is_connected
    assert broker.account().net_liquidation > 0


def test_calls_that_need_the_session_raise_when_disconnected(broker: Broker) -> None:
    spy = Contract.stock("SPY")
    broker.disconnect()
    calls: list[Callable[[], object]] = [
        broker.account,
        broker.positions,
        broker.open_orders,
        broker.executions,
        lambda: broker.resolve(spy),
        lambda: broker.snapshot([spy]),
        lambda: broker.stream([spy]),
        lambda: broker.option_chain("SPY"),
        lambda: broker.order("tl:x:open:1"),
    ]
    for call in calls:
        with pytest.raises(NotConnectedError):
            call()


def test_the_market_is_open_at_the_start_and_time_moves_forward(broker: Broker) -> None:
    assert broker.is_market_open(Contract.stock("SPY"))
    before = broker.now()
    broker.wait(5)
    assert broker.now() - before >= timedelta(seconds=5)


# --- account -------------------------------------------------------------------------------


def test_a_fresh_account_is_all_cash_with_no_margin_in_use(broker: Broker) -> None:
    acct = broker.account()
    assert acct.net_liquidation == pytest.approx(100_000.0)
    assert acct.cash == pytest.approx(100_000.0)
    assert acct.init_margin == 0 and acct.maint_margin == 0
    assert acct.excess_liquidity == pytest.approx(acct.net_liquidation)
    assert acct.buying_power > 0
    assert "*" in acct.account, "the account id must be masked"
    assert broker.positions() == []


# --- contracts and market data ---------------------------------------------------------------


def test_resolve_fills_in_con_ids_for_stocks_options_and_futures(broker: Broker) -> None:
    stock = broker.resolve(Contract.stock("SPY"))
    assert stock.con_id and stock.sec_type is SecType.STOCK

    expiry = expiry_in(broker)
    opt = option(broker, "SPY", expiry, spot(broker), Right.CALL)
    assert opt.con_id and opt.multiplier == 100 and opt.trading_class == "SPY"

    # ES front month on 2026-11-24 is December 2026 (third Friday 2026-12-18).
    fut = broker.resolve(Contract.future("ES", date(2026, 12, 18), 50))
    assert fut.con_id and fut.multiplier == 50 and fut.local_symbol == "ESZ6"


def test_resolving_an_unknown_symbol_names_it(broker: Broker) -> None:
    with pytest.raises(ContractError, match="ZZZQ"):
        broker.resolve(Contract.stock("ZZZQ"))


def test_option_chain_lists_expiries_30_to_45_days_out_with_strikes_around_spot(
    broker: Broker,
) -> None:
    chain = broker.option_chain("SPY")
    today = broker.now().date()
    in_window = [e for e in chain.expiries if 30 <= (e - today).days <= 45]
    assert in_window
    s = spot(broker)
    for e in in_window:
        strikes = chain.strikes_for(e)
        assert min(strikes) < s * 0.95 and max(strikes) > s * 1.03
        assert list(strikes) == sorted(strikes)


def test_option_snapshots_carry_a_sane_book_and_greeks(broker: Broker) -> None:
    expiry = expiry_in(broker)
    s = spot(broker)
    put = option(broker, "SPY", expiry, s * 0.97, Right.PUT)
    call = option(broker, "SPY", expiry, s * 1.03, Right.CALL)
    qp, qc = broker.snapshot([put, call])
    assert (qp.contract.key, qc.contract.key) == (put.key, call.key)
    for q in (qp, qc):
        assert 0 <= q.bid <= q.ask
        assert q.greeks is not None and q.greeks.iv > 0
        assert q.underlying_price == pytest.approx(s, rel=0.01)
    assert qp.greeks is not None and qc.greeks is not None
    assert qp.greeks.delta < 0 < qc.greeks.delta


def test_vix_is_quoted_as_an_index_with_a_last_price(broker: Broker) -> None:
    (q,) = broker.snapshot([Contract.index("VIX")])
    assert q.contract.sec_type is SecType.INDEX
    assert q.last > 0


def test_streaming_stays_within_the_line_budget(make_broker: MakeBroker) -> None:
    broker = make_broker(line_budget=3)
    expiry = expiry_in(broker)
    s = spot(broker)
    legs = [option(broker, "SPY", expiry, s + k, Right.CALL) for k in (0, 5, 10, 15)]
    broker.stream(legs[:2])
    broker.stream(legs[:2])  # already streaming: uses no new line
    assert {c.key for c in broker.streaming()} == {legs[0].key, legs[1].key}
    with pytest.raises(MarketDataLineLimitError):
        broker.stream(legs[2:])
    assert len(broker.streaming()) == 2, "a refused request starts nothing"
    broker.stream(legs[2:3])
    assert len(broker.streaming()) == 3
    latest = broker.latest(legs[2])
    assert latest is not None and latest.contract.key == legs[2].key
    broker.unstream(legs[:1])
    assert broker.latest(legs[0]) is None
    broker.stream(legs[3:])
    assert len(broker.streaming()) == 3


# --- orders ---------------------------------------------------------------------------------------


def test_a_marketable_option_order_fills_and_shows_in_positions_and_executions(
    broker: Broker,
) -> None:
    expiry = expiry_in(broker)
    put = option(broker, "SPY", expiry, spot(broker) * 0.97, Right.PUT)
    legs = [Leg(put, +1)]
    limit = marketable(broker, legs)
    order = intent(broker, legs, limit)
    state = broker.place_order(order)
    for _ in range(10):
        if state.status is OrderStatus.FILLED:
            break
        broker.wait(1)
        state = broker.order(order.order_ref) or state
    assert state.status is OrderStatus.FILLED
    assert state.filled_quantity == 1
    assert state.avg_fill_price <= limit + 1e-9
    assert position_qty(broker, put) == 1
    (fill,) = [f for f in broker.executions() if f.order_ref == order.order_ref]
    assert fill.quantity == 1 and fill.contract.key == put.key
    assert fill.commission >= 1.0
    assert broker.open_orders() == []


def test_a_passive_limit_far_from_the_market_works_until_cancelled(broker: Broker) -> None:
    expiry = expiry_in(broker)
    put = option(broker, "SPY", expiry, spot(broker) * 0.97, Right.PUT)
    legs = [Leg(put, +1)]
    mid = prices(broker, legs)[0]
    order = intent(broker, legs, max(round(mid * 0.5, 2), 0.01))
    state = broker.place_order(order)
    assert state.status is OrderStatus.SUBMITTED
    broker.wait(30)
    assert [o.order_ref for o in broker.open_orders()] == [order.order_ref]
    cancelled = broker.cancel_order(order.order_ref)
    assert cancelled.status is OrderStatus.CANCELLED
    assert broker.open_orders() == []
    assert broker.cancel_order(order.order_ref).status is OrderStatus.CANCELLED
    assert position_qty(broker, put) == 0


def test_cancelling_an_unknown_order_is_an_error(broker: Broker) -> None:
    with pytest.raises(BrokerError):
        broker.cancel_order("tl:nobody:open:1")


def test_a_credit_spread_at_natural_fills_as_one_order_with_two_leg_fills(
    broker: Broker,
) -> None:
    legs = put_credit_spread(broker)
    _mid, natural, _ = prices(broker, legs)
    assert natural < 0, "selling the higher put is a net credit"
    order = intent(broker, legs, natural)
    broker.place_order(order)
    broker.wait(3)
    state = broker.order(order.order_ref)
    assert state is not None and state.status is OrderStatus.FILLED
    assert state.avg_fill_price <= natural + 1e-9
    fills = [f for f in broker.executions() if f.order_ref == order.order_ref]
    assert sorted(f.quantity for f in fills) == [-1, 1]
    net = sum(f.quantity * f.price for f in fills)
    assert net == pytest.approx(state.avg_fill_price, abs=1e-6)
    short, long = legs
    assert position_qty(broker, short.contract) == -1
    assert position_qty(broker, long.contract) == 1
    assert broker.account().maint_margin > 0


def test_the_same_order_ref_never_creates_a_second_order(broker: Broker) -> None:
    expiry = expiry_in(broker)
    put = option(broker, "SPY", expiry, spot(broker) * 0.97, Right.PUT)
    legs = [Leg(put, +1)]
    order = intent(broker, legs, marketable(broker, legs))
    first = broker.place_order(order)
    broker.wait(2)
    again = broker.place_order(order)
    assert again.order_ref == first.order_ref
    assert again.broker_order_id == first.broker_order_id
    assert position_qty(broker, put) == 1
    assert len([f for f in broker.executions() if f.order_ref == order.order_ref]) == 1


def test_closing_a_position_flattens_it(broker: Broker) -> None:
    legs = put_credit_spread(broker)
    broker.place_order(intent(broker, legs, marketable(broker, legs)))
    broker.wait(2)
    closing = [Leg(leg.contract, -leg.ratio) for leg in legs]
    close = intent(broker, closing, marketable(broker, closing), purpose=OrderPurpose.CLOSE)
    broker.place_order(close)
    broker.wait(2)
    state = broker.order(close.order_ref)
    assert state is not None and state.status is OrderStatus.FILLED
    assert broker.positions() == []
    assert broker.account().maint_margin == 0


def test_read_only_mode_refuses_every_order_action_and_places_nothing(
    make_broker: MakeBroker,
) -> None:
    broker = make_broker(mode=TradingMode.READONLY)
    assert broker.mode is TradingMode.READONLY
    expiry = expiry_in(broker)
    put = option(broker, "SPY", expiry, spot(broker) * 0.97, Right.PUT)
    legs = [Leg(put, +1)]
    order = intent(broker, legs, marketable(broker, legs))
    with pytest.raises(ReadOnlyModeError):
        broker.place_order(order)
    with pytest.raises(ReadOnlyModeError):
        broker.cancel_order(order.order_ref)
    broker.wait(2)
    assert broker.order(order.order_ref) is None
    assert broker.open_orders() == [] and broker.executions() == [] and broker.positions() == []
    # Reading still works in read-only mode.
    assert broker.account().net_liquidation > 0


def test_a_day_order_left_working_expires_at_the_close(broker: Broker) -> None:
    expiry = expiry_in(broker)
    put = option(broker, "SPY", expiry, spot(broker) * 0.97, Right.PUT)
    legs = [Leg(put, +1)]
    order = intent(broker, legs, max(round(prices(broker, legs)[0] * 0.5, 2), 0.01))
    broker.place_order(order)
    spy = Contract.stock("SPY")
    for _ in range(20):  # at most 10 hours in 30-minute steps
        if not broker.is_market_open(spy):
            break
        broker.wait(1800)
    assert not broker.is_market_open(spy)
    state = broker.order(order.order_ref)
    assert state is not None and state.status is OrderStatus.CANCELLED
    assert "day order" in state.reason
    assert broker.open_orders() == []


def test_orders_outside_regular_hours_are_rejected_with_a_reason(broker: Broker) -> None:
    expiry = expiry_in(broker)
    put = option(broker, "SPY", expiry, spot(broker) * 0.97, Right.PUT)
    spy = Contract.stock("SPY")
    while broker.is_market_open(spy):
        broker.wait(3600)
    order = intent(broker, [Leg(put, +1)], 5.0, ref=new_ref("closed"))
    state = broker.place_order(order)
    assert state.status is OrderStatus.REJECTED
    assert "closed" in state.reason
    assert broker.place_order(order).status is OrderStatus.REJECTED
    assert broker.positions() == [] and math.isfinite(broker.account().cash)


def test_combo_fills_are_on_the_cent_grid_and_add_up_to_the_order_price(broker: Broker) -> None:
    legs = put_credit_spread(broker)
    expiry = legs[0].contract.expiry
    assert expiry is not None
    s = spot(broker)
    call = option(broker, "SPY", expiry, s * 1.04, Right.CALL)
    wing = option(broker, "SPY", expiry, s * 1.04 + 5, Right.CALL)
    condor = [*legs, Leg(call, -1), Leg(wing, 1)]
    order = intent(broker, condor, marketable(broker, condor))
    broker.place_order(order)
    broker.wait(3)
    state = broker.order(order.order_ref)
    assert state is not None and state.status is OrderStatus.FILLED
    fills = [f for f in broker.executions() if f.order_ref == order.order_ref]
    assert len(fills) == 4
    for f in fills:
        assert abs(f.price * 100 - round(f.price * 100)) < 1e-6, f.price
        assert abs(f.commission * 100 - round(f.commission * 100)) < 1e-6, f.commission
    net = sum(f.quantity * f.price for f in fills)
    assert net == pytest.approx(state.avg_fill_price, abs=1e-6)


def test_the_next_dividend_of_an_index_etf_is_announced(broker: Broker) -> None:
    div = broker.dividend("SPY")
    assert div is not None and div.symbol == "SPY"
    assert div.ex_date >= broker.now().date() and div.amount == pytest.approx(1.75)
    with pytest.raises(ContractError):  # an index is not a stock that pays dividends
        broker.dividend("VIX")
