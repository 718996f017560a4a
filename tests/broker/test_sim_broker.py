"""SimBroker beyond the shared contract: fill realism, accounting, margin, expiry, events."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterator
from datetime import date

import pytest

from tradelib.broker import (
    BrokerEvent,
    ConnectionEvent,
    FillEvent,
    OrderStatusEvent,
    QuoteEvent,
)
from tradelib.broker.sim import SimBroker
from tradelib.config import TradingConfig
from tradelib.domain import (
    Contract,
    Leg,
    OrderStatus,
    Right,
    SecType,
    TimeInForce,
    TradingMode,
    new_york,
)
from tradelib.sim import SimulatedMarket

from .conftest import sim_market
from .scenarios import (
    expiry_in,
    intent,
    marketable,
    option,
    position_qty,
    prices,
    put_credit_spread,
    spot,
)


@pytest.fixture
def market() -> SimulatedMarket:
    return sim_market()


@pytest.fixture
def broker(market: SimulatedMarket) -> Iterator[SimBroker]:
    b = SimBroker(market)
    b.connect()
    yield b
    b.disconnect()


def _put(broker: SimBroker, moneyness: float = 0.97) -> Contract:
    return option(broker, "SPY", expiry_in(broker), spot(broker) * moneyness, Right.PUT)


# --- price walk ------------------------------------------------------------------------------


@pytest.mark.slow  # many seeded markets
def test_fill_odds_rise_from_mid_to_natural_over_many_seeds(market: SimulatedMarket) -> None:
    steps = (0.0, 0.25, 0.5, 0.75, 1.0)
    filled = dict.fromkeys(steps, 0)
    trials = 30
    for seed in range(trials):
        b = SimBroker(market, fill_seed=seed)
        b.connect()
        # A put spread: wide enough that a quarter of the way to natural is a real price.
        legs = put_credit_spread(b)
        mid, natural, _ = prices(b, legs)
        refs = {}
        for x in steps:
            order = intent(b, legs, mid + x * (natural - mid), to_cent=False)
            refs[x] = order.order_ref
            b.place_order(order)
        b.wait(10)
        for x, ref in refs.items():
            state = b.order(ref)
            assert state is not None
            filled[x] += state.filled_quantity > 0
            if not state.status.is_terminal:
                b.cancel_order(ref)
        b.disconnect()
    rate = {x: n / trials for x, n in filled.items()}
    assert rate[1.0] == 1.0
    assert rate[0.0] <= 0.2, rate
    assert rate[0.25] < rate[0.75], rate
    assert rate[0.75] - rate[0.0] >= 0.4, rate
    # Monotone up to sampling noise.
    ordered = [rate[x] for x in steps]
    assert all(b >= a - 0.15 for a, b in itertools.pairwise(ordered)), rate


# --- partial fills and accounting ---------------------------------------------------------------


def test_an_order_larger_than_the_displayed_size_fills_in_pieces(broker: SimBroker) -> None:
    put = _put(broker, 0.90)
    (q,) = broker.snapshot([put])
    quantity = int(q.ask_size) * 2 + 1
    seen: list[OrderStatus] = []
    broker.events.subscribe(
        lambda e: seen.append(e.state.status) if isinstance(e, OrderStatusEvent) else None
    )
    order = intent(broker, [Leg(put, 1)], q.ask + 0.50, quantity=quantity)
    first = broker.place_order(order)
    assert first.status is OrderStatus.PARTIALLY_FILLED
    assert 0 < first.filled_quantity < quantity
    broker.wait(10)
    final = broker.order(order.order_ref)
    assert final is not None and final.status is OrderStatus.FILLED
    assert final.filled_quantity == quantity
    fills = [f for f in broker.executions() if f.order_ref == order.order_ref]
    assert len(fills) >= 3
    assert sum(f.quantity for f in fills) == quantity
    assert len({f.exec_id for f in fills}) == len(fills)
    assert seen[0] is OrderStatus.SUBMITTED and seen[-1] is OrderStatus.FILLED
    assert OrderStatus.PARTIALLY_FILLED in seen
    # The per-order minimum is charged once, then 0.65 per contract.
    assert sum(f.commission for f in fills) == pytest.approx(max(1.0, 0.65 * quantity))


def test_cash_moves_by_premium_and_commission_to_the_cent(broker: SimBroker) -> None:
    put = _put(broker)
    order = intent(broker, [Leg(put, 2)], marketable(broker, [Leg(put, 2)], 0.0))
    state = broker.place_order(order)
    assert state.status is OrderStatus.FILLED
    (fill,) = broker.executions()
    assert fill.commission == pytest.approx(1.30)
    acct = broker.account()
    assert round(acct.cash, 2) == round(100_000.0 - 2 * fill.price * 100 - 1.30, 2)
    (pos,) = broker.positions()
    assert pos.avg_cost == pytest.approx(fill.price * 100)
    assert acct.net_liquidation == pytest.approx(acct.cash + pos.market_value)
    assert pos.unrealized_pnl == pytest.approx(pos.market_value - 2 * pos.avg_cost)
    assert acct.realized_pnl == pytest.approx(-1.30)


def test_closing_realizes_the_round_trip_less_commissions(broker: SimBroker) -> None:
    put = _put(broker)
    broker.place_order(intent(broker, [Leg(put, 1)], marketable(broker, [Leg(put, 1)])))
    broker.wait(60)
    broker.place_order(intent(broker, [Leg(put, -1)], marketable(broker, [Leg(put, -1)])))
    buy, sell = broker.executions()
    acct = broker.account()
    trade = (sell.price - buy.price) * 100
    assert acct.realized_pnl == pytest.approx(trade - 2.0)
    assert acct.cash == pytest.approx(100_000.0 + trade - 2.0)
    assert broker.positions() == []


def test_a_market_order_pays_at_most_a_slice_of_the_spread_beyond_natural(
    broker: SimBroker,
) -> None:
    put = _put(broker)
    legs = [Leg(put, 1)]
    mid, natural, _ = prices(broker, legs)
    state = broker.place_order(intent(broker, legs, None))
    assert state.status is OrderStatus.FILLED
    slippage_cap = broker.fill_model.slippage_spread_frac * (natural - mid)
    assert natural - 1e-9 <= state.avg_fill_price <= natural + slippage_cap + 0.01


# --- margin ------------------------------------------------------------------------------------------


def test_account_margin_of_a_credit_spread_is_width_minus_credit(broker: SimBroker) -> None:
    legs = put_credit_spread(broker)
    state = broker.place_order(intent(broker, legs, marketable(broker, legs)))
    assert state.status is OrderStatus.FILLED
    short, long = legs
    assert short.contract.strike is not None and long.contract.strike is not None
    width = short.contract.strike - long.contract.strike
    credit = -state.avg_fill_price
    acct = broker.account()
    assert acct.maint_margin == pytest.approx((width - credit) * 100)
    assert acct.init_margin == acct.maint_margin
    assert acct.excess_liquidity == pytest.approx(acct.net_liquidation - acct.maint_margin)
    assert acct.buying_power == pytest.approx(acct.excess_liquidity)


def test_account_margin_of_a_naked_put_follows_the_twenty_percent_rule(
    broker: SimBroker,
) -> None:
    put = _put(broker, 0.95)
    broker.place_order(intent(broker, [Leg(put, -1)], marketable(broker, [Leg(put, -1)])))
    assert put.strike is not None
    (pos,) = broker.positions()
    s = broker.market.spot("SPY")
    otm = max(s - put.strike, 0.0)
    expected = (max(0.2 * s - otm, 0.1 * put.strike) + pos.market_price) * 100
    assert broker.account().maint_margin == pytest.approx(expected, rel=1e-9)


def test_an_order_needing_more_than_the_account_equity_is_rejected(broker: SimBroker) -> None:
    put = _put(broker, 0.95)
    legs = [Leg(put, -1)]
    state = broker.place_order(intent(broker, legs, marketable(broker, legs), quantity=50))
    assert state.status is OrderStatus.REJECTED
    assert "insufficient equity" in state.reason
    assert broker.positions() == []
    # One contract fits, and buying it back is always allowed.
    broker.place_order(intent(broker, legs, marketable(broker, legs)))
    closing = [Leg(put, 1)]
    assert broker.place_order(intent(broker, closing, marketable(broker, closing))).filled_quantity


def test_a_future_moves_no_premium_only_commission_and_margin(broker: SimBroker) -> None:
    es = broker.resolve(Contract.future("ES", date(2026, 12, 18), 50))
    legs = [Leg(es, 1)]
    state = broker.place_order(intent(broker, legs, marketable(broker, legs, 1.0)))
    assert state.status is OrderStatus.FILLED
    (fill,) = broker.executions()
    assert fill.commission == pytest.approx(2.25)
    acct = broker.account()
    assert acct.cash == pytest.approx(100_000.0 - 2.25)
    (pos,) = broker.positions()
    assert pos.avg_cost == pytest.approx(fill.price * 50)
    assert acct.net_liquidation == pytest.approx(acct.cash + pos.unrealized_pnl)
    assert acct.maint_margin == pytest.approx(0.05 * abs(pos.market_value))


def test_a_future_streams_under_its_month_or_its_local_symbol(broker: SimBroker) -> None:
    by_month = Contract.future("ES", date(2026, 12, 18), 50)
    broker.stream([by_month])
    (streamed,) = broker.streaming()
    assert streamed.local_symbol == "ESZ6"
    latest = broker.latest(by_month)
    assert latest is not None and latest.bid <= latest.ask
    broker.unstream([by_month])
    assert broker.streaming() == []


# --- expiry -------------------------------------------------------------------------------------------


def test_at_expiry_otm_options_vanish_and_an_itm_short_put_is_assigned(
    broker: SimBroker,
) -> None:
    expiry = date(2026, 11, 25)  # a Wednesday SPY weekly, one session away
    assert expiry in broker.option_chain("SPY").expiries
    strikes = broker.option_chain("SPY").strikes_for(expiry)
    itm_put = broker.resolve(Contract.option("SPY", expiry, max(strikes), Right.PUT))
    otm_put = broker.resolve(Contract.option("SPY", expiry, min(strikes), Right.PUT))
    for c in (itm_put, otm_put):
        legs = [Leg(c, -2)]
        state = broker.place_order(intent(broker, legs, marketable(broker, legs)))
        assert state.status is OrderStatus.FILLED
    cash_before = broker.account().cash
    broker.wait((new_york(2026, 11, 25, 16, 5) - broker.now()).total_seconds())
    assert itm_put.strike is not None
    spy = broker.resolve(Contract.stock("SPY"))
    assert position_qty(broker, itm_put) == 0 and position_qty(broker, otm_put) == 0
    assert position_qty(broker, spy) == 200
    (stock,) = broker.positions()
    assert stock.avg_cost == pytest.approx(itm_put.strike)
    assert broker.account().cash == pytest.approx(cash_before - 200 * itm_put.strike)
    assignments = [f for f in broker.executions() if f.contract.sec_type is SecType.STOCK]
    assert [f.quantity for f in assignments] == [200]


def test_streams_and_gtc_orders_on_an_expiring_option_end_at_its_close(
    broker: SimBroker,
) -> None:
    expiry = date(2026, 11, 25)  # tomorrow's weekly
    # In the money, so time decay cannot bring it down to the resting bid.
    put = option(broker, "SPY", expiry, spot(broker) * 1.02, Right.PUT)
    legs = [Leg(put, 1)]
    low = max(round(prices(broker, legs)[0] * 0.3, 2), 0.01)
    order = broker.place_order(intent(broker, legs, low, tif=TimeInForce.GTC))
    broker.stream([put])
    broker.wait((new_york(2026, 11, 25, 16, 30) - broker.now()).total_seconds())
    assert broker.streaming() == []
    state = broker.order(order.order_ref)
    assert state is not None and state.status is OrderStatus.CANCELLED
    assert state.reason == "contract expired"


# --- day P&L and session handling -----------------------------------------------------------


def test_day_pnl_is_measured_from_the_previous_close_so_overnight_gaps_count(
    broker: SimBroker,
) -> None:
    assert broker.account().day_pnl == 0.0
    put = _put(broker)
    broker.place_order(intent(broker, [Leg(put, 1)], marketable(broker, [Leg(put, 1)])))
    acct = broker.account()
    assert acct.day_pnl == pytest.approx(acct.net_liquidation - 100_000.0)
    broker.wait((new_york(2026, 11, 24, 16, 5) - broker.now()).total_seconds())
    at_close = broker.account()
    broker.wait((new_york(2026, 11, 25, 9, 30) - broker.now()).total_seconds())
    at_open = broker.account()
    assert at_open.day_pnl == pytest.approx(at_open.net_liquidation - at_close.net_liquidation)
    broker.wait(1800)
    later = broker.account()
    assert later.day_pnl == pytest.approx(later.net_liquidation - at_close.net_liquidation)


def test_a_gtc_order_survives_the_close_and_a_day_order_does_not(broker: SimBroker) -> None:
    put = _put(broker)
    legs = [Leg(put, 1)]
    low = max(round(prices(broker, legs)[0] * 0.3, 2), 0.01)
    day = broker.place_order(intent(broker, legs, low))
    gtc = broker.place_order(intent(broker, legs, low, tif=TimeInForce.GTC))
    broker.wait((new_york(2026, 11, 24, 16, 1) - broker.now()).total_seconds())
    day_state, gtc_state = broker.order(day.order_ref), broker.order(gtc.order_ref)
    assert day_state is not None and day_state.status is OrderStatus.CANCELLED
    assert day_state.reason == "day order expired"
    assert gtc_state is not None and gtc_state.status is OrderStatus.SUBMITTED


def test_moving_the_market_clock_directly_still_expires_day_orders(
    broker: SimBroker, market: SimulatedMarket
) -> None:
    put = _put(broker)
    legs = [Leg(put, 1)]
    order = broker.place_order(
        intent(broker, legs, max(round(prices(broker, legs)[0] * 0.3, 2), 0.01))
    )
    market.advance_to(new_york(2026, 11, 24, 17, 0))
    state = broker.order(order.order_ref)
    assert state is not None and state.status is OrderStatus.CANCELLED


# --- rejections ---------------------------------------------------------------------------------------


def test_an_order_on_an_unlisted_option_is_rejected_naming_it(broker: SimBroker) -> None:
    ghost = Contract.option("SPY", expiry_in(broker), 1.5, Right.PUT)
    state = broker.place_order(intent(broker, [Leg(ghost, 1)], 1.0))
    assert state.status is OrderStatus.REJECTED
    assert state.error_code == 200
    assert broker.positions() == []


def test_an_order_on_a_crossed_quote_is_rejected_and_nothing_trades(
    broker: SimBroker, market: SimulatedMarket, monkeypatch: pytest.MonkeyPatch
) -> None:
    put = _put(broker)
    real = market.option_quote

    def crossed(*args: object, **kwargs: object) -> object:
        q = real(*args, **kwargs)  # type: ignore[arg-type]
        return dataclasses.replace(q, bid=q.ask + 0.10)

    monkeypatch.setattr(market, "option_quote", crossed)
    state = broker.place_order(intent(broker, [Leg(put, 1)], 50.0))
    assert state.status is OrderStatus.REJECTED
    assert "crossed" in state.reason
    assert broker.executions() == []


def test_index_contracts_cannot_be_traded(broker: SimBroker) -> None:
    state = broker.place_order(intent(broker, [Leg(Contract.index("VIX"), 1)], 20.0))
    assert state.status is OrderStatus.REJECTED


# --- events --------------------------------------------------------------------------------------------


def test_events_follow_an_order_from_submission_to_fill(broker: SimBroker) -> None:
    events: list[BrokerEvent] = []
    broker.events.subscribe(events.append)
    legs = put_credit_spread(broker)
    state = broker.place_order(intent(broker, legs, marketable(broker, legs)))
    assert state.status is OrderStatus.FILLED
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["OrderStatusEvent", "FillEvent", "FillEvent", "OrderStatusEvent"]
    first, *_, last = events
    assert isinstance(first, OrderStatusEvent) and first.state.status is OrderStatus.SUBMITTED
    assert isinstance(last, OrderStatusEvent) and last.state.status is OrderStatus.FILLED
    fills = [e.fill for e in events if isinstance(e, FillEvent)]
    assert fills == broker.executions()


def test_streams_emit_at_most_one_quote_per_contract_per_wait(broker: SimBroker) -> None:
    quotes: list[QuoteEvent] = []
    broker.events.subscribe(lambda e: quotes.append(e) if isinstance(e, QuoteEvent) else None)
    put, call = _put(broker), _put(broker, 0.95)
    broker.stream([put, call])
    broker.wait(120)
    assert sorted(e.quote.contract.key for e in quotes) == sorted([put.key, call.key])
    assert all(e.quote.ts == broker.now() for e in quotes)


def test_connection_changes_are_announced(market: SimulatedMarket) -> None:
    b = SimBroker(market)
    events: list[BrokerEvent] = []
    b.events.subscribe(events.append)
    b.connect()
    b.connect()
    b.disconnect()
    assert [e.connected for e in events if isinstance(e, ConnectionEvent)] == [True, False]


def test_disconnecting_drops_streams_but_keeps_working_orders(broker: SimBroker) -> None:
    put = _put(broker)
    legs = [Leg(put, 1)]
    order = broker.place_order(
        intent(broker, legs, max(round(prices(broker, legs)[0] * 0.3, 2), 0.01))
    )
    broker.stream([put])
    broker.disconnect()
    broker.connect()
    assert broker.streaming() == []
    assert [o.order_ref for o in broker.open_orders()] == [order.order_ref]


# --- construction -----------------------------------------------------------------------------------


def test_from_config_takes_mode_budget_cash_and_seed(market: SimulatedMarket) -> None:
    cfg = TradingConfig.model_validate(
        {
            "ib": {"mode": "readonly"},
            "market_data": {"line_budget": 40},
            "simulation": {"initial_cash": 50_000.0, "seed": 3},
        }
    )
    b = SimBroker.from_config(cfg, market=market)
    b.connect()
    assert b.mode is TradingMode.READONLY
    assert b.line_budget == 40
    assert b.fill_seed == 3
    assert b.account().cash == 50_000.0


def test_bad_construction_arguments_are_refused(market: SimulatedMarket) -> None:
    with pytest.raises(ValueError, match="initial_cash"):
        SimBroker(market, initial_cash=math.nan)
    with pytest.raises(ValueError, match="line_budget"):
        SimBroker(market, line_budget=0)
