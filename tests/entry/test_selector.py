"""StrategySelector scenarios on synthetic chains with known prices."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest

from tradelib.config import StrategiesConfig
from tradelib.domain import MarketRegime, Right, StrategyType
from tradelib.entry import Candidate, OptionChain, Selection, SkewInterpretation, StrategySelector

from .chains import RATE, TODAY, TS, columns, flat, make_chain

EXPIRY = TODAY + timedelta(days=35)
ST = StrategyType
# These scenarios are about structure (legs, filters, weights) on chains priced at one
# flat vol, where no strategy has an edge after costs: the edge floor is taken away
# (tests/entry/test_edge.py tests the floor itself).
ANY_EDGE: dict[str, object] = {"min_net_edge": -1e9}


def _cfg(**cfg: object) -> StrategiesConfig:
    return StrategiesConfig(**{**ANY_EDGE, **cfg})  # type: ignore[arg-type]


def _select(chain: OptionChain, **cfg: object) -> Selection:
    return StrategySelector(_cfg(**cfg)).select([chain])


def _by_type(selection: Selection) -> dict[StrategyType, Candidate]:
    return {c.strategy: c for c in selection.ranked}


def _row(chain: OptionChain, strike: float, right: Right) -> int:
    exp = chain.expiry(EXPIRY)
    return int(np.flatnonzero((exp.strike == strike) & (exp.is_call == (right is Right.CALL)))[0])


def _legs(c: Candidate) -> list[tuple[float, str, int]]:
    return [(leg.contract.strike or 0.0, leg.contract.right.value, leg.ratio) for leg in c.legs]  # type: ignore[union-attr]


def test_each_strategy_gets_its_legs_credit_max_loss_and_breakevens() -> None:
    chain = make_chain(put_vol=flat(0.30))
    sel = StrategySelector(_cfg())
    exp = chain.expiry(EXPIRY)
    put = sel.strikes.find_strike(exp, Right.PUT, 0.16)
    call = sel.strikes.find_strike(exp, Right.CALL, 0.16)
    assert put is not None and call is not None
    kp, kc = put.strike, call.strike
    mid = {
        (k, r): float(exp.mid[_row(chain, k, r)]) for k in (kp - 5, kp, kc, kc + 5) for r in Right
    }
    bid = {
        (k, r): float(exp.bid[_row(chain, k, r)]) for k in (kp - 5, kp, kc, kc + 5) for r in Right
    }
    ask = {
        (k, r): float(exp.ask[_row(chain, k, r)]) for k in (kp - 5, kp, kc, kc + 5) for r in Right
    }
    P, C = Right.PUT, Right.CALL
    got = _by_type(sel.select([chain]))
    assert set(got) == set(ST) - {ST.SHORT_CALL, ST.SINGLE_LEG, ST.STOCK, ST.CUSTOM}

    sp = got[ST.SHORT_PUT]
    assert _legs(sp) == [(kp, "P", -1)]
    assert sp.credit_mid == pytest.approx(mid[kp, P]) and sp.credit_natural == pytest.approx(
        bid[kp, P]
    )
    assert sp.max_loss == pytest.approx(kp - sp.credit_mid)
    assert sp.breakevens == pytest.approx((kp - sp.credit_mid,))
    # A naked put risks its Reg-T margin, far less than its max loss (the notional).
    assert 0 < sp.risk_capital < sp.max_loss / 3
    assert sp.ev_per_risk == pytest.approx(sp.net_expected_value / sp.risk_capital)

    pcs = got[ST.PUT_CREDIT_SPREAD]
    assert _legs(pcs) == [(kp - 5, "P", 1), (kp, "P", -1)]
    assert pcs.credit_mid == pytest.approx(mid[kp, P] - mid[kp - 5, P])
    assert pcs.credit_natural == pytest.approx(bid[kp, P] - ask[kp - 5, P])
    assert pcs.max_loss == pytest.approx(5 - pcs.credit_mid)
    assert pcs.max_profit == pytest.approx(pcs.credit_mid)
    assert pcs.breakevens == pytest.approx((kp - pcs.credit_mid,))

    ccs = got[ST.CALL_CREDIT_SPREAD]
    assert _legs(ccs) == [(kc, "C", -1), (kc + 5, "C", 1)]
    assert ccs.credit_mid == pytest.approx(mid[kc, C] - mid[kc + 5, C])
    assert ccs.max_loss == pytest.approx(5 - ccs.credit_mid)
    assert ccs.breakevens == pytest.approx((kc + ccs.credit_mid,))

    ic = got[ST.IRON_CONDOR]
    assert _legs(ic) == [(kp - 5, "P", 1), (kp, "P", -1), (kc, "C", -1), (kc + 5, "C", 1)]
    assert ic.credit_mid == pytest.approx(pcs.credit_mid + ccs.credit_mid)
    assert ic.max_loss == pytest.approx(5 - ic.credit_mid)
    assert ic.breakevens == pytest.approx((kp - ic.credit_mid, kc + ic.credit_mid))

    ss = got[ST.SHORT_STRANGLE]
    assert _legs(ss) == [(kp, "P", -1), (kc, "C", -1)]
    assert ss.credit_mid == pytest.approx(mid[kp, P] + mid[kc, C])
    assert math.isinf(ss.max_loss) and math.isfinite(ss.risk_capital)
    assert ss.ev_per_risk == pytest.approx(ss.net_expected_value / ss.risk_capital)
    for spread in (pcs, ccs, ic):
        assert spread.risk_capital == pytest.approx(spread.max_loss)
    assert ss.breakevens == pytest.approx((kp - ss.credit_mid, kc + ss.credit_mid))
    # One distribution for all: a profit zone inside another is less likely to pay.
    assert ic.probability_of_profit < ss.probability_of_profit  # same shorts, less credit
    assert pcs.probability_of_profit < sp.probability_of_profit  # higher breakeven
    for c in got.values():
        assert 0 <= c.probability_of_profit <= 1 and c.dte == 35
        assert c.skew.interpretation is SkewInterpretation.NEUTRAL
        assert all(abs(abs(d) - 0.16) < 0.03 for d in c.short_deltas)


def test_wing_is_the_nearest_listed_strike_at_or_beyond_the_width() -> None:
    chain = make_chain(strikes=np.arange(50.0, 150.1, 2.5), put_vol=flat(0.3))
    got = _by_type(_select(chain, wing_widths={"SPY": 3.0}))
    (lp, _, _), (kp, _, _) = _legs(got[ST.PUT_CREDIT_SPREAD])
    (kc, _, _), (lc, _, _) = _legs(got[ST.CALL_CREDIT_SPREAD])
    assert kp - lp == 5.0 and lc - kc == 5.0  # 2.5 would be short of the 3-point wing


def test_no_strike_beyond_the_wing_rejects_spreads_with_the_reason() -> None:
    chain = make_chain(strikes=np.arange(90.0, 111.0), put_vol=flat(0.2))
    sel = _select(chain, wing_widths={"SPY": 25.0})
    assert {c.strategy for c in sel.ranked} == {ST.SHORT_PUT, ST.SHORT_STRANGLE}
    (why,) = sel.rejections_for(ST.PUT_CREDIT_SPREAD)
    assert "no listed put at or below" in why.reason and why.expiry == EXPIRY


def _chain_with(
    row_edit: dict[tuple[float, Right], dict[str, float]], vol: float = 0.3
) -> OptionChain:
    cols = columns(EXPIRY, put_vol=flat(vol))
    for (k, right), values in row_edit.items():
        i = int(
            np.flatnonzero((cols["strike"] == k) & (cols["is_call"] == (right is Right.CALL)))[0]
        )
        for name, v in values.items():
            cols[name][i] = v
    return OptionChain.from_arrays("SPY", 100.0, TS, RATE, {EXPIRY: cols})


def _short_strikes(vol: float = 0.3) -> tuple[float, float]:
    chain = make_chain(put_vol=flat(vol))
    sel = StrategySelector(_cfg())
    exp = chain.expiry(EXPIRY)
    p = sel.strikes.find_strike(exp, Right.PUT, 0.16)
    c = sel.strikes.find_strike(exp, Right.CALL, 0.16)
    assert p is not None and c is not None
    return p.strike, c.strike


def test_a_wide_short_put_rejects_every_strategy_that_sells_it() -> None:
    kp, _ = _short_strikes()
    plain = make_chain(put_vol=flat(0.3))
    bid = float(plain.expiry(EXPIRY).bid[_row(plain, kp, Right.PUT)])
    sel = _select(_chain_with({(kp, Right.PUT): {"ask": bid + 0.60}}))
    assert {c.strategy for c in sel.ranked} == {ST.CALL_CREDIT_SPREAD}
    for st in (ST.SHORT_PUT, ST.PUT_CREDIT_SPREAD, ST.IRON_CONDOR, ST.SHORT_STRANGLE):
        (why,) = sel.rejections_for(st)
        assert why.reason.startswith("illiquid") and f"{kp:g}P: bid/ask 0.60" in why.reason
        assert why.legs  # the legs it would have traded, for the review


def test_a_width_over_the_dollar_limit_passes_when_within_the_percent_of_mid() -> None:
    kp, _ = _short_strikes(0.6)
    chain = make_chain(put_vol=flat(0.6))
    r = _row(chain, kp, Right.PUT)
    mid = float(chain.expiry(EXPIRY).mid[r])
    assert mid > 1.0
    wide = 0.10 * mid  # > $0.10, < 15% of mid
    sel = _select(
        _chain_with({(kp, Right.PUT): {"bid": mid - wide / 2, "ask": mid + wide / 2}}, 0.6)
    )
    assert ST.SHORT_PUT in {c.strategy for c in sel.ranked}


def test_a_zero_bid_short_leg_is_rejected() -> None:
    _, kc = _short_strikes()
    sel = _select(_chain_with({(kc, Right.CALL): {"bid": 0.0}}))
    (why,) = sel.rejections_for(ST.CALL_CREDIT_SPREAD)
    assert f"{kc:g}C: short leg bids 0.00" in why.reason


def test_credit_below_the_minimum_is_rejected_and_nothing_is_picked() -> None:
    sel = _select(make_chain(put_vol=flat(0.3)), min_credit=50.0)
    assert sel.ranked == () and sel.best is None
    assert len(sel.rejected) == 5
    assert all("at mid < minimum 50.00" in r.reason for r in sel.rejected)


def test_only_expiries_inside_the_dte_window_make_candidates() -> None:
    sel = _select(make_chain(dtes=(20, 35, 60), put_vol=flat(0.3)))
    assert sel.ranked and {c.dte for c in sel.ranked} == {35}
    none = _select(make_chain(dtes=(10, 60), put_vol=flat(0.3)))
    assert none.ranked == ()
    (why,) = none.rejected
    assert why.strategy is None and "no expiry within DTE 30-45 (listed: 10, 60)" in why.reason


def test_only_enabled_strategies_are_built() -> None:
    sel = _select(make_chain(put_vol=flat(0.3)), enabled=["iron_condor", "short_put"])
    assert {c.strategy for c in sel.ranked} == {ST.IRON_CONDOR, ST.SHORT_PUT}


def test_ranking_is_net_edge_per_risk_times_weight_and_weights_change_it() -> None:
    # Puts rich (put skew) and a wide wing: the put spread earns most per dollar at risk.
    chain = make_chain(put_vol=flat(0.30), call_vol=flat(0.20), width=0.02)
    selector = StrategySelector(_cfg(wing_widths={"SPY": 10.0}))
    plain = selector.select([chain], regime=MarketRegime.NORMAL)
    assert plain.best is not None and plain.best.strategy is ST.PUT_CREDIT_SPREAD
    scores = [c.score for c in plain.ranked]
    assert scores == sorted(scores, reverse=True)
    assert all(c.weight == 1.0 and c.weight_source == "default" for c in plain.ranked)

    low = {"put_credit_spread": 0.5}
    weighted = selector.select([chain], regime=MarketRegime.NORMAL, weights=low)
    assert weighted.best is not None and weighted.best.strategy is ST.SHORT_PUT
    pcs = next(c for c in weighted.ranked if c.strategy is ST.PUT_CREDIT_SPREAD)
    assert pcs.score == pytest.approx(pcs.ev_per_risk * 0.5) and pcs.weight_source == "strategy"
    assert pcs.metadata["weights"]["put_credit_spread"] == 0.5
    assert pcs.metadata["regime"] == "normal"

    # A regime's own weights win over the plain ones, only in that regime.
    regime_w = {"crash": {"put_credit_spread": 3.0}}
    crash = selector.select(
        [chain], regime=MarketRegime.CRASH, weights=low, regime_weights=regime_w
    )
    assert crash.best is not None and crash.best.strategy is ST.PUT_CREDIT_SPREAD
    assert crash.best.weight == 3.0 and crash.best.weight_source == "regime"
    normal = selector.select(
        [chain], regime=MarketRegime.NORMAL, weights=low, regime_weights=regime_w
    )
    assert normal.best is not None and normal.best.strategy is ST.SHORT_PUT


def test_a_lower_weight_lowers_the_rank_of_a_negative_expected_value_too() -> None:
    chain = make_chain(put_vol=flat(0.20), call_vol=flat(0.26))  # calls rich: put side loses
    selector = StrategySelector(_cfg())
    base = {c.strategy: c for c in selector.select([chain]).ranked}
    assert base[ST.SHORT_PUT].expected_value < 0
    low = {c.strategy: c for c in selector.select([chain], weights={"short_put": 0.5}).ranked}
    assert low[ST.SHORT_PUT].score < base[ST.SHORT_PUT].score


def test_zero_weight_switches_a_strategy_off_and_bad_weights_are_refused() -> None:
    chain = make_chain(put_vol=flat(0.3))
    selector = StrategySelector(_cfg())
    sel = selector.select([chain], weights={"short_strangle": 0.0})
    assert ST.SHORT_STRANGLE not in {c.strategy for c in sel.ranked}
    (why,) = sel.rejections_for(ST.SHORT_STRANGLE)
    assert "weight 0" in why.reason
    with pytest.raises(ValueError, match="finite and >= 0"):
        selector.select([chain], weights={"iron_condor": -1.0})


def test_put_skew_moves_the_short_put_closer_to_the_money() -> None:
    neutral = _by_type(_select(make_chain(put_vol=flat(0.2))))[ST.SHORT_STRANGLE]
    skewed = _by_type(_select(make_chain(put_vol=flat(0.26), call_vol=flat(0.2))))[
        ST.SHORT_STRANGLE
    ]
    assert abs(skewed.short_deltas[0]) == pytest.approx(0.192, abs=0.02)
    assert abs(neutral.short_deltas[0]) == pytest.approx(0.16, abs=0.02)
    assert skewed.metadata["skew_interpretation"] == "high_put_skew"
    assert skewed.metadata["skew_ratio"] == pytest.approx(1.3)
    # The rich side's edge shows up as expected value.
    assert skewed.expected_value > neutral.expected_value


def test_a_chain_without_any_iv_rejects_everything_with_reasons() -> None:
    cols = columns(EXPIRY, greeks=False)
    cols["bid"] = cols["ask"] = np.full(cols["bid"].shape, np.nan)
    chain = OptionChain.from_arrays("SPY", 100.0, TS, RATE, {EXPIRY: cols})
    sel = StrategySelector(_cfg()).select([chain])
    assert sel.ranked == () and len(sel.rejected) == 5
    assert all(
        "no put with a delta" in r.reason or "no call with a delta" in r.reason
        for r in sel.rejected
    )
