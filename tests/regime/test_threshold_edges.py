"""Every threshold of the regime classification exactly at its value (inclusive or strict, as
``RegimeDetectorConfig`` words it) and just short of it, the margin that sets the confidence,
and the hysteresis arithmetic (issue 20)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from tradelib.config import RegimeDetectorConfig, TradingConfig
from tradelib.domain import MarketRegime
from tradelib.regime import EnhancedMarketRegimeDetector

from .series import DAYS, START, alternating, bars, market

CRASH, HIGH, TREND = MarketRegime.CRASH, MarketRegime.HIGH_VOL, MarketRegime.TRENDING
LOW, RANGE, NORMAL = MarketRegime.LOW_VOL, MarketRegime.RANGE_BOUND, MarketRegime.NORMAL


def _row(
    vix: float = 20.0,
    rv: float = 0.16,
    *,
    er: float = 0.4,
    move: float = 0.0,
    rv_short: float | None = None,
    dd: float = 0.0,
    term: float | None = None,
    day: date | None = None,
) -> dict[str, Any]:
    """A complete features row; by default a normal market (VIX 20, rv 16%, efficiency 0.4)."""
    return {
        "date": day,
        "vix": vix,
        "rv": rv,
        "rv_short": rv if rv_short is None else rv_short,
        "efficiency": er,
        "trend_return": move,
        "drawdown": dd,
        "vix_term": term,
    }


def _raw(row: dict[str, Any], **cfg: Any) -> MarketRegime | None:
    return EnhancedMarketRegimeDetector(RegimeDetectorConfig(**cfg)).step(row, None).raw


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        # crash: VIX >= 40
        (_row(40.0), CRASH),
        (_row(39.99), HIGH),
        # crash: short rv >= 70% with a drawdown >= 8%
        (_row(rv_short=0.70, dd=0.08), CRASH),
        (_row(rv_short=0.6999, dd=0.08), NORMAL),
        (_row(rv_short=0.70, dd=0.0799), NORMAL),
        # crash: VIX/VIX3M >= 1.15 with VIX >= 24 (else backwardation: high_vol)
        (_row(24.0, term=1.15), CRASH),
        (_row(24.0, term=1.1499), HIGH),
        (_row(23.99, term=1.15), HIGH),
        # high_vol: VIX >= 24 over realized vol > 14%
        (_row(24.0, 0.1401), HIGH),
        (_row(24.0, 0.14), NORMAL),
        (_row(23.99, 0.16), NORMAL),
        # high_vol: realized vol >= 20% alone
        (_row(20.0, 0.20), HIGH),
        (_row(20.0, 0.1999), NORMAL),
        # high_vol: VIX/VIX3M >= 1.0 (backwardation)
        (_row(term=1.0), HIGH),
        (_row(term=0.9999), NORMAL),
        # trending: efficiency >= 0.6 with |move| >= 2%, either way
        (_row(er=0.6, move=0.02), TREND),
        (_row(er=0.6, move=-0.02), TREND),
        (_row(er=0.5999, move=0.05), NORMAL),
        (_row(er=0.9, move=0.0199), NORMAL),
        (_row(er=0.9, move=-0.0199), NORMAL),
        # low_vol: VIX <= 18 and realized vol <= 14%
        (_row(18.0, 0.14), LOW),
        (_row(18.01, 0.14), NORMAL),
        (_row(18.0, 0.1401), NORMAL),
        # range_bound: efficiency <= 0.2
        (_row(er=0.2), RANGE),
        (_row(er=0.2001), NORMAL),
    ],
)
def test_each_threshold_decides_exactly_at_its_value(
    row: dict[str, Any], expected: MarketRegime
) -> None:
    assert _raw(row) is expected


def test_a_zero_minimum_move_makes_efficiency_alone_decide_a_trend() -> None:
    reading = EnhancedMarketRegimeDetector(RegimeDetectorConfig(trend_min_return=0.0)).step(
        _row(er=0.75, move=0.0), None
    )
    assert reading.raw is TREND
    assert reading.evidence["margin"] == 0.25  # efficiency 0.75 over 0.6, nothing else


def _first(row: dict[str, Any]) -> tuple[float, float, object]:
    r = EnhancedMarketRegimeDetector().step(row, None)
    return r.confidence, r.evidence["margin"], r.evidence["decided_by"]  # type: ignore[return-value]


def test_the_crash_reading_furthest_past_its_threshold_decides() -> None:
    # VIX 44 is 10% past 40; short rv 84% is 20% past 70% and drawdown 12% is 50% past 8%:
    # the short-rv reading decides, by the smaller of its two margins.
    confidence, margin, why = _first(_row(44.0, rv_short=0.84, dd=0.12))
    assert (margin, confidence) == (0.2, 0.7)
    assert why == "short rv 84.0% >= 70% and drawdown 12.0% >= 8%"
    confidence, margin, why = _first(_row(30.0, term=1.38))  # term 20% past, VIX 25% past
    assert (margin, why) == (0.2, "VIX/VIX3M 1.380 >= 1.15 with VIX 30.00")


def test_the_high_vol_reading_furthest_past_its_threshold_decides() -> None:
    confidence, margin, why = _first(_row(26.4, 0.30))  # VIX 10% past 24, rv 50% past 20%
    assert (margin, confidence) == (0.5, 1.0)
    assert why == "realized vol 30.0% >= 20%"
    _, margin, why = _first(_row(25.2, 0.16, term=1.02))  # VIX 5% past, term 2% past
    assert (margin, why) == (0.05, "VIX 25.20 >= 24")


def test_trend_low_vol_range_and_normal_margins() -> None:
    # Trending: the smaller of efficiency 0.75 (25% past 0.6) and move 3% (50% past 2%).
    assert _first(_row(er=0.75, move=-0.03))[:2] == (0.75, 0.25)
    # Low vol: the smaller shortfall of VIX 13.5 (25% under 18) and rv 10.5% (25% under 14%).
    assert _first(_row(13.5, 0.105))[:2] == (0.75, 0.25)
    # Range bound: efficiency 0.1 is 50% under 0.2.
    assert _first(_row(er=0.1))[:2] == (1.0, 0.5)
    # Normal: the smaller shortfall under the high-vol thresholds (VIX 21 is 12.5% under 24).
    assert _first(_row(21.0, 0.16))[:2] == (0.625, 0.125)


def test_a_held_reading_loses_confidence_with_each_reading_of_the_new_regime() -> None:
    slow = EnhancedMarketRegimeDetector(RegimeDetectorConfig(confirm_readings=4))
    held = slow.step(_row(26.0), None)  # high_vol
    confidences = []
    for _ in range(3):
        held = slow.step(_row(er=0.1), held)  # range bound, waiting for confirmation
        assert held.regime is HIGH and held.evidence["held_by_hysteresis"] is True
        confidences.append(held.confidence)
    assert confidences == [0.375, 0.25, 0.125]
    assert held.evidence["transition"] == "high_vol held: range_bound seen 3 of 4 readings"
    adopted = slow.step(_row(er=0.1), held)
    assert (adopted.regime, adopted.streak, adopted.candidate) == (RANGE, 0, None)
    assert adopted.evidence["transition"] == "range_bound confirmed (4 readings)"


def test_a_held_reading_keeps_a_floor_of_confidence() -> None:
    slow = EnhancedMarketRegimeDetector(RegimeDetectorConfig(confirm_readings=10))
    held = slow.step(_row(26.0), None)
    for _ in range(9):
        held = slow.step(_row(er=0.1), held)
    assert held.regime is HIGH and held.streak == 9 and held.confidence == 0.1


def test_a_step_up_exactly_at_the_switch_margin_is_admitted_at_once() -> None:
    detector = EnhancedMarketRegimeDetector(RegimeDetectorConfig(switch_margin=0.25))
    low = detector.step(_row(13.5, 0.105), None)
    assert low.regime is LOW
    # Normal 25% under the high-vol VIX (VIX 18.0 ... rv 15%: 25% under 20%): exactly the margin.
    at = detector.step(_row(18.0, 0.15), low)
    assert at.raw is NORMAL and at.regime is NORMAL
    assert (
        at.evidence["transition"] == "step up from low_vol past the switch margin: admitted at once"
    )
    under = detector.step(_row(18.5, 0.15), low)
    assert under.regime is LOW and under.candidate is NORMAL


def test_within_a_day_a_reading_can_raise_the_regime_but_not_lower_it() -> None:
    detector = EnhancedMarketRegimeDetector()
    day = date(2026, 11, 24)
    morning = detector.step(_row(26.0, day=day), None)
    calmer = detector.step(_row(er=0.1, day=day), morning)
    assert (calmer.regime, calmer.raw, calmer.evidence["held_by_hysteresis"]) == (HIGH, RANGE, True)
    assert calmer.evidence["transition"] == "high_vol holds for the rest of the day"
    same = detector.step(_row(26.0, day=day), calmer)
    assert same.evidence["transition"] == "high_vol again within the day"
    worse = detector.step(_row(45.0, day=day), same)
    assert worse.regime is CRASH
    assert worse.evidence["transition"] == "step up from high_vol within the day"
    # The next day a calmer reading starts the confirmation count as usual.
    next_day = detector.step(_row(er=0.1, day=date(2026, 11, 25)), worse)
    assert (next_day.regime, next_day.candidate, next_day.streak) == (CRASH, RANGE, 1)


# --- what a reading says ------------------------------------------------------------------------
def test_a_trend_s_margin_is_the_smaller_of_its_efficiency_and_its_move() -> None:
    # Efficiency 0.9 is 50% past 0.6; a 2.5% move is 25% past 2%: the move decides.
    assert _first(_row(er=0.9, move=-0.025))[:2] == (0.75, 0.25)


def test_trend_range_and_normal_readings_say_why() -> None:
    assert _first(_row(er=0.75, move=-0.03))[2] == "efficiency 0.75 >= 0.6, move -3.0% over 10d"
    assert _first(_row(er=0.1))[2] == "efficiency 0.10 <= 0.2"
    assert _first(_row(21.0))[2] == "VIX 21.00 in (18, 24), no clear trend"


def test_the_first_reading_and_each_transition_are_named() -> None:
    detector = EnhancedMarketRegimeDetector()
    low = detector.step(_row(13.5, 0.105), None)
    assert (low.streak, low.candidate, low.evidence["transition"]) == (0, None, "first reading")
    again = detector.step(_row(13.5, 0.105), low)
    assert again.evidence["transition"] == "low_vol again"
    crash = detector.step(_row(45.0), again)
    assert crash.evidence["transition"] == "step up into crash from low_vol: admitted at once"


def test_a_different_calmer_regime_restarts_the_confirmation_count() -> None:
    detector = EnhancedMarketRegimeDetector()  # two readings confirm
    high = detector.step(_row(26.0), None)
    ranging = detector.step(_row(er=0.1), high)
    assert (ranging.regime, ranging.candidate, ranging.streak) == (HIGH, RANGE, 1)
    normal = detector.step(_row(21.0), ranging)  # another candidate: one reading, not two
    assert (normal.regime, normal.candidate, normal.streak) == (HIGH, NORMAL, 1)


def test_evidence_is_rounded_to_six_places() -> None:
    reading = EnhancedMarketRegimeDetector().step(_row(20.123456789), None)
    assert reading.evidence["vix"] == 20.123457


def test_an_incomplete_row_names_what_is_missing_and_keeps_its_day() -> None:
    day = date(2026, 11, 24)
    row = {**_row(day=day), "rv": None, "efficiency": None}
    reading = EnhancedMarketRegimeDetector().step(row, None)
    assert reading.regime is None and reading.as_of == day
    assert reading.evidence["decided_by"] == (
        "need 11 daily bars, have too few bars (missing rv, efficiency)"
    )


def test_the_detector_takes_its_thresholds_from_the_config() -> None:
    cfg = TradingConfig().with_overrides({"regime_detector.crash_vix": 30.0})
    detector = EnhancedMarketRegimeDetector.from_config(cfg)
    assert detector.step(_row(31.0), None).raw is CRASH


# --- detect and detect_series --------------------------------------------------------------------
def test_readings_before_the_warmup_count_the_bars_they_have() -> None:
    spy, vix = market(alternating(0.003, 5), 14.0)
    reading = EnhancedMarketRegimeDetector().detect(spy, vix)
    assert reading.evidence["decided_by"] == (
        "need 11 daily bars, have 6 daily bars (missing trend_return)"
    )
    assert reading.as_of == (START + timedelta(days=5)).date()
    first, second, *_ = EnhancedMarketRegimeDetector().detect_series(spy, vix)
    assert str(first.evidence["decided_by"]).startswith("need 11 daily bars, have 1 daily bars")
    assert str(second.evidence["decided_by"]).startswith("need 11 daily bars, have 2 daily bars")


def test_no_common_dates_say_so() -> None:
    spy, _ = market(alternating(0.003), 14.0)
    vix = bars([14.0] * 5, start=START - timedelta(days=400))
    reading = EnhancedMarketRegimeDetector().detect(spy, vix)
    assert reading.evidence["decided_by"] == "no daily bars common to SPY and VIX"


def test_too_few_intraday_bars_leave_the_daily_short_vol_alone() -> None:
    spy, vix = market(alternating(0.003), 16.0)
    one_bar = bars([600.0], start=START + timedelta(days=DAYS - 1))
    detector = EnhancedMarketRegimeDetector()
    with_bar = detector.detect(spy, vix, spy_intraday=one_bar)
    assert with_bar.evidence["rv_intraday"] is None
    assert with_bar.evidence["rv_short"] == detector.detect(spy, vix).evidence["rv_short"]


def test_detect_series_reads_the_term_structure() -> None:
    spy, vix = market(alternating(0.003), 20.0)
    backwardated = bars([19.0] * spy.height)  # VIX / VIX3M = 1.05
    readings = EnhancedMarketRegimeDetector().detect_series(spy, vix, vix3m_daily=backwardated)
    assert readings[-1].raw is HIGH


def test_confidence_is_capped_at_one() -> None:
    reading = EnhancedMarketRegimeDetector().step(_row(20.0, 0.5), None)  # rv 150% past 20%
    assert reading.raw is HIGH and reading.evidence["margin"] == 1.5
    assert reading.confidence == 1.0


def test_evidence_carries_every_input_and_threshold_by_name() -> None:
    cfg = RegimeDetectorConfig()
    reading = EnhancedMarketRegimeDetector(cfg).step(_row(), None)
    inputs = (
        "vix", "vix_close", "vix_now", "spy_now", "vix_term", "rv", "rv_short",
        "rv_intraday", "rv_iv", "efficiency", "trend_return", "drawdown",
    )  # fmt: skip
    assert set(inputs) <= set(reading.evidence)
    assert reading.evidence["streak"] == 0 and reading.evidence["held_by_hysteresis"] is False
    for name in (
        "crash_vix", "high_vol_vix", "low_vol_vix", "crash_rv", "crash_drawdown", "high_vol_rv",
        "low_vol_rv", "trend_efficiency", "range_efficiency", "confirm_readings", "switch_margin",
    ):  # fmt: skip
        assert reading.evidence[name] == getattr(cfg, name), name


def test_margin_and_confidence_are_rounded_to_four_places() -> None:
    # Normal at VIX 20: 1 - 20/24 = 0.16666... under the high-vol VIX.
    assert _first(_row(20.0, 0.16))[:2] == (0.6667, 0.1667)
