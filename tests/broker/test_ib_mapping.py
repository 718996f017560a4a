"""The pure ib_async <-> domain translation: contracts, orders and prices, fills, quotes, greeks."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import pytest
from ib_async import (
    CommissionReport,
    Execution,
    Fill,
    OptionComputation,
    Order,
    OrderStatus,
    Ticker,
)
from ib_async import Contract as IbContract

from tradelib.broker import ib_mapping as m
from tradelib.broker.ib import ServerClock
from tradelib.domain import (
    Contract,
    Leg,
    OrderIntent,
    OrderPurpose,
    OrderType,
    Quote,
    Right,
    SecType,
)
from tradelib.domain import (
    OrderStatus as Status,
)
from tradelib.errors import ContractError
from tradelib.pricing import TickRule, bs_greeks, tick_rule_for

NOW = datetime(2026, 11, 24, 15, tzinfo=UTC)
EXPIRY = date(2026, 12, 24)
PUT = Contract.option("SPY", EXPIRY, 580.0, Right.PUT, con_id=101)
LONG_PUT = Contract.option("SPY", EXPIRY, 575.0, Right.PUT, con_id=102)
CALL = Contract.option("SPY", EXPIRY, 620.0, Right.CALL, con_id=103)


def _intent(legs: list[Leg], limit: float | None, quantity: int = 1) -> OrderIntent:
    return OrderIntent(
        order_ref="tl:s1:open:1",
        strategy_id="s1",
        purpose=OrderPurpose.OPEN,
        legs=tuple(legs),
        quantity=quantity,
        limit_price=limit,
        created_at=NOW,
        order_type=OrderType.MARKET if limit is None else OrderType.LIMIT,
    )


# --- contracts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "contract",
    [
        Contract.stock("SPY").with_con_id(756733),
        Contract.index("VIX").with_con_id(13455763),
        Contract.future("ES", date(2026, 12, 18), 50, local_symbol="ESZ6", con_id=7),
        PUT,
    ],
)
def test_a_contract_survives_the_round_trip_through_ib_async(contract: Contract) -> None:
    back = m.domain_contract(IbContract(**m.contract_fields(contract)))
    assert back.key == contract.key
    assert (back.sec_type, back.con_id, back.multiplier) == (
        contract.sec_type,
        contract.con_id,
        contract.multiplier,
    )


def test_an_option_goes_out_with_ibs_date_and_multiplier_text() -> None:
    fields = m.contract_fields(Contract.option("QQQ", date(2027, 1, 15), 500.5, Right.CALL))
    assert fields["lastTradeDateOrContractMonth"] == "20270115"
    assert (fields["strike"], fields["right"], fields["multiplier"]) == (500.5, "C", "100")
    assert fields["tradingClass"] == "QQQ" and "conId" not in fields


def test_an_unsupported_ib_security_type_is_a_contract_error() -> None:
    with pytest.raises(ContractError, match="CASH"):
        m.domain_contract(IbContract(secType="CASH", symbol="EUR", conId=1))


# --- orders -------------------------------------------------------------------------------------


def test_a_single_sell_goes_out_as_a_positive_ib_price_and_comes_back_signed() -> None:
    plan = m.plan_order(_intent([Leg(PUT, -1)], -1.25), TickRule.all_penny())
    assert (plan.action, plan.quantity, plan.limit_price, plan.is_combo) == ("SELL", 1, 1.25, False)
    status = OrderStatus(status="Filled", filled=1, avgFillPrice=1.27)
    state = m.order_state(plan, status, Order(orderId=5, permId=9), updated_at=NOW)
    assert state.status is Status.FILLED
    assert state.avg_fill_price == pytest.approx(-1.27)
    assert state.limit_price == pytest.approx(-1.25)


def test_a_combo_is_a_buy_with_reduced_ratios_and_a_net_price_per_unit() -> None:
    legs = [Leg(PUT, -2), Leg(LONG_PUT, 2)]
    plan = m.plan_order(_intent(legs, -2.40, quantity=3), TickRule.all_penny())
    assert (plan.action, plan.quantity, plan.limit_price) == ("BUY", 6, -1.20)
    assert [(c.con_id, c.ratio, c.action) for c in plan.combo_legs] == [
        (101, 1, "SELL"),
        (102, 1, "BUY"),
    ]
    status = OrderStatus(status="Submitted", filled=2, avgFillPrice=-1.21)
    state = m.order_state(plan, status, Order(orderId=6), updated_at=NOW)
    assert state.status is Status.PARTIALLY_FILLED
    assert (state.quantity, state.filled_quantity) == (3, 1.0)
    assert state.avg_fill_price == pytest.approx(-2.42)


@pytest.mark.parametrize(
    ("legs", "limit", "rule", "ib_price"),
    [
        ([Leg(PUT, 1)], 1.239, TickRule.all_penny(), 1.23),  # buyer never pays more
        ([Leg(PUT, -1)], -1.231, TickRule.all_penny(), 1.24),  # seller never gets less
        ([Leg(PUT, 1)], 3.17, TickRule.non_pilot(), 3.10),  # $0.10 ticks above $3
        ([Leg(PUT, -1)], -3.17, TickRule.non_pilot(), 3.20),
        ([Leg(PUT, -1), Leg(LONG_PUT, 1)], -0.4321, TickRule.all_penny(), -0.44),  # more credit
    ],
)
def test_limits_are_rounded_onto_the_tick_grid_the_passive_way(
    legs: list[Leg], limit: float, rule: TickRule, ib_price: float
) -> None:
    assert m.plan_order(_intent(legs, limit), rule).limit_price == pytest.approx(ib_price)


def test_a_market_order_carries_no_price_and_an_unresolved_leg_is_refused() -> None:
    plan = m.plan_order(_intent([Leg(PUT, 1)], None), tick_rule_for("SPY"))
    assert plan.order_type == "MKT" and "lmtPrice" not in plan.order_fields()
    unresolved = Contract.option("SPY", EXPIRY, 590.0, Right.PUT)
    with pytest.raises(ContractError, match="not resolved"):
        m.plan_order(_intent([Leg(unresolved, 1)], 1.0), tick_rule_for("SPY"))


def test_an_error_after_ib_cancelled_an_order_makes_it_rejected_with_ibs_words() -> None:
    plan = m.plan_order(_intent([Leg(PUT, 1)], 1.0), tick_rule_for("SPY"))
    cancelled = OrderStatus(status="Cancelled")
    rejected = m.order_state(
        plan,
        cancelled,
        Order(orderId=7),
        updated_at=NOW,
        error=m.OrderErrorInfo(201, "Order rejected - reason:margin"),
    )
    assert (rejected.status, rejected.error_code) == (Status.REJECTED, 201)
    assert rejected.reason == "Order rejected - reason:margin"
    by_ib = m.order_state(
        plan,
        cancelled,
        Order(orderId=7),
        updated_at=NOW,
        error=m.OrderErrorInfo(202, "Order Canceled - reason:expired"),
    )
    assert by_ib.status is Status.CANCELLED and "expired" in by_ib.reason
    plain = m.order_state(plan, cancelled, Order(orderId=7), updated_at=NOW, reason="by request")
    assert (plain.status, plain.reason, plain.error_code) == (Status.CANCELLED, "by request", None)


def test_an_order_known_only_by_its_combo_execution_is_filled_at_the_net_price() -> None:
    plan = m.plan_order(_intent([Leg(PUT, -1), Leg(LONG_PUT, 1)], -0.40), tick_rule_for("SPY"))
    bag = IbContract(secType="BAG", symbol="SPY", conId=28812380)
    fills = [
        Fill(
            bag, Execution(execId="b1", shares=1, price=-0.41, side="BOT"), CommissionReport(), NOW
        ),
        Fill(
            IbContract(**m.contract_fields(PUT)),
            Execution(execId="l1", shares=1, price=2.41, side="SLD"),
            CommissionReport(),
            NOW,
        ),
    ]
    state = m.state_from_fills(plan, fills, NOW)
    assert (state.status, state.filled_quantity) == (Status.FILLED, 1.0)
    assert state.avg_fill_price == pytest.approx(-0.41)


def test_a_leg_fill_is_signed_by_side_and_has_a_commission_only_once_reported() -> None:
    ib_fill = Fill(
        IbContract(**m.contract_fields(PUT)),
        Execution(execId="e1", shares=2, price=1.3, side="SLD", orderRef="tl:s1:open:1", time=NOW),
        CommissionReport(),
        NOW,
    )
    fill = m.domain_fill(ib_fill)
    assert (fill.quantity, fill.price, fill.commission) == (-2.0, 1.3, 0.0)
    assert not m.has_commission(ib_fill)
    reported = ib_fill._replace(commissionReport=CommissionReport(execId="e1", commission=1.3))
    assert m.has_commission(reported) and m.domain_fill(reported).commission == 1.3
    assert fill.order_ref == "tl:s1:open:1" and fill.contract.key == PUT.key


# --- account, quotes, greeks -----------------------------------------------------------------------
def _ticker(**values: float) -> Ticker:
    ticker = Ticker()  # its __post_init__ resets prices, so set them afterwards
    for name, value in values.items():
        setattr(ticker, name, value)
    return ticker


def test_the_account_snapshot_uses_full_margin_tags_and_derives_day_pnl() -> None:
    values = {
        "NetLiquidation": "101000",
        "TotalCashValue": "99000",
        "BuyingPower": "200000",
        "ExcessLiquidity": "95000",
        "FullInitMarginReq": "6000",
        "FullMaintMarginReq": "5000",
        "PreviousDayEquityWithLoanValue": "100000",
        "UnrealizedPnL": "",
    }
    snap = m.account_snapshot(values, NOW, "DU*****01")
    assert (snap.init_margin, snap.maint_margin, snap.day_pnl) == (6000, 5000, 1000)
    assert snap.unrealized_pnl == 0 and snap.account == "DU*****01"


def test_ibs_minus_one_means_no_data_and_partial_greeks_are_no_greeks() -> None:
    ticker = _ticker(bid=-1.0, ask=2.0, bidSize=-1.0, askSize=5.0)
    ticker.modelGreeks = OptionComputation(0, impliedVol=0.2, delta=None, undPrice=600.0)
    q = m.domain_quote(PUT, ticker, NOW)
    assert math.isnan(q.bid) and q.ask == 2.0 and math.isnan(q.bid_size)
    assert q.greeks is None and q.underlying_price == 600.0


@pytest.mark.parametrize(("data_type", "delayed"), [(1, False), (2, False), (3, True), (4, True)])
def test_a_ticker_ib_marked_delayed_gives_a_delayed_quote(data_type: int, delayed: bool) -> None:
    ticker = _ticker(bid=1.0, ask=1.1)
    ticker.marketDataType = data_type
    assert m.domain_quote(PUT, ticker, NOW).delayed is delayed


def test_an_index_without_trades_is_quoted_at_its_close() -> None:
    q = m.domain_quote(Contract.index("VIX"), _ticker(close=17.5), NOW)
    assert q.last == 17.5 and q.contract.sec_type is SecType.INDEX


def test_model_greeks_fill_in_when_ib_sends_none_and_match_black_scholes() -> None:
    spot, vol, rate = 600.0, 0.18, 0.04
    years = (m.expiry_close(EXPIRY) - NOW).total_seconds() / (365 * 86400)
    fair = bs_greeks(spot, 580.0, years, vol, rate, 0.0, False)
    price = float(fair.price)
    no_greeks = Quote(PUT, NOW, bid=price - 0.01, ask=price + 0.01)
    unpriceable = Quote(CALL, NOW)  # no book: stays without greeks
    out = m.with_model_greeks(
        [no_greeks, unpriceable], {"SPY": spot}, NOW, rate=rate, div_yield=0.0
    )
    g = out[0].greeks
    assert g is not None and g.source == "model"
    assert g.iv == pytest.approx(vol, rel=1e-6)
    assert g.delta == pytest.approx(float(fair.delta), rel=1e-6) and g.delta < 0
    assert out[0].underlying_price == spot
    assert out[1].greeks is None


def test_bar_sizes_and_durations_are_spelled_the_way_ib_takes_them() -> None:
    assert m.bar_size_setting(60) == "1 min" and m.bar_size_setting(86400) == "1 day"
    with pytest.raises(ValueError, match="7-second"):
        m.bar_size_setting(7)
    assert m.duration_text(3600.2) == "3601 S"
    assert m.duration_text(10 * 86400) == "10 D"
    assert m.ib_datetime(NOW) == "20261124-15:00:00"


# --- the server clock -----------------------------------------------------------------------------


def test_the_server_clock_measures_a_fast_servers_rate_and_never_goes_back() -> None:
    clock = ServerClock()
    assert clock.estimate(0.0) is None
    for i in range(6):  # a gateway at 60x answering every 0.1 s
        clock.observe(1_000_000 + 6 * i, mono=0.1 * i)
    assert clock.rate == pytest.approx(60, rel=0.05)
    now = clock.estimate(0.55)
    assert now is not None and now == pytest.approx(1_000_033.5, abs=1)
    assert clock.estimate(0.55, max_age=0.01) is None  # too old a sample: ask again
    clock.observe(1_000_020, mono=0.6)  # a late, smaller answer
    later = clock.estimate(0.6)
    assert later is not None and later >= now
    assert clock.at(0.5) == pytest.approx(1_000_020.5 - 0.1 * clock.rate)


def test_the_server_clock_assumes_real_time_until_it_has_seen_ten_server_seconds() -> None:
    clock = ServerClock()
    clock.observe(1_000_000, mono=0.0)
    clock.observe(1_000_001, mono=0.3)  # whole-second truncation: no rate from this
    assert clock.rate == 1.0


def test_a_real_time_server_measured_within_truncation_error_runs_at_exactly_one() -> None:
    clock = ServerClock(window=90.0, snap_to_real_time=True)
    clock.observe(1_000_000, mono=0.0)
    clock.observe(1_000_031, mono=30.0)  # 31 server s in 30 local s: truncation, not speed
    assert clock.rate == 1.0
    fast = ServerClock(window=90.0, snap_to_real_time=True)
    fast.observe(1_000_000, mono=0.0)
    fast.observe(1_000_600, mono=30.0)
    assert fast.rate == pytest.approx(20.0, rel=0.01)


def test_a_declared_rate_anchors_at_the_estimate_and_is_not_remeasured() -> None:
    clock = ServerClock()
    clock.observe(1_000_000, mono=0.0)
    clock.declare_rate(20.0, mono=1.0)
    assert clock.rate == 20.0
    assert clock.estimate(2.0) == pytest.approx(1_000_000.5 + 1.0 + 20.0)
    clock.observe(1_000_100, mono=3.0)  # a sample does not override what we declared
    assert clock.rate == 20.0


def test_missing_account_fields_are_named_with_their_ib_tags() -> None:
    values = {"NetLiquidation": "1000", "ExcessLiquidity": "900", "FullInitMarginReq": "10"}
    assert m.missing_account_fields(values) == [
        "cash (TotalCashValue)",
        "buying power (BuyingPower)",
        "maintenance margin (FullMaintMarginReq)",
    ]
    full = values | {"TotalCashValue": "1", "BuyingPower": "2", "FullMaintMarginReq": "3"}
    assert m.missing_account_fields(full) == []
