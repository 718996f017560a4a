"""The price walk, priced by hand: mid to natural in N steps, on ticks, never past the bound."""

from __future__ import annotations

import pytest

from tradelib.config import ExecutionConfig
from tradelib.domain import Contract, Leg, Urgency
from tradelib.errors import ExecutionPlanError
from tradelib.execution import WalkSchedule, planned_walk, step_price, tick_rule_for_legs
from tradelib.pricing import TickRule

PENNY = TickRule.all_penny()
NICKEL = TickRule.non_pilot()
CFG = ExecutionConfig(price_walk_steps=4, step_interval_s=10.0, order_timeout_s=120.0)


def test_a_credit_walks_from_mid_to_natural_in_the_configured_steps() -> None:
    # selling a spread: mid -1.234 credit, natural -1.10 (the bid side)
    walk = planned_walk(
        -1.234, -1.10, bound=-0.30, schedule=WalkSchedule.from_config(CFG), rule=PENNY
    )
    # mid rounded passive (more credit asked), natural rounded up (marketable)
    assert walk == (-1.24, -1.21, -1.17, -1.14, -1.10)


def test_a_debit_walks_up_from_mid_to_the_ask() -> None:
    walk = planned_walk(0.425, 0.55, bound=10.0, schedule=WalkSchedule.from_config(CFG), rule=PENNY)
    assert walk == (0.42, 0.45, 0.48, 0.51, 0.55)


def test_the_walk_never_passes_the_minimum_credit() -> None:
    # natural would give only 0.28 credit; the minimum credit is 0.30
    walk = planned_walk(
        -0.36, -0.28, bound=-0.30, schedule=WalkSchedule.from_config(CFG), rule=PENNY
    )
    assert walk == (-0.36, -0.34, -0.32, -0.30, -0.30)
    assert max(walk) <= -0.30


def test_prices_land_on_the_coarser_tick_grid_in_the_safe_direction() -> None:
    walk = planned_walk(
        -1.234, -1.10, bound=-0.33, schedule=WalkSchedule.from_config(CFG), rule=NICKEL
    )
    assert walk == (-1.25, -1.25, -1.20, -1.15, -1.10)
    assert step_price(-1.234, -1.10, 1.0, bound=-1.13, rule=NICKEL) == -1.15  # cap rounded down


def test_urgency_starts_nearer_natural_and_takes_fewer_steps() -> None:
    normal = WalkSchedule.from_config(CFG, Urgency.NORMAL)
    immediate = WalkSchedule.from_config(CFG, Urgency.IMMEDIATE)
    assert (normal.start_fraction, normal.steps) == (0.0, 4)
    assert immediate.start_fraction == pytest.approx(0.8) and immediate.steps < normal.steps
    walk = planned_walk(-1.20, -1.10, -0.30, immediate, PENNY)
    assert walk[0] == -1.12 and walk[-1] == -1.10
    explicit = WalkSchedule.from_config(CFG, Urgency.IMMEDIATE, start_fraction=1.0, steps=1)
    assert planned_walk(-1.20, -1.10, -0.30, explicit, PENNY) == (-1.10, -1.10)


def test_the_schedule_steps_every_interval_then_rests_until_the_timeout() -> None:
    s = WalkSchedule.from_config(CFG)
    assert [s.step_at(t) for t in (0, 9.9, 10, 25, 40, 100)] == [0, 0, 1, 2, 4, 4]
    assert s.next_change_s(0) == 10 and s.next_change_s(40) == 120


def test_the_tick_rule_of_a_combo_is_the_coarsest_of_its_legs() -> None:
    from datetime import date

    spy = Contract.option("SPY", date(2026, 12, 24), 580, "P")
    xyz = Contract.option("XYZ", date(2026, 12, 24), 50, "P")
    assert tick_rule_for_legs([Leg(spy, -1)]).name == "all_penny"
    assert tick_rule_for_legs([Leg(spy, -1), Leg(xyz, 1)]).name == "non_pilot"


def test_bad_walk_inputs_are_refused() -> None:
    with pytest.raises(ExecutionPlanError, match="better than mid"):
        step_price(-1.0, -1.2, 0.5, -0.3, PENNY)
    with pytest.raises(ExecutionPlanError, match="start_fraction"):
        WalkSchedule(1.5, 3, 10, 100)


