"""Scoring strategies by their nearest exit trigger, and picking who streams (pure)."""

from __future__ import annotations

from datetime import date, timedelta

from tradelib.config import TradingConfig
from tradelib.domain import Contract, Leg, OptionGreeks, Quote, Right, Strategy, StrategyType, utc
from tradelib.marketdata import SlotPolicy, SlotTier, plan_streams, trigger_distance

NOW = utc(2026, 11, 24, 15)
TODAY = date(2026, 11, 24)
POLICY = SlotPolicy.from_config(TradingConfig())


def put_spread(dte: int, short: float = 95.0, credit: float = 1.0) -> Strategy:
    expiry = TODAY + timedelta(days=dte)
    legs = (
        Leg(Contract.option("SPY", expiry, short, Right.PUT, con_id=1), -1),
        Leg(Contract.option("SPY", expiry, short - 5, Right.PUT, con_id=2), 1),
    )
    return Strategy("S", StrategyType.PUT_CREDIT_SPREAD, "SPY", legs, 1, credit, NOW)


def quotes(
    s: Strategy, spot: float, short_mid: float, long_mid: float, iv: float = 0.2
) -> dict[str, Quote]:
    greeks = OptionGreeks(delta=-0.2, gamma=0.01, theta=-0.02, vega=0.1, iv=iv)
    mids = (short_mid, long_mid)
    return {
        leg.contract.key: Quote(
            leg.contract, NOW, bid=m - 0.05, ask=m + 0.05, greeks=greeks, underlying_price=spot
        )
        for leg, m in zip(s.legs, mids, strict=True)
    }


def test_a_breached_short_strike_is_at_its_trigger() -> None:
    s = put_spread(40)
    d = trigger_distance(s, quotes(s, spot=94.0, short_mid=2.5, long_mid=0.9), TODAY, POLICY)
    assert (d.score, d.tier, d.nearest) == (0.0, SlotTier.NEAR, "short_strike")


def test_far_from_strike_profit_and_dte_is_far() -> None:
    s = put_spread(60, short=80.0)
    d = trigger_distance(s, quotes(s, spot=100.0, short_mid=1.0, long_mid=0.05), TODAY, POLICY)
    assert d.tier is SlotTier.FAR
    assert dict(d.components)["short_strike"] > 1.0


def test_close_to_take_profit_is_near() -> None:
    s = put_spread(60, short=80.0)
    # Spread worth 0.45 of a 1.00 credit: 55% profit, past the 50% target.
    d = trigger_distance(s, quotes(s, spot=100.0, short_mid=0.5, long_mid=0.05), TODAY, POLICY)
    assert (d.tier, d.nearest, d.score) == (SlotTier.NEAR, "take_profit", 0.0)


def test_a_loss_approaching_the_stop_is_near() -> None:
    s = put_spread(60, short=80.0)
    # Spread worth 2.6 of a 1.00 credit: a loss of 1.6 of the 2.0 stop.
    d = trigger_distance(s, quotes(s, spot=100.0, short_mid=2.7, long_mid=0.1), TODAY, POLICY)
    assert d.nearest == "stop_loss" and d.score < POLICY.near_score


def test_dte_at_the_exit_rule_is_at_its_trigger() -> None:
    s = put_spread(TradingConfig().rules.dte_exit)
    d = trigger_distance(s, {}, TODAY, POLICY)  # no quotes yet: DTE alone decides
    assert (d.nearest, d.score, d.tier) == ("dte", 0.0, SlotTier.NEAR)


def test_plan_streams_is_all_or_nothing_and_skips_what_does_not_fit() -> None:
    ranked = [
        ("a", frozenset({"1", "2", "3"})),
        ("b", frozenset({"4", "5", "6"})),  # would need 6 lines: skipped
        ("c", frozenset({"3", "7"})),  # shares leg 3 with a: one new line
    ]
    chosen, lines = plan_streams(ranked, capacity=5)
    assert chosen == ["a", "c"]
    assert lines == {"1", "2", "3", "7"}
