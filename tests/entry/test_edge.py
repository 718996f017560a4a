"""The selector's edge floor, its ranking per unit of risk and its near-duplicate cap (issue 13, item 5)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest

from tradelib.config import StrategiesConfig
from tradelib.domain import Contract, Leg, Right, Strategy, StrategyType
from tradelib.entry import Candidate, EntryCosts, Selection, StrategySelector

from .chains import TODAY, TS, flat, make_chain

ST = StrategyType
EXPIRY = TODAY + timedelta(days=35)
PUT_SKEW = {"put_vol": flat(0.26), "call_vol": flat(0.20)}  # puts rich: the put side has edge


def _select(chain_kw: dict[str, object], **cfg: object) -> Selection:
    selector = StrategySelector(StrategiesConfig(**cfg))  # type: ignore[arg-type]
    return selector.select([make_chain(**chain_kw)])


def _dollars(reason: str, label: str) -> float:
    match = re.search(rf"{label} \$([+-]?[\d.]+)", reason)
    assert match, f"no {label} in {reason!r}"
    return float(match.group(1))


def test_no_strategy_is_entered_without_an_edge_after_costs() -> None:
    # One flat vol everywhere: the model sees no edge at mid, so costs make every one a loser.
    sel = _select({"put_vol": flat(0.25)})
    assert sel.ranked == ()
    assert len(sel.rejected) == 5
    for r in sel.rejected:
        assert r.reason.startswith("no edge: ") and r.legs
        ev, slip = _dollars(r.reason, "EV"), _dollars(r.reason, "slippage")
        fees, net = _dollars(r.reason, "commissions"), _dollars(r.reason, "net")
        assert net == pytest.approx(ev - slip - fees, abs=0.011) and net <= 0


def test_a_positive_ev_at_mid_can_still_lose_to_slippage_and_commissions() -> None:
    sel = _select(PUT_SKEW)
    (pcs,) = sel.rejections_for(ST.PUT_CREDIT_SPREAD)
    assert _dollars(pcs.reason, "EV") > 0 > _dollars(pcs.reason, "net")
    # 2 legs, $0.65 each, on the way in and out; 60% of the $4.00 mid-to-natural distance.
    assert _dollars(pcs.reason, "commissions") == pytest.approx(2.60)
    assert _dollars(pcs.reason, "slippage") == pytest.approx(2.40)
    (sp,) = sel.ranked
    assert sp.strategy is ST.SHORT_PUT and sp.net_edge_dollars > 0
    assert sp.net_expected_value == pytest.approx(sp.expected_value - sp.slippage - sp.commissions)
    assert sp.commissions * sp.multiplier == pytest.approx(2.00)  # $1.00 order minimum, twice


def test_the_cost_model_and_the_floor_come_from_config() -> None:
    free = _select(
        PUT_SKEW, slippage_fraction=0.0, commission_per_contract=0.0, commission_min_per_order=0.0
    )
    pcs = next(c for c in free.ranked if c.strategy is ST.PUT_CREDIT_SPREAD)
    assert pcs.net_expected_value == pytest.approx(pcs.expected_value)
    strict = _select(PUT_SKEW, min_net_edge=10.0)
    assert strict.ranked == ()
    (sp,) = strict.rejections_for(ST.SHORT_PUT)
    assert "<= minimum $10.00 per unit" in sp.reason


def test_entry_costs_apply_the_order_minimum_per_order() -> None:
    put = Leg(Contract.option("SPY", EXPIRY, 95.0, Right.PUT), -1)
    condor = tuple(
        Leg(Contract.option("SPY", EXPIRY, k, r), q)
        for k, r, q in (
            (90.0, Right.PUT, 1),
            (95.0, Right.PUT, -1),
            (105.0, Right.CALL, -1),
            (110.0, Right.CALL, 1),
        )
    )
    one = EntryCosts(quantity=1)
    assert one.commissions((put,)) == pytest.approx(2.00)
    assert one.commissions(condor) == pytest.approx(2 * 4 * 0.65)
    assert EntryCosts(quantity=4).commissions((put,)) == pytest.approx(2 * 0.65)
    assert one.slippage(1.00, 0.90) == pytest.approx(0.06)
    assert one.slippage(1.00, float("nan")) == 0.0


# --- ranking -------------------------------------------------------------------------------------
WIDE_WING = {"put_vol": flat(0.30), "call_vol": flat(0.20), "width": 0.02}


def test_ranking_is_net_edge_per_unit_of_risk_so_size_alone_does_not_win() -> None:
    sel = _select(WIDE_WING, wing_widths={"SPY": 10.0})
    by = {c.strategy: c for c in sel.ranked}
    sp, pcs = by[ST.SHORT_PUT], by[ST.PUT_CREDIT_SPREAD]
    assert sp.net_edge_dollars > pcs.net_edge_dollars  # the naked put makes more dollars ...
    assert pcs.ev_per_risk > sp.ev_per_risk  # ... on far more capital
    assert sel.best is pcs
    assert [c.score for c in sel.ranked] == sorted((c.score for c in sel.ranked), reverse=True)
    for c in sel.ranked:
        assert c.score == pytest.approx(c.ev_per_risk * c.weight)
        assert c.metadata["net_expected_value"] == c.net_expected_value


def test_ranking_by_dollar_edge_is_still_available() -> None:
    sel = _select(WIDE_WING, wing_widths={"SPY": 10.0}, ranking="ev")
    assert sel.best is not None and sel.best.strategy is ST.SHORT_PUT
    assert sel.best.score == pytest.approx(sel.best.net_expected_value)


def test_weights_still_scale_the_ranking() -> None:
    chain = make_chain(**WIDE_WING)  # type: ignore[arg-type]
    selector = StrategySelector(StrategiesConfig(wing_widths={"SPY": 10.0}))
    sel = selector.select([chain], weights={"put_credit_spread": 0.5})
    assert sel.best is not None and sel.best.strategy is ST.SHORT_PUT
    pcs = next(c for c in sel.ranked if c.strategy is ST.PUT_CREDIT_SPREAD)
    assert pcs.score == pytest.approx(pcs.ev_per_risk * 0.5)


# --- near-duplicates -----------------------------------------------------------------------------
def _open_like(c: Candidate, sid: str, shift: float = 0.0, days: int = 0) -> Strategy:
    """An open strategy shaped like ``c``, its strikes moved by ``shift`` points."""
    legs = tuple(
        Leg(
            replace(
                leg.contract,
                strike=(leg.contract.strike or 0.0) + shift,
                expiry=(leg.contract.expiry or EXPIRY) + timedelta(days=days),
            ),
            leg.ratio,
        )
        for leg in c.legs
    )
    return Strategy(sid, c.strategy, c.underlying, legs, 1, c.credit_mid, TS)


def _short_put() -> tuple[StrategySelector, Candidate]:
    selector = StrategySelector(StrategiesConfig(enabled=["short_put"]))
    (sp,) = selector.select([make_chain(**PUT_SKEW)]).ranked  # type: ignore[arg-type]
    return selector, sp


def test_by_default_no_near_duplicate_of_an_open_strategy_is_entered() -> None:
    selector, sp = _short_put()
    chain = make_chain(**PUT_SKEW)  # type: ignore[arg-type]
    sel = selector.select([chain], open_strategies=[_open_like(sp, "S-1", shift=1.0)])
    assert sel.ranked == ()
    (why,) = sel.rejections_for(ST.SHORT_PUT)
    assert "open S-1" in why.reason and "(max 0)" in why.reason
    # The very same strategy, entered by an earlier run, is left to the entry job.
    again = selector.select([chain], open_strategies=[_open_like(sp, "S-0")])
    assert [c.strategy for c in again.ranked] == [ST.SHORT_PUT]


def test_one_near_duplicate_of_an_open_strategy_is_allowed_a_second_is_not() -> None:
    _, sp = _short_put()
    selector = StrategySelector(StrategiesConfig(enabled=["short_put"], max_near_duplicates=1))
    chain = make_chain(**PUT_SKEW)  # type: ignore[arg-type]
    one = selector.select([chain], open_strategies=[_open_like(sp, "S-1", shift=1.0)])
    assert one.ranked and one.ranked[0].strategy is ST.SHORT_PUT
    two = selector.select(
        [chain],
        open_strategies=[_open_like(sp, "S-1", shift=1.0), _open_like(sp, "S-2", shift=-2.0)],
    )
    assert two.ranked == ()
    (why,) = two.rejections_for(ST.SHORT_PUT)
    assert why.reason.startswith("near-duplicate: ")
    assert "open S-1" in why.reason and "open S-2" in why.reason and "(max 1)" in why.reason
    assert "1 strike(s) apart" in why.reason and "2 strike(s) apart" in why.reason


def test_far_strikes_another_expiry_or_another_type_are_not_duplicates() -> None:
    _, sp = _short_put()
    selector = StrategySelector(StrategiesConfig(enabled=["short_put"], max_near_duplicates=1))
    chain = make_chain(**PUT_SKEW)  # type: ignore[arg-type]
    others = [
        _open_like(sp, "S-far-1", shift=3.0),
        _open_like(sp, "S-far-2", shift=-3.0),
        _open_like(sp, "S-later-1", days=8),  # a week and a day later: another expiry
        _open_like(sp, "S-later-2", days=8),
    ]
    strangle = Strategy(
        "S-strangle",
        ST.SHORT_STRANGLE,
        "SPY",
        (*_open_like(sp, "x").legs, Leg(Contract.option("SPY", EXPIRY, 110.0, Right.CALL), -1)),
        1,
        3.0,
        TS,
    )
    sel = selector.select([chain], open_strategies=[*others, strangle, strangle])
    assert [c.strategy for c in sel.ranked] == [ST.SHORT_PUT]
    # Within a week, expiries count as one: two weeklies two days apart are the same trade.
    near = [_open_like(sp, "S-next-1", days=7), _open_like(sp, "S-next-2", days=2)]
    assert selector.select([chain], open_strategies=near).ranked == ()


def test_no_duplicate_allowed_rejects_a_copy_ranked_below_in_the_same_run() -> None:
    chain = make_chain(**PUT_SKEW)  # type: ignore[arg-type]
    strict = StrategySelector(StrategiesConfig(enabled=["short_put"]))  # the default: 0
    sel = strict.select([chain, chain])
    assert len(sel.ranked) == 1
    (why,) = sel.rejections_for(ST.SHORT_PUT)
    assert "ranked #1 this run" in why.reason and "0 strike(s) apart" in why.reason
    loose = StrategySelector(StrategiesConfig(enabled=["short_put"], max_near_duplicates=1))
    assert len(loose.select([chain, chain, chain]).ranked) == 2
