"""The simulated matching engine's pure pieces: fill odds, prices per leg, commissions."""

from __future__ import annotations

import itertools

import pytest

from tradelib.broker.sim_fills import (
    CommissionSchedule,
    FillModel,
    aggressiveness,
    fill_probability,
    leg_prices,
    marketable_price,
    uniform,
)
from tradelib.domain import SecType

MODEL = FillModel()


def test_fill_odds_are_zero_at_mid_certain_at_natural_and_rise_in_between() -> None:
    odds = [fill_probability(x / 10, 10.0, MODEL) for x in range(-5, 12)]
    assert odds[:6] == [0.0] * 6  # at or below mid
    assert odds[-2:] == [1.0, 1.0]  # natural and beyond
    between = odds[6:15]
    assert all(a < b for a, b in itertools.pairwise(between))


def test_fill_odds_grow_with_the_time_an_order_rests() -> None:
    assert fill_probability(0.5, 1.0, MODEL) < fill_probability(0.5, 10.0, MODEL) < 1.0
    # Ten one-second chances are worth one ten-second chance.
    one = fill_probability(0.5, 1.0, MODEL)
    assert 1 - (1 - one) ** 10 == pytest.approx(fill_probability(0.5, 10.0, MODEL))


def test_aggressiveness_measures_the_way_from_mid_to_natural_for_debits_and_credits() -> None:
    assert aggressiveness(1.10, 1.00, 1.20) == pytest.approx(0.5)
    # A credit: mid -1.20 (receive 1.20), natural -1.00.
    assert aggressiveness(-1.10, -1.20, -1.00) == pytest.approx(0.5)
    assert aggressiveness(-1.30, -1.20, -1.00) < 0


def test_draws_are_deterministic_and_spread_over_the_unit_interval() -> None:
    assert uniform(3, "ref", 17) == uniform(3, "ref", 17)
    assert uniform(3, "ref", 17) != uniform(4, "ref", 17)
    draws = [uniform(0, "r", i) for i in range(4000)]
    assert all(0.0 <= d < 1.0 for d in draws)
    assert sum(d < 0.25 for d in draws) == pytest.approx(1000, rel=0.1)


def test_a_marketable_limit_is_improved_but_pays_slippage_and_never_exceeds_the_limit() -> None:
    model = FillModel(slippage_spread_frac=0.2)
    # natural 1.20, mid 1.00, full draw: slippage 0.2 x 0.20 = 0.04.
    assert marketable_price(2.00, 1.00, 1.20, 1.0, model) == pytest.approx(1.24)
    assert marketable_price(1.22, 1.00, 1.20, 1.0, model) == pytest.approx(1.22)
    assert marketable_price(None, 1.00, 1.20, 0.5, model) == pytest.approx(1.22)


def test_leg_prices_add_up_to_the_combo_net_price() -> None:
    ratios = [-1, 1]
    mids, naturals = [2.05, 0.85], [2.00, 0.90]  # sell at the bid, buy at the ask
    px = leg_prices(-1.15, ratios, mids, naturals)
    assert sum(r * p for r, p in zip(ratios, px, strict=True)) == pytest.approx(-1.15)
    assert 2.00 <= px[0] <= 2.05 and 0.85 <= px[1] <= 0.90


def test_leg_prices_never_go_negative() -> None:
    # Selling a wing bid at zero while buying back the short.
    px = leg_prices(0.60, [1, -1], [0.50, 0.02], [0.55, 0.0])
    assert min(px) >= 0.0


def test_commissions_follow_the_ib_fixed_schedule_with_per_order_minimums() -> None:
    fees = CommissionSchedule()
    assert fees.order_total({SecType.OPTION: 1}) == pytest.approx(1.00)
    assert fees.order_total({SecType.OPTION: 4}) == pytest.approx(2.60)
    assert fees.order_total({SecType.STOCK: 100}) == pytest.approx(1.00)
    assert fees.order_total({SecType.STOCK: 1000}) == pytest.approx(5.00)
    assert fees.order_total({SecType.FUTURE: 2}) == pytest.approx(4.50)
    assert fees.order_total({}) == 0.0


def test_a_fill_model_with_nonsense_knobs_is_refused() -> None:
    with pytest.raises(ValueError, match="max_hazard_per_s"):
        FillModel(max_hazard_per_s=0.0)
    with pytest.raises(ValueError, match="check_interval_s"):
        FillModel(check_interval_s=10.0, idle_interval_s=1.0)


def test_leg_prices_land_on_the_tick_grid_and_keep_the_net() -> None:
    from tradelib.broker.sim_fills import on_tick_grid

    # A 1.32 credit iron condor split as 0.991111 / 0.3311 ... lands on cents, net kept.
    ratios = [-1, 1, -1, 1]
    raw = [0.991111, 0.301111, 0.851111, 0.211111]
    net = -1.33
    prices = on_tick_grid(net, ratios, raw, [0.01] * 4)
    assert all(abs(p * 100 - round(p * 100)) < 1e-9 for p in prices)
    assert sum(r * p for r, p in zip(ratios, prices, strict=True)) == pytest.approx(net, abs=1e-9)


def test_a_net_the_grid_cannot_carry_improves_for_the_customer() -> None:
    from tradelib.broker.sim_fills import on_tick_grid

    # Ratio-2 leg on a nickel grid: 1.03 cannot be hit exactly; the buyer pays less, not more.
    prices = on_tick_grid(1.03, [2], [0.515], [0.05])
    assert prices == [0.5] and 2 * prices[0] <= 1.03
