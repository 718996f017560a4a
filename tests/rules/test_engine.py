"""The engine: priority order, conflicts between rules, config switches, bad inputs, ids."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from tradelib.config import RULE_NAMES, TradingConfig
from tradelib.domain import DecisionAction, MarketRegime, Urgency
from tradelib.rules import DecisionEngine, Hold, StopLoss, decision_id, default_rules

from .scenarios import (
    NOW,
    iron_condor,
    leg_quotes,
    market,
    put_spread,
    short_strangle,
    state_of,
)

CFG = TradingConfig()
ENGINE = DecisionEngine.from_config(CFG)


def test_rules_run_in_spec_priority_order_whatever_order_they_are_given() -> None:
    rules = default_rules(CFG)
    random.Random(3).shuffle(rules)
    engine = DecisionEngine(rules)
    assert [r.name for r in engine.rules] == list(RULE_NAMES)
    assert [r.priority for r in engine.rules] == [
        1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 2.1, 2.2, 3.0, 4.0, 5.0, 9.0,
    ]  # fmt: skip


def test_a_rule_given_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="stop_loss"):
        DecisionEngine([StopLoss(), StopLoss(3.0)])


def test_stop_loss_fires_before_every_other_exit() -> None:
    # Deep loss, spot through the short put, 60 delta, 21 DTE: many rules would fire.
    state = state_of(
        put_spread(credit=1.0, dte=21), [4.25, 1.25], spot=575.0, deltas=[-0.60, -0.45]
    )
    d = ENGINE.evaluate(state, market(), NOW)
    assert (d.rule, d.urgency) == ("stop_loss", Urgency.IMMEDIATE)
    fired = [x.rule for x in ENGINE.explain(state, market(), NOW)]
    assert fired == ["stop_loss", "short_strike_breached", "delta_breach", "dte_exit", "hold"]


def test_stop_loss_outranks_take_profit() -> None:
    stop, *_ = ENGINE.rules
    take_profit = [r for r in ENGINE.rules if r.name.endswith("take_profit")]
    assert stop.name == "stop_loss" and all(stop.priority < r.priority for r in take_profit)
    # The same engine takes profit on a winner and stops out a loser.
    winner = state_of(put_spread(credit=1.0), [0.45, 0.25])
    loser = state_of(put_spread(credit=1.0), [3.25, 0.25])
    assert ENGINE.evaluate(winner, market(), NOW).rule == "dynamic_take_profit"
    assert ENGINE.evaluate(loser, market(), NOW).rule == "stop_loss"


def test_expiration_day_beats_dte_exit() -> None:
    state = state_of(put_spread(short=597, long=592, dte=0), [0.75, 0.25])
    d = ENGINE.evaluate(state, market(), NOW)
    assert (d.rule, d.urgency) == ("expiration_day", Urgency.IMMEDIATE)
    assert "dte_exit" in [x.rule for x in ENGINE.explain(state, market(), NOW)]


def test_take_profit_beats_dte_exit() -> None:
    state = state_of(put_spread(credit=1.0, dte=15), [0.45, 0.25])
    assert ENGINE.evaluate(state, market(), NOW).rule == "dynamic_take_profit"


def test_dynamic_take_profit_beats_fixed() -> None:
    # 60% of max profit in a crash: the crash target (40%) takes it, not the fixed 50%.
    state = state_of(put_spread(credit=1.0), [0.65, 0.25])
    d = ENGINE.evaluate(state, market(MarketRegime.CRASH), NOW)
    assert d.rule == "dynamic_take_profit" and "regime crash" in d.reason


def test_known_regime_below_its_target_holds_even_above_the_fixed_target() -> None:
    state = state_of(put_spread(credit=1.0), [0.65, 0.25])  # 60% < normal target 80%
    assert ENGINE.evaluate(state, market(MarketRegime.NORMAL), NOW).rule == "hold"


def test_unknown_regime_falls_back_to_the_fixed_target() -> None:
    state = state_of(put_spread(credit=1.0), [0.65, 0.25])
    assert ENGINE.evaluate(state, market(None), NOW).rule == "fixed_take_profit"


@pytest.mark.parametrize(
    "override",
    [{"profit_targets.dynamic_enabled": False}, {"rules.enabled": {"dynamic_take_profit": False}}],
)
def test_dynamic_off_fixed_take_profit_fires(override: dict[str, object]) -> None:
    engine = DecisionEngine.from_config(CFG.with_overrides(override))
    state = state_of(put_spread(credit=1.0), [0.75, 0.25])
    d = engine.evaluate(state, market(MarketRegime.LOW_VOL), NOW)
    assert d.rule == "fixed_take_profit" and "dynamic targets off" in d.reason


def test_a_disabled_rule_never_fires_and_the_next_one_decides() -> None:
    engine = DecisionEngine.from_config(CFG.with_overrides({"rules.enabled": {"stop_loss": False}}))
    assert "stop_loss" not in [r.name for r in engine.rules]
    state = state_of(put_spread(credit=1.0, dte=21), [3.25, 0.25])
    assert engine.evaluate(state, market(), NOW).rule == "dte_exit"


def test_disabling_hold_still_leaves_a_decision_for_every_strategy() -> None:
    engine = DecisionEngine.from_config(CFG.with_overrides({"rules.enabled": {"hold": False}}))
    d = engine.evaluate(state_of(put_spread(), [0.9, 0.25]), market(), NOW)
    assert d.action is DecisionAction.HOLD


def test_missing_greeks_silence_greek_rules_but_not_pnl_rules() -> None:
    breached_delta = state_of(put_spread(), [1.5, 0.25], greeks=False)
    d = ENGINE.evaluate(breached_delta, market(), NOW)
    assert d.rule == "hold" and "max short |delta| n/a" in d.reason
    stopped = state_of(put_spread(credit=1.0), [3.25, 0.25], greeks=False)
    assert ENGINE.evaluate(stopped, market(), NOW).rule == "stop_loss"


def test_a_gamma_heavy_position_without_greeks_is_not_called_gamma_risk() -> None:
    state = state_of(short_strangle(dte=5, quantity=20), [1.5, 1.5], greeks=False)
    assert state.position_gamma is None
    assert ENGINE.evaluate(state, market(), NOW).rule == "dte_exit"


def test_invalid_marks_give_a_hold_that_names_the_bad_leg() -> None:
    spread = put_spread(credit=1.0)
    stale = leg_quotes(spread, [3.25, 0.25], ts=NOW - timedelta(minutes=5))
    # A stop-loss-sized loss on stale quotes must not trigger anything.
    state = state_of(spread, [3.25, 0.25], replace={0: stale[spread.legs[0].contract.key]})
    d = ENGINE.evaluate(state, market(), NOW)
    assert (d.rule, d.action) == ("hold", DecisionAction.HOLD)
    assert d.reason.startswith("no valid marks: SPY 20261224 580 P: stale: 300.0s old > 15s")
    assert d.inputs["marks_valid"] is False and d.inputs["pnl"] is None


def test_invalid_marks_still_let_spot_and_calendar_rules_fire() -> None:
    spread = put_spread(credit=1.0, dte=21)
    no_quote = {0: None}
    breached = state_of(spread, [3.25, 0.25], spot=570.0, replace=no_quote)
    assert ENGINE.evaluate(breached, market(), NOW).rule == "short_strike_breached"
    old = state_of(spread, [0.3, 0.25], replace=no_quote)  # would be a take profit
    d = ENGINE.evaluate(old, market(), NOW)
    assert d.rule == "dte_exit" and d.inputs["marks_valid"] is False
    expiring = state_of(put_spread(short=598, long=593, dte=0), [2.0, 0.25], replace=no_quote)
    assert ENGINE.evaluate(expiring, market(), NOW).rule == "expiration_day"


def test_decision_ids_are_deterministic_per_strategy_time_and_rule() -> None:
    state = state_of(put_spread(credit=1.0), [3.25, 0.25])
    first = ENGINE.evaluate(state, market(), NOW)
    again = ENGINE.evaluate(state, market(), NOW)
    later = ENGINE.evaluate(state, market(), NOW + timedelta(minutes=5))
    assert first.decision_id == again.decision_id == "s1:20261124T160000.000000Z:stop_loss"
    assert later.decision_id != first.decision_id
    assert decision_id("s1", NOW, "hold") == "s1:20261124T160000.000000Z:hold"


def test_evaluate_all_decides_each_strategy_in_order() -> None:
    strategies = [
        replace(put_spread(credit=1.0), strategy_id="loser"),
        replace(iron_condor(credit=2.0), strategy_id="winner"),
        replace(put_spread(credit=1.0), strategy_id="quiet"),
    ]
    mids = [[3.25, 0.25], [0.375, 0.25, 0.375, 0.25], [0.9, 0.25]]
    states = [state_of(s, m) for s, m in zip(strategies, mids, strict=True)]
    decisions = ENGINE.evaluate_all(states, market(), NOW)
    assert [(d.strategy_id, d.rule) for d in decisions] == [
        ("loser", "stop_loss"),
        ("winner", "dynamic_take_profit"),
        ("quiet", "hold"),
    ]


def test_decisions_carry_the_inputs_and_thresholds_the_rule_saw() -> None:
    state = state_of(put_spread(credit=1.0), [3.25, 0.25])
    d = ENGINE.evaluate(state, market(MarketRegime.HIGH_VOL), NOW)
    assert d.inputs["debit_to_close"] == 3.0 and d.inputs["credit"] == 1.0
    assert d.inputs["regime"] == "high_vol" and d.inputs["vix"] == 16.0
    assert d.inputs["stop_loss_multiple"] == 2.0


def test_a_naive_time_is_refused() -> None:
    state = state_of(put_spread(), [0.9, 0.25])
    with pytest.raises(ValueError, match="now"):
        ENGINE.evaluate(state, market(), datetime(2026, 11, 24, 16))


def test_an_explicit_hold_rule_object_is_used_as_the_fallback() -> None:
    engine = DecisionEngine([Hold()])
    d = engine.evaluate(state_of(put_spread(), [3.25, 0.25]), market(), NOW)
    assert d.rule == "hold"
