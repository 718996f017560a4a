"""One scenario per rule: it fires at its threshold and stays quiet just short of it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tradelib.config import TradingConfig
from tradelib.domain import DecisionAction, MarketRegime, Urgency
from tradelib.rules import (
    AssignmentRisk,
    DeltaBreach,
    DividendInfo,
    DteExit,
    DynamicTakeProfit,
    ExpirationDay,
    FixedTakeProfit,
    GammaRisk,
    Hold,
    RollOpportunity,
    ShortStrikeBreached,
    StopLoss,
    VolatilityExpansion,
)

from .scenarios import (
    NOW,
    TODAY,
    call_spread,
    market,
    option,
    put_spread,
    short_strangle,
    state_of,
    strategy,
)

CFG = TradingConfig()


# --- 1.0 stop loss -----------------------------------------------------------------------
def test_stop_loss_fires_at_two_times_the_credit() -> None:
    state = state_of(put_spread(credit=1.0), [3.25, 0.25])  # debit 3.00: loss 2.00 x credit
    d = StopLoss.from_config(CFG).evaluate(state, market(), NOW)
    assert d is not None
    assert (d.rule, d.priority, d.action, d.urgency) == (
        "stop_loss",
        1.0,
        DecisionAction.CLOSE,
        Urgency.IMMEDIATE,
    )
    assert d.reason == "loss 2.00x credit >= stop 2.00x: debit 3.00 vs credit 1.00"
    assert d.inputs["loss_multiple"] == 2.0 and d.inputs["stop_loss_multiple"] == 2.0


def test_stop_loss_holds_just_under_two_times_the_credit() -> None:
    state = state_of(put_spread(credit=1.0), [3.24, 0.25])
    assert StopLoss.from_config(CFG).evaluate(state, market(), NOW) is None


def test_stop_loss_never_fires_on_a_debit_strategy() -> None:
    debit_spread = strategy(
        put_spread().strategy_type,
        [(option(580, "P"), 1), (option(575, "P"), -1)],
        credit=-1.0,
    )
    state = state_of(debit_spread, [0.25, 0.25])
    assert state.loss_multiple is None
    assert StopLoss().evaluate(state, market(), NOW) is None


# --- 1.1 expiration day --------------------------------------------------------------------
def test_expiration_day_closes_a_short_strike_within_one_percent() -> None:
    state = state_of(put_spread(short=594, long=589, dte=0), [0.5, 0.25])  # 6/600 = 1.00%
    d = ExpirationDay.from_config(CFG).evaluate(state, market(), NOW)
    assert d is not None and (d.action, d.urgency) == (DecisionAction.CLOSE, Urgency.IMMEDIATE)
    assert "0 DTE: short put 594 is 1.00% from spot 600.00 <= 1.00%" in d.reason


def test_expiration_day_ignores_a_short_strike_just_beyond_one_percent() -> None:
    state = state_of(put_spread(short=593.9, long=589, dte=0), [0.5, 0.25])
    assert ExpirationDay.from_config(CFG).evaluate(state, market(), NOW) is None


def test_expiration_day_needs_zero_dte() -> None:
    state = state_of(put_spread(short=598, long=593, dte=1), [2.5, 0.25])
    assert ExpirationDay.from_config(CFG).evaluate(state, market(), NOW) is None


def test_expiration_day_looks_at_short_legs_only() -> None:
    long_near = strategy(
        call_spread().strategy_type,
        [(option(640, "C", 0), -1), (option(599, "C", 0), 1)],
        credit=-1.0,
    )
    state = state_of(long_near, [0.25, 1.5])
    assert ExpirationDay().evaluate(state, market(), NOW) is None


# --- 1.2 short strike breached ----------------------------------------------------------
def test_spot_below_the_short_put_is_a_breach() -> None:
    state = state_of(put_spread(short=580), [1.5, 0.25], spot=579.99)
    d = ShortStrikeBreached.from_config(CFG).evaluate(state, market(), NOW)
    assert d is not None and (d.action, d.urgency) == (DecisionAction.CLOSE, Urgency.HIGH)
    assert "spot 579.99 below short put 580" in d.reason


def test_spot_on_the_short_strike_is_not_yet_a_breach() -> None:
    state = state_of(put_spread(short=580), [1.5, 0.25], spot=580.0)
    assert ShortStrikeBreached().evaluate(state, market(), NOW) is None


def test_spot_above_the_short_call_is_a_breach() -> None:
    state = state_of(call_spread(short=620), [1.5, 0.25], spot=620.01)
    d = ShortStrikeBreached().evaluate(state, market(), NOW)
    assert d is not None and "above short call 620" in d.reason
    assert (
        ShortStrikeBreached().evaluate(
            state_of(call_spread(short=620), [1.5, 0.25], spot=620.0), market(), NOW
        )
        is None
    )


# --- 1.3 delta breach ---------------------------------------------------------------------
def test_delta_breach_fires_at_forty_delta_and_closes_without_a_roll_quote() -> None:
    state = state_of(put_spread(), [1.5, 0.25], deltas=[-0.40, -0.20])
    d = DeltaBreach.from_config(CFG).evaluate(state, market(), NOW)
    assert d is not None and (d.action, d.urgency) == (DecisionAction.CLOSE, Urgency.HIGH)
    assert d.reason == "short-leg |delta| 0.40 >= 0.40: close (no roll quote)"


def test_delta_breach_stays_quiet_at_thirty_nine_delta() -> None:
    state = state_of(put_spread(), [1.5, 0.25], deltas=[-0.39, -0.20])
    assert DeltaBreach.from_config(CFG).evaluate(state, market(), NOW) is None


def test_long_leg_delta_does_not_count_as_a_breach() -> None:
    state = state_of(put_spread(), [1.5, 0.25], deltas=[-0.20, -0.45])
    assert DeltaBreach.from_config(CFG).evaluate(state, market(), NOW) is None


@pytest.mark.parametrize(
    ("dte", "roll_credit", "action", "words"),
    [
        (30, 0.10, DecisionAction.ROLL, "roll for a 0.10 credit"),
        (8, 0.05, DecisionAction.ROLL, "roll for a 0.05 credit"),
        (7, 0.10, DecisionAction.CLOSE, "DTE 7 <= 7, too late to roll"),
        (30, 0.04, DecisionAction.CLOSE, "roll credit 0.04 < 0.05"),
    ],
)
def test_delta_breach_rolls_only_with_time_and_a_credit(
    dte: int, roll_credit: float, action: DecisionAction, words: str
) -> None:
    state = state_of(
        put_spread(dte=dte), [1.5, 0.25], deltas=[-0.45, -0.20], roll_credit=roll_credit
    )
    d = DeltaBreach.from_config(CFG).evaluate(state, market(), NOW)
    assert d is not None and d.action is action and words in d.reason


# --- 1.4 assignment risk ---------------------------------------------------------------------
EX_DATE = TODAY + timedelta(days=1)


def test_itm_short_call_with_little_extrinsic_before_ex_date_is_closed() -> None:
    # spot 600, short call 590: intrinsic 10.00, mark 10.25 -> extrinsic 0.25 < dividend 1.50
    spread = call_spread(short=590, long=595)
    state = state_of(spread, [10.25, 5.25], dividend=DividendInfo(EX_DATE, 1.50))
    d = AssignmentRisk.from_config(CFG).evaluate(state, market(), NOW)
    assert d is not None and (d.action, d.urgency) == (DecisionAction.CLOSE, Urgency.HIGH)
    assert "extrinsic 0.25 < dividend 1.50 before ex-date 2026-11-25" in d.reason


def test_extrinsic_equal_to_the_dividend_is_no_assignment_risk() -> None:
    spread = call_spread(short=590, long=595)
    state = state_of(spread, [11.5, 5.25], dividend=DividendInfo(EX_DATE, 1.50))
    assert AssignmentRisk().evaluate(state, market(), NOW) is None


@pytest.mark.parametrize(
    ("ex_date", "short", "dte"),
    [
        (TODAY, 590, 30),  # ex-date today: too late to matter, not "before"
        (EX_DATE, 610, 30),  # call out of the money
        (TODAY + timedelta(days=40), 590, 30),  # expires before the ex-date
    ],
)
def test_no_assignment_risk_outside_its_conditions(ex_date: date, short: float, dte: int) -> None:
    spread = call_spread(short=short, long=short + 5, dte=dte)
    state = state_of(spread, [10.25, 5.25], dividend=DividendInfo(ex_date, 1.50))
    assert AssignmentRisk().evaluate(state, market(), NOW) is None


def test_no_dividend_information_means_no_assignment_decision() -> None:
    state = state_of(call_spread(short=590, long=595), [10.25, 5.25])
    assert AssignmentRisk().evaluate(state, market(), NOW) is None


# --- 1.5 gamma risk -------------------------------------------------------------------------
def test_gamma_over_its_limit_inside_seven_days_closes() -> None:
    # 9 lots x 2 short legs x 0.03125 x 100 = 56.25 shares per $1 > 50
    state = state_of(short_strangle(dte=7, quantity=9), [1.5, 1.5], gammas=[0.03125, 0.03125])
    d = GammaRisk.from_config(CFG).evaluate(state, market(), NOW)
    assert d is not None and (d.action, d.urgency) == (DecisionAction.CLOSE, Urgency.HIGH)
    assert "|position gamma| 56.2 > 50 at DTE 7 <= 7" in d.reason


def test_gamma_exactly_at_its_limit_is_not_over_it() -> None:
    state = state_of(short_strangle(dte=7, quantity=8), [1.5, 1.5], gammas=[0.03125, 0.03125])
    assert state.position_gamma == -50.0
    assert GammaRisk.from_config(CFG).evaluate(state, market(), NOW) is None


def test_gamma_rule_waits_for_the_last_seven_days() -> None:
    state = state_of(short_strangle(dte=8, quantity=9), [1.5, 1.5], gammas=[0.03125, 0.03125])
    assert GammaRisk.from_config(CFG).evaluate(state, market(), NOW) is None


# --- 2.1 dynamic take profit ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("regime", "target"),
    [
        (MarketRegime.CRASH, 0.40),
        (MarketRegime.HIGH_VOL, 0.50),
        (MarketRegime.NORMAL, 0.80),
        (MarketRegime.LOW_VOL, 0.90),
        (MarketRegime.TRENDING, 0.85),
        (MarketRegime.RANGE_BOUND, 0.80),
    ],
)
def test_dynamic_take_profit_uses_the_regime_target(regime: MarketRegime, target: float) -> None:
    rule = DynamicTakeProfit.from_config(CFG)
    at = state_of(put_spread(credit=1.0), [1.0 - target + 0.25, 0.25])
    assert at.profit_fraction == pytest.approx(target, abs=1e-12)
    d = rule.evaluate(at, market(regime), NOW)
    assert d is not None and (d.action, d.urgency) == (DecisionAction.CLOSE, Urgency.NORMAL)
    assert f"target for regime {regime.value}" in d.reason and d.inputs["profit_target"] == target
    under = state_of(put_spread(credit=1.0), [1.0 - target + 0.26, 0.25])
    assert rule.evaluate(under, market(regime), NOW) is None


def test_dynamic_take_profit_steps_aside_when_the_regime_is_unknown() -> None:
    state = state_of(put_spread(credit=1.0), [0.25, 0.25])  # 100% of max profit
    assert DynamicTakeProfit.from_config(CFG).evaluate(state, market(None), NOW) is None


def test_dynamic_take_profit_steps_aside_when_switched_off() -> None:
    cfg = CFG.with_overrides({"profit_targets.dynamic_enabled": False})
    state = state_of(put_spread(credit=1.0), [0.25, 0.25])
    assert DynamicTakeProfit.from_config(cfg).evaluate(state, market(), NOW) is None


# --- 2.2 fixed take profit -------------------------------------------------------------------------
def test_fixed_take_profit_at_fifty_percent_when_the_regime_is_unknown() -> None:
    state = state_of(put_spread(credit=1.0), [0.75, 0.25])
    d = FixedTakeProfit.from_config(CFG).evaluate(state, market(None), NOW)
    assert d is not None and (d.action, d.urgency) == (DecisionAction.CLOSE, Urgency.NORMAL)
    assert "profit 50.0% of max >= fixed 50% target (regime unknown)" in d.reason


def test_fixed_take_profit_holds_just_under_fifty_percent() -> None:
    state = state_of(put_spread(credit=1.0), [0.76, 0.25])
    assert FixedTakeProfit.from_config(CFG).evaluate(state, market(None), NOW) is None


def test_fixed_take_profit_does_not_apply_while_the_dynamic_target_does() -> None:
    state = state_of(put_spread(credit=1.0), [0.3, 0.25])  # 95% of max profit
    assert FixedTakeProfit.from_config(CFG).evaluate(state, market(), NOW) is None


def test_fixed_take_profit_applies_with_a_known_regime_when_dynamic_is_off() -> None:
    cfg = CFG.with_overrides({"profit_targets.dynamic_enabled": False})
    state = state_of(put_spread(credit=1.0), [0.75, 0.25])
    d = FixedTakeProfit.from_config(cfg).evaluate(state, market(), NOW)
    assert d is not None and "dynamic targets off" in d.reason


# --- 3.0 DTE exit ------------------------------------------------------------------------------------
def test_dte_exit_at_twenty_one_days_closes_without_a_roll_quote() -> None:
    state = state_of(put_spread(dte=21), [1.25, 0.25])
    d = DteExit.from_config(CFG).evaluate(state, market(), NOW)
    assert d is not None and (d.action, d.urgency) == (DecisionAction.CLOSE, Urgency.NORMAL)
    assert d.reason == "DTE 21 <= 21: close (no roll quote)"


def test_dte_exit_rolls_when_a_credit_is_available() -> None:
    state = state_of(put_spread(dte=21), [1.25, 0.25], roll_credit=0.30)
    d = DteExit.from_config(CFG).evaluate(state, market(), NOW)
    assert d is not None and d.action is DecisionAction.ROLL


def test_dte_exit_waits_at_twenty_two_days() -> None:
    state = state_of(put_spread(dte=22), [1.25, 0.25])
    assert DteExit.from_config(CFG).evaluate(state, market(), NOW) is None


# --- 4.0 volatility expansion --------------------------------------------------------------------------
def test_iv_up_fifty_percent_while_losing_reduces_a_multi_lot_position() -> None:
    state = state_of(
        put_spread(credit=1.0, quantity=4), [1.75, 0.25], ivs=[0.375, 0.40], entry_iv=0.25
    )
    assert state.iv_change == 0.5 and state.pnl is not None and state.pnl < 0
    d = VolatilityExpansion.from_config(CFG).evaluate(state, market(), NOW)
    assert d is not None and (d.action, d.urgency) == (DecisionAction.REDUCE, Urgency.NORMAL)
    assert "IV up 50% since entry (25.0% -> 37.5%) >= 50% while losing $200.00" in d.reason


def test_iv_expansion_closes_a_single_lot() -> None:
    state = state_of(put_spread(credit=1.0), [1.75, 0.25], ivs=[0.375, 0.40], entry_iv=0.25)
    d = VolatilityExpansion.from_config(CFG).evaluate(state, market(), NOW)
    assert d is not None and d.action is DecisionAction.CLOSE


def test_iv_just_under_fifty_percent_up_is_tolerated() -> None:
    state = state_of(put_spread(credit=1.0), [1.75, 0.25], ivs=[0.3749, 0.40], entry_iv=0.25)
    assert VolatilityExpansion.from_config(CFG).evaluate(state, market(), NOW) is None


def test_iv_expansion_on_a_winning_position_is_tolerated() -> None:
    state = state_of(put_spread(credit=1.0), [0.5, 0.25], ivs=[0.5, 0.5], entry_iv=0.25)
    assert VolatilityExpansion.from_config(CFG).evaluate(state, market(), NOW) is None


def test_iv_expansion_needs_the_entry_iv() -> None:
    state = state_of(put_spread(credit=1.0), [1.75, 0.25], ivs=[0.5, 0.5], entry_iv=None)
    assert VolatilityExpansion.from_config(CFG).evaluate(state, market(), NOW) is None


# --- 5.0 roll opportunity ------------------------------------------------------------------------------
def test_a_tested_side_that_rolls_for_a_credit_is_rolled() -> None:
    state = state_of(put_spread(), [1.5, 0.25], deltas=[-0.30, -0.15], roll_credit=0.05)
    d = RollOpportunity.from_config(CFG).evaluate(state, market(), NOW)
    assert d is not None and (d.action, d.urgency) == (DecisionAction.ROLL, Urgency.LOW)
    assert "tested side (|delta| 0.30 >= 0.30) rolls out for a 0.05 credit >= 0.05" in d.reason


@pytest.mark.parametrize(
    ("delta", "credit"),
    [(-0.29, 0.50), (-0.35, 0.04), (-0.35, None)],
)
def test_no_roll_when_untested_or_without_a_credit(delta: float, credit: float | None) -> None:
    state = state_of(put_spread(), [1.5, 0.25], deltas=[delta, -0.15], roll_credit=credit)
    assert RollOpportunity.from_config(CFG).evaluate(state, market(), NOW) is None


# --- 9.0 hold ------------------------------------------------------------------------------------------
def test_hold_always_answers_with_the_numbers_it_saw() -> None:
    state = state_of(put_spread(credit=1.0), [0.9, 0.25])
    d = Hold().evaluate(state, market(), NOW)
    assert (d.rule, d.priority, d.action, d.urgency) == (
        "hold",
        9.0,
        DecisionAction.HOLD,
        Urgency.LOW,
    )
    assert d.reason == "no rule fired: profit 35.0% of max, DTE 30, max short |delta| 0.10"
    assert d.inputs["regime"] == "normal" and d.inputs["dte"] == 30


def test_every_rule_reads_its_thresholds_from_config() -> None:
    cfg = CFG.with_overrides(
        {
            "rules.stop_loss_multiple": 3.0,
            "rules.delta_breach": 0.5,
            "rules.dte_exit": 14,
            "rules.gamma_dte": 3,
            "rules.max_position_gamma": 80.0,
            "rules.vol_expansion_pct": 0.8,
            "rules.roll_tested_delta": 0.25,
            "rules.roll_min_credit": 0.10,
            "rules.expiration_proximity_pct": 0.02,
            "profit_targets.fixed": 0.6,
        }
    )
    assert StopLoss.from_config(cfg).multiple == 3.0
    assert DeltaBreach.from_config(cfg) == DeltaBreach(0.5, 3, 0.10)
    assert DteExit.from_config(cfg) == DteExit(14, 3, 0.10)
    assert GammaRisk.from_config(cfg) == GammaRisk(3, 80.0)
    assert VolatilityExpansion.from_config(cfg).rise_pct == 0.8
    assert RollOpportunity.from_config(cfg) == RollOpportunity(0.25, 0.10)
    assert ExpirationDay.from_config(cfg).proximity_pct == 0.02
    assert FixedTakeProfit.from_config(cfg).target == 0.6
    assert DynamicTakeProfit.from_config(cfg).targets[MarketRegime.CRASH] == 0.4