# --- exactly on the edges ------------------------------------------------------------------------


def test_only_the_last_step_is_rounded_up_to_be_marketable() -> None:
    # natural -1.113 is off the nickel grid: the last step goes to -1.10 (marketable),
    # a step just short of it is rounded passive, to -1.15.
    assert step_price(-1.234, -1.113, 1.0, bound=-0.30, rule=NICKEL) == -1.10
    assert step_price(-1.234, -1.113, 0.999, bound=-0.30, rule=NICKEL) == -1.15


def test_the_bound_is_rounded_down_even_when_up_is_nearer() -> None:
    # -1.12 lies nearer -1.10 than -1.15: the cap still rounds down, so it is never passed.
    assert step_price(-1.234, -1.10, 1.0, bound=-1.12, rule=NICKEL) == -1.15
    assert step_price(0.425, 0.55, 1.0, bound=0.549, rule=PENNY) == 0.54


def test_an_infinite_bound_is_no_bound_and_a_non_finite_quote_is_refused() -> None:
    assert step_price(-1.234, -1.10, 1.0, bound=float("inf"), rule=PENNY) == -1.10
    for mid, natural in ((float("nan"), -1.0), (-1.0, float("nan")), (-1.0, float("inf"))):
        with pytest.raises(ExecutionPlanError, match=r"bad execution plan walk: .*not finite"):
            step_price(mid, natural, 0.5, -0.3, PENNY)


def test_natural_equal_to_mid_is_a_walk_in_place() -> None:
    assert step_price(-1.10, -1.10, 0.5, bound=-0.30, rule=PENNY) == -1.10
    with pytest.raises(ExecutionPlanError, match=r"bad execution plan walk: natural -1\.2"):
        step_price(-1.0, -1.2, 0.5, -0.3, PENNY)


@pytest.mark.parametrize("start", [0.0, 1.0])
def test_start_fraction_may_be_zero_or_one(start: float) -> None:
    assert WalkSchedule(start, 1, 10, 100).fraction(0) == start


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ((-0.01, 3, 10, 100), "start_fraction must be in \\[0, 1\\], got -0.01"),
        ((1.01, 3, 10, 100), "start_fraction must be in \\[0, 1\\], got 1.01"),
        ((0.0, 0, 10, 100), "steps must be >= 1, got 0"),
        ((0.0, 1, 0, 100), "interval and timeout must be > 0"),
        ((0.0, 1, 10, 0), "interval and timeout must be > 0"),
    ],
)
def test_a_schedule_just_outside_its_range_is_refused_with_its_reason(
    args: tuple[float, int, float, float], problem: str
) -> None:
    with pytest.raises(ExecutionPlanError, match=f"^bad execution plan walk: {problem}$"):
        WalkSchedule(*args)


def test_one_configured_step_stays_one_step_at_any_urgency() -> None:
    one = ExecutionConfig(price_walk_steps=1, step_interval_s=10.0, order_timeout_s=120.0)
    for urgency in Urgency:
        assert WalkSchedule.from_config(one, urgency).steps == 1
    five = ExecutionConfig(price_walk_steps=5, step_interval_s=10.0, order_timeout_s=120.0)
    assert [WalkSchedule.from_config(five, u).steps for u in Urgency] == [2, 3, 5, 5]


def test_fractions_are_clamped_to_the_schedule_and_times_to_the_timeout() -> None:
    s = WalkSchedule(0.2, 4, 10.0, 35.0)
    assert [s.fraction(k) for k in (-1, 0, 2, 4, 9)] == pytest.approx([0.2, 0.2, 0.6, 1.0, 1.0])
    assert [s.step_at(t) for t in (-5, 0, 10, 39.99, 1e6)] == [0, 0, 1, 3, 4]
    assert s.next_change_s(25) == 30 and s.next_change_s(30) == 35  # capped at the timeout
    assert s.next_change_s(50) == 35


def test_sub_second_intervals_and_timeouts_are_allowed() -> None:
    s = WalkSchedule(0.0, 2, 0.5, 0.75)
    assert [s.step_at(t) for t in (0.0, 0.5, 1.0)] == [0, 1, 2]
    assert s.next_change_s(0.0) == 0.5 and s.next_change_s(0.5) == 0.75
