"""Rules on their edges and what their decisions carry (issue 20, the survivors of the rules
mutation run): the break-even and one-day edges, the inputs each decision stores by name, the
exact reasons a trader reads, the engine's invalid-marks split and the book step's tolerance."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from tradelib.config import TradingConfig
from tradelib.domain import (
    Contract,
    Decision,
    DecisionAction,
    Leg,
    Right,
    Strategy,
    StrategyType,
    Urgency,
    utc,
)
from tradelib.risk import LimitBreach, StrategyRisk
from tradelib.rules import (
    AssignmentRisk,
    DecisionEngine,
    DeltaBreach,
    DividendInfo,
    DteExit,
    ExpirationDay,
    FixedTakeProfit,
    GammaRisk,
    Hold,
    RollOpportunity,
    ShortStrikeBreached,
    VolatilityExpansion,
)
from tradelib.rules.book import BOOK_LIMIT_PRIORITY, BOOK_LIMIT_RULE, apply_book_limits
from tradelib.rules.rules import decision_id

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


# --- what each decision stores ------------------------------------------------------------------
def test_a_gamma_risk_decision_stores_its_thresholds_by_name() -> None:
    state = state_of(short_strangle(dte=5, quantity=30), [1.5, 1.5], gammas=[0.02, 0.02])
    d = GammaRisk.from_config(CFG).evaluate(state, market(), NOW)
    assert d is not None
    assert d.inputs["gamma_dte"] == CFG.rules.gamma_dte
    assert d.inputs["max_position_gamma"] == CFG.rules.max_position_gamma


def test_a_dte_exit_stores_its_thresholds_by_name() -> None:
    d = DteExit.from_config(CFG).evaluate(state_of(put_spread(dte=21), [1.25, 0.25]), market(), NOW)
    assert d is not None
    assert (d.inputs["dte_exit"], d.inputs["roll_min_dte"], d.inputs["roll_min_credit"]) == (
        CFG.rules.dte_exit,
        CFG.rules.gamma_dte,
        CFG.rules.roll_min_credit,
    )


def test_a_fixed_take_profit_with_dynamic_targets_off_says_so_and_stores_its_target() -> None:
    cfg = CFG.with_overrides({"profit_targets.dynamic_enabled": False})
    state = state_of(put_spread(credit=1.0), [0.75, 0.25])
    d = FixedTakeProfit.from_config(cfg).evaluate(state, market(), NOW)
    assert d is not None
    assert d.reason == ("profit 50.0% of max >= fixed 50% target (dynamic targets off): pnl $50.00")
    assert d.inputs["profit_target"] == 0.5


def test_a_roll_opportunity_stores_its_thresholds_by_name() -> None:
    state = state_of(put_spread(), [1.5, 0.25], deltas=[-0.30, -0.15], roll_credit=0.05)
    d = RollOpportunity.from_config(CFG).evaluate(state, market(), NOW)
    assert d is not None
    assert d.inputs["roll_tested_delta"] == CFG.rules.roll_tested_delta
    assert d.inputs["roll_min_credit"] == CFG.rules.roll_min_credit


def test_a_volatility_expansion_stores_the_iv_change_to_four_places() -> None:
    # 0.25 -> 0.38 is up 52%: 0.52 exactly would not show the rounding; 0.3333... does.
    state = state_of(
        put_spread(credit=1.0), [1.75, 0.25], ivs=[1 / 3, 0.40], entry_iv=0.2
    )  # up 66.666...%
    d = VolatilityExpansion.from_config(CFG).evaluate(state, market(), NOW)
    assert d is not None
    assert d.inputs["iv_change"] == 0.6667
    assert d.inputs["vol_expansion_pct"] == CFG.rules.vol_expansion_pct


# --- volatility expansion edges -----------------------------------------------------------------
def test_iv_expansion_at_break_even_or_a_cent_of_profit_is_tolerated() -> None:
    rule = VolatilityExpansion.from_config(CFG)
    for mids in ([1.25, 0.25], [1.245, 0.25]):  # debit 1.00 (pnl 0), debit 0.995 (+$0.50)
        state = state_of(put_spread(credit=1.0), mids, ivs=[0.5, 0.5], entry_iv=0.25)
        assert state.pnl is not None and 0 <= state.pnl < 1
        assert rule.evaluate(state, market(), NOW) is None


def test_iv_expansion_halves_a_two_lot_position() -> None:
    state = state_of(
        put_spread(credit=1.0, quantity=2), [1.75, 0.25], ivs=[0.375, 0.40], entry_iv=0.25
    )
    d = VolatilityExpansion.from_config(CFG).evaluate(state, market(), NOW)
    assert d is not None and d.action is DecisionAction.REDUCE


# --- roll opportunity edges ---------------------------------------------------------------------
def test_a_roll_opportunity_needs_at_least_a_day_left() -> None:
    rule = RollOpportunity.from_config(CFG)
    expiring = state_of(put_spread(dte=0), [1.5, 0.25], deltas=[-0.35, -0.15], roll_credit=0.2)
    assert rule.evaluate(expiring, market(), NOW) is None
    one_day = state_of(put_spread(dte=1), [1.5, 0.25], deltas=[-0.35, -0.15], roll_credit=0.2)
    d = rule.evaluate(one_day, market(), NOW)
    assert d is not None and d.action is DecisionAction.ROLL


# --- reasons ------------------------------------------------------------------------------------
def test_expiration_day_names_a_short_call_as_a_call() -> None:
    state = state_of(call_spread(short=603, long=608, dte=0), [0.5, 0.25])  # 3/600 = 0.50%
    d = ExpirationDay.from_config(CFG).evaluate(state, market(), NOW)
    assert d is not None
    assert d.reason == "0 DTE: short call 603 is 0.50% from spot 600.00 <= 1.00%"


def test_a_hold_on_bad_marks_names_every_bad_leg_and_counts_them() -> None:
    spread = put_spread(credit=1.0)
    state = state_of(spread, [1.0, 0.25], replace={0: None, 1: None})
    d = Hold().evaluate(state, market(), NOW)
    assert len(state.mark_problems) == 2
    assert d.reason == "no valid marks: " + "; ".join(state.mark_problems)
    assert "; SPY " in d.reason
    assert d.inputs["mark_problems"] == 2


def test_a_hold_without_a_profit_fraction_shows_n_a() -> None:
    # A long call has no finite max profit: no fraction of it to show.
    long_call = strategy(StrategyType.SINGLE_LEG, [(option(620, "C"), 1)], credit=-1.0)
    state = state_of(long_call, [1.25])
    assert state.marks_valid and state.profit_fraction is None
    d = Hold().evaluate(state, market(), NOW)
    assert d.reason.startswith("no rule fired: profit n/a of max, DTE 30")


# --- the engine ---------------------------------------------------------------------------------
def test_with_bad_marks_the_engine_runs_only_the_spot_and_calendar_rules() -> None:
    engine = DecisionEngine.from_config(CFG)
    # The short leg's quote is good and tested (delta 0.45); the long leg has no quote.
    # The delta breach must not act on half a strategy's quotes: the DTE exit decides.
    state = state_of(
        put_spread(credit=1.0, dte=21), [3.25, 0.25], deltas=[-0.45, -0.15], replace={1: None}
    )
    assert state.max_short_delta == 0.45 and not state.marks_valid
    assert engine.evaluate(state, market(), NOW).rule == "dte_exit"
    assert [d.rule for d in engine.explain(state, market(), NOW)] == ["dte_exit", "hold"]
    # With good marks the stop loss comes first and explain shows every rule that fires.
    good = state_of(put_spread(credit=1.0, dte=21), [3.25, 0.25], deltas=[-0.45, -0.15])
    assert [d.rule for d in engine.explain(good, market(), NOW)] == [
        "stop_loss",
        "delta_breach",
        "dte_exit",
        "hold",
    ]


@pytest.mark.parametrize("call", ["evaluate", "evaluate_all", "explain"])
def test_the_engine_refuses_a_naive_time_naming_it_now(call: str) -> None:
    engine = DecisionEngine.from_config(CFG)
    state = state_of(put_spread(), [1.0, 0.25])
    naive = datetime(2026, 11, 24, 16)
    arg = [state] if call == "evaluate_all" else state
    with pytest.raises(ValueError, match=r"^now must be timezone-aware"):
        getattr(engine, call)(arg, market(), naive)


# --- the book step ------------------------------------------------------------------------------
BOOK_NOW = utc(2026, 11, 24, 16)


def _risk(sid: str, capital: float) -> StrategyRisk:
    put = Contract.option("QQQ", date(2026, 12, 31), 100.0, Right.PUT)
    return StrategyRisk(sid, "QQQ", 1, 20.0, capital, 0.0, 37, (Leg(put, -1),))


def _hold(sid: str) -> Decision:
    return Decision(
        f"d-{sid}", sid, BOOK_NOW, "hold", 9.0, DecisionAction.HOLD, Urgency.LOW, "", {}
    )


def _conc(measured: float, limit: float = 0.4) -> LimitBreach:
    return LimitBreach(
        "max_underlying_concentration", measured, limit, "", ("QQQ",), (), 1 / 50_000
    )


def test_a_breach_exactly_at_its_tolerance_does_not_act_and_just_past_it_does() -> None:
    risks = [_risk("q1", 12_000)]
    holds = [_hold("q1")]
    # 0.5 x 1.5 = 0.75 exactly: at the tolerance, and under it (but past the limit),
    # nothing changes.
    for measured in (0.75, 0.6):
        at = [_conc(measured, 0.5)]
        assert apply_book_limits(holds, risks, at, BOOK_NOW, tolerance=0.5) == holds
    (out,) = apply_book_limits(holds, risks, [_conc(0.76, 0.5)], BOOK_NOW, tolerance=0.5)
    assert out.action is DecisionAction.CLOSE


def test_a_book_close_is_a_decision_of_its_own_with_the_breach_s_numbers() -> None:
    (out,) = apply_book_limits([_hold("q1")], [_risk("q1", 12_000)], [_conc(0.46)], BOOK_NOW)
    assert out.decision_id == decision_id("q1", BOOK_NOW, BOOK_LIMIT_RULE)
    assert (out.rule, out.priority, out.urgency) == (
        BOOK_LIMIT_RULE,
        BOOK_LIMIT_PRIORITY,
        Urgency.NORMAL,
    )
    assert out.reason.startswith(
        "book over its limits: max_underlying_concentration: close 1 of 1 unit(s) of q1"
    )
    assert out.inputs["measured"] == 0.46 and out.inputs["threshold"] == 0.4
    assert out.inputs["measured_after"] == round(0.46 - 12_000 / 50_000, 6)
    assert out.inputs["engine_rule"] == "hold"


def test_a_book_close_stores_the_measure_after_to_six_places() -> None:
    (out,) = apply_book_limits(
        [_hold("q1")], [_risk("q1", 12_000)], [_conc(0.4612345678)], BOOK_NOW
    )
    assert out.inputs["measured_after"] == 0.221235


def test_a_refused_roll_names_every_breach_it_feeds() -> None:
    roll = Decision(
        "d", "q1", BOOK_NOW, "roll_opportunity", 5.0, DecisionAction.ROLL, Urgency.LOW, "roll", {}
    )
    margin = LimitBreach("max_margin_use", 0.6, 0.5, "", ("QQQ",), ())
    (out,) = apply_book_limits([roll], [_risk("q1", 12_000)], [_conc(0.46), margin], BOOK_NOW)
    assert out.reason == (
        "roll; no roll: it adds to max_underlying_concentration (0.46 > 0.4), "
        "max_margin_use (0.6 > 0.5), close instead"
    )


# --- short strike breached and delta breach: what they store ------------------------------------
def test_a_breached_short_put_says_by_how_much_and_stores_the_strike_and_right() -> None:
    state = state_of(put_spread(short=580), [1.5, 0.25], spot=577.5)
    d = ShortStrikeBreached.from_config(CFG).evaluate(state, market(), NOW)
    assert d is not None
    assert d.reason == "short strike breached: spot 577.50 below short put 580 by 2.50"
    assert (d.inputs["strike"], d.inputs["right"]) == (580, "P")


def test_a_delta_breach_stores_its_thresholds_by_name() -> None:
    state = state_of(put_spread(), [1.5, 0.25], deltas=[-0.45, -0.15])
    d = DeltaBreach.from_config(CFG).evaluate(state, market(), NOW)
    assert d is not None
    assert (d.inputs["delta_breach"], d.inputs["roll_min_dte"], d.inputs["roll_min_credit"]) == (
        CFG.rules.delta_breach,
        CFG.rules.gamma_dte,
        CFG.rules.roll_min_credit,
    )


# --- assignment risk ----------------------------------------------------------------------------
EX_DATE = TODAY + timedelta(days=1)


def _calls(*strikes: float, dte: int = 30) -> Strategy:
    return strategy(StrategyType.CUSTOM, [(option(k, "C", dte), -1) for k in strikes], credit=2.0)


def test_assignment_risk_counts_any_dividend_however_small_but_not_none() -> None:
    spread = call_spread(short=590, long=595)  # ITM by 10, extrinsic 0.25
    rule = AssignmentRisk.from_config(CFG)
    small = state_of(spread, [10.25, 5.25], dividend=DividendInfo(EX_DATE, 0.5))
    d = rule.evaluate(small, market(), NOW)
    assert d is not None
    assert d.inputs["strike"] == 590 and d.inputs["dividend"] == 0.5
    assert d.inputs["extrinsic"] == 0.25 and d.inputs["ex_date"] == EX_DATE.isoformat()
    zero = state_of(spread, [10.25, 5.25], dividend=DividendInfo(EX_DATE, 0.0))
    assert rule.evaluate(zero, market(), NOW) is None


def test_assignment_risk_needs_a_spot() -> None:
    state = state_of(
        call_spread(short=590), [10.25, 5.25], spot=0.0, dividend=DividendInfo(EX_DATE, 1.5)
    )
    assert state.spot is None
    assert AssignmentRisk().evaluate(state, market(), NOW) is None


def test_assignment_risk_looks_at_short_calls_only_and_past_a_short_put() -> None:
    div = DividendInfo(EX_DATE, 1.5)
    # A short put far below spot is no assignment risk, however little it is worth.
    assert (
        AssignmentRisk().evaluate(state_of(put_spread(), [0.25, 0.25], dividend=div), market(), NOW)
        is None
    )
    # A strangle lists its put first; its ITM call with no extrinsic is still found.
    strangle = state_of(short_strangle(put=570, call=590), [0.25, 10.0], dividend=div)
    d = AssignmentRisk().evaluate(strangle, market(), NOW)
    assert d is not None and d.inputs["strike"] == 590


def test_a_call_at_the_money_is_not_in_the_money() -> None:
    div = DividendInfo(EX_DATE, 1.5)
    atm = state_of(_calls(600), [0.25], dividend=div)
    assert AssignmentRisk().evaluate(atm, market(), NOW) is None


def test_a_call_expiring_on_the_ex_date_is_at_risk() -> None:
    div = DividendInfo(EX_DATE, 1.5)
    state = state_of(_calls(590, dte=1), [10.25], dividend=div)
    assert state.strategy.legs[0].contract.expiry == EX_DATE
    assert AssignmentRisk().evaluate(state, market(), NOW) is not None


def test_every_short_call_is_looked_at_until_one_is_at_risk() -> None:
    div = DividendInfo(EX_DATE, 1.5)
    # First an OTM call, then an ITM call worth its intrinsic value and 3.00 more, then the
    # one at risk.
    state = state_of(_calls(620, 580, 590), [0.25, 23.0, 10.25], dividend=div)
    d = AssignmentRisk().evaluate(state, market(), NOW)
    assert d is not None and d.inputs["strike"] == 590
