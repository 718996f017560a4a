"""The pure protocol layer: framing, layouts and the IB <-> domain order translation."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tradelib.domain import Contract, OrderPurpose, OrderType, Right
from tradelib.gateway import parsing as p
from tradelib.gateway.orders import GatewayOrderError, build_intent

pytestmark = pytest.mark.timeout(10)
NOW = datetime(2025, 6, 10, 14, 0, tzinfo=UTC)
PUT = Contract.option("SPY", date(2025, 7, 18), 590, Right.PUT, con_id=11)
LONG_PUT = Contract.option("SPY", date(2025, 7, 18), 580, Right.PUT, con_id=12)


def _order(
    action: str, limit: float | None, sec_type: str = "OPT", kind: str = "LMT"
) -> p.PlaceOrderRequest:
    wire = p.WireContract(con_id=11, symbol="SPY", sec_type=sec_type)
    return p.PlaceOrderRequest(7, wire, action, 2.0, kind, limit, "DAY", "", "tl:pcs1:open:1", True)


def test_frames_round_trip_through_the_reader() -> None:
    buffer = bytearray(p.frame(p.next_valid_id(5)) + p.frame(p.position_end())[:-2])

    frames = list(p.iter_frames(buffer))

    assert frames == [["9", "1", "5"]] and len(buffer) > 0


def test_fixed_count_layouts_have_the_field_counts_clients_unpack() -> None:
    c = p.WireContract(con_id=1, symbol="SPY", sec_type="STK")
    comp = p.OptionComputation(0.2, -0.3, 1.0, 0.0, 0.01, 0.1, -0.02, 600.0)

    assert len(p.position("DU1", c, 1, 2)) == 16
    assert len(p.portfolio_value(c, 1, 2, 3, 4, 5, 6, "DU1")) == 20
    assert len(p.tick_price(1, p.TickType.BID, 1.0, 2.0)) == 7
    assert len(p.tick_option_computation(1, p.TickType.MODEL_OPTION, comp)) == 12
    assert len(p.commission_report("x", 1.0, 0.0)) == 8
    assert len(p.order_status(1, "Filled", 1, 0, 1.0, 2, 1.0, 3)) == 12


def test_missing_greeks_go_out_as_ib_sentinels() -> None:
    nan = float("nan")
    fields = p.tick_option_computation(1, p.TickType.BID_OPTION, p.OptionComputation(*[nan] * 8))

    assert fields[4:] == (-1.0, -2.0, -1.0, -1.0, -2.0, -2.0, -2.0, -1.0)


def test_version_range_and_end_times_parse() -> None:
    assert p.parse_version_range("v157..178 +PACEAPI") == (157, 178)
    assert p.parse_end_time("20250610 15:00:00 UTC", NOW) == datetime(2025, 6, 10, 15, tzinfo=UTC)
    assert p.parse_end_time("20250610-15:00:00", NOW) == datetime(2025, 6, 10, 15, tzinfo=UTC)
    assert p.parse_end_time("", NOW) == NOW
    assert p.bar_seconds("5 mins") == 300 and p.duration_seconds("2 D") == 172_800


def test_selling_a_single_option_is_a_credit_in_the_domain() -> None:
    intent = build_intent(_order("SELL", 1.25), [(PUT, 1)], "ref", NOW)

    assert [leg.ratio for leg in intent.legs] == [-1]
    assert intent.limit_price == -1.25 and intent.quantity == 2
    assert intent.strategy_id == "pcs1" and intent.purpose is OrderPurpose.OPEN


def test_a_bag_bought_at_a_negative_limit_is_a_credit_spread() -> None:
    intent = build_intent(_order("BUY", -1.10, "BAG"), [(PUT, -1), (LONG_PUT, 1)], "ref", NOW)

    assert [leg.ratio for leg in intent.legs] == [-1, 1] and intent.limit_price == -1.10


def test_selling_a_bag_flips_every_leg_and_the_price() -> None:
    intent = build_intent(_order("SELL", 0.40, "BAG"), [(PUT, -1), (LONG_PUT, 1)], "ref", NOW)

    assert [leg.ratio for leg in intent.legs] == [1, -1] and intent.limit_price == -0.40


def test_market_orders_carry_no_limit_and_stops_are_refused() -> None:
    assert (
        build_intent(_order("BUY", None, kind="MKT"), [(PUT, 1)], "r", NOW).order_type
        is OrderType.MARKET
    )
    with pytest.raises(GatewayOrderError):
        build_intent(_order("BUY", 1.0, kind="STP"), [(PUT, 1)], "r", NOW)


def test_account_summary_answers_known_tags_only() -> None:
    assert p.requested_summary_tags("NetLiquidation,Bogus,Cushion") == ["NetLiquidation", "Cushion"]
    assert len(p.requested_summary_tags("$LEDGER:USD")) == len(p.ACCOUNT_SUMMARY_TAGS)
