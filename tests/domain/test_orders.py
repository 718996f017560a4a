"""Order references and the net-price convention shared by singles and combos."""

from __future__ import annotations

from datetime import date

import pytest

from tradelib.domain import (
    Contract,
    Leg,
    OrderError,
    OrderIntent,
    OrderPurpose,
    Quote,
    make_order_ref,
    net_prices,
    parse_order_ref,
    utc,
)

NOW = utc(2026, 11, 24, 15)
EXP = date(2026, 12, 31)


def test_order_ref_round_trips_and_foreign_refs_are_ignored() -> None:
    ref = make_order_ref("SPY-PCS-20261124-0001", OrderPurpose.OPEN, 2)
    assert ref == "tl:SPY-PCS-20261124-0001:open:2"
    parsed = parse_order_ref(ref)
    assert parsed is not None
    assert (parsed.strategy_id, parsed.purpose, parsed.seq) == (
        "SPY-PCS-20261124-0001",
        OrderPurpose.OPEN,
        2,
    )
    assert parse_order_ref("manual order") is None
    assert parse_order_ref("tl:x:teleport:1") is None
    assert parse_order_ref(None) is None


def test_order_ref_rejects_separator_in_strategy_id() -> None:
    with pytest.raises(OrderError, match="may only hold"):
        make_order_ref("bad:id", OrderPurpose.OPEN)


def test_credit_spread_net_prices() -> None:
    short = Contract.option("SPY", EXP, 580, "P")
    long = Contract.option("SPY", EXP, 575, "P")
    quotes = {
        short.key: Quote(short, NOW, bid=3.00, ask=3.10),
        long.key: Quote(long, NOW, bid=1.90, ask=2.00),
    }
    mid, natural, passive = net_prices([Leg(short, -1), Leg(long, 1)], quotes)
    assert mid == pytest.approx(-1.10)  # a credit of 1.10 at mid
    assert natural == pytest.approx(-1.00)  # sell at bid 3.00, buy at ask 2.00
    assert passive == pytest.approx(-1.20)


def test_intent_validation() -> None:
    leg = Leg(Contract.option("SPY", EXP, 580, "P"), -1)
    with pytest.raises(OrderError, match="finite limit price"):
        OrderIntent("r", "s", OrderPurpose.OPEN, (leg,), 1, None, NOW)
    with pytest.raises(OrderError, match="quantity must be > 0"):
        OrderIntent("r", "s", OrderPurpose.OPEN, (leg,), 0, -1.0, NOW)
    with pytest.raises(OrderError, match="duplicate legs"):
        OrderIntent("r", "s", OrderPurpose.OPEN, (leg, leg), 1, -1.0, NOW)
