"""Danger is admitted on the reading that crosses its threshold; calm comes back slowly.

Shaped after real index history: a VIX close just over the crash threshold after
a four-session slide of ~11%, then a close back in high_vol territory; a
volatility spike that doubles VIX in one session; and live quotes (VIX, SPY)
that a monitoring cycle sees before any daily close does.
"""

from __future__ import annotations

import itertools

from tradelib.config import TradingConfig
from tradelib.domain import MarketRegime
from tradelib.regime import EnhancedMarketRegimeDetector, RegimeReading

from .series import DAYS, alternating, market

DETECTOR = EnhancedMarketRegimeDetector.from_config(TradingConfig())
CRASH, HIGH_VOL = MarketRegime.CRASH, MarketRegime.HIGH_VOL


def _slide_then_crash_close() -> list[RegimeReading]:
    """34 choppy sessions under VIX 20, four -3% sessions with VIX climbing to 40.7,
    then a small bounce with VIX closing at 36."""
    returns = [*alternating(0.006, DAYS - 6), -0.03, -0.03, -0.03, -0.03, 0.01]
    vix = [20.0] * (DAYS - 5) + [26.0, 30.0, 34.0, 40.7, 36.0]
    spy, vix_bars = market(returns, vix)
    return DETECTOR.detect_series(spy, vix_bars)


def test_a_vix_close_just_past_the_crash_threshold_is_a_crash_that_day() -> None:
    *_, before, crash_day, after = _slide_then_crash_close()
    assert before.regime is HIGH_VOL
    dd = crash_day.evidence["drawdown"]
    assert isinstance(dd, float) and dd > 0.10  # ~11% off the high in four sessions
    assert crash_day.raw is CRASH and crash_day.regime is CRASH
    assert crash_day.evidence["held_by_hysteresis"] is False
    # VIX 36 the next day reads high_vol on its own; one calmer reading is not enough.
    assert after.raw is HIGH_VOL and after.regime is CRASH
    assert (after.candidate, after.streak) == (HIGH_VOL, 1)


def test_a_spike_that_doubles_vix_in_one_session_is_high_vol_that_session() -> None:
    returns = [*alternating(0.003, DAYS - 2), -0.02]
    vix = [12.5] * (DAYS - 1) + [25.0]  # 4% past high_vol_vix: inside the old switch margin
    spy, vix_bars = market(returns, vix)
    *_, calm, spike = DETECTOR.detect_series(spy, vix_bars)
    assert calm.regime is MarketRegime.LOW_VOL
    assert spike.raw is HIGH_VOL and spike.regime is HIGH_VOL


def test_a_live_vix_quote_admits_a_crash_before_any_close_does() -> None:
    spy, vix = market(alternating(0.006), 22.0)
    daily = DETECTOR.detect(spy, vix)
    assert daily.regime is not CRASH
    live = DETECTOR.detect(spy, vix, previous=daily, vix_now=42.5)
    assert live.regime is CRASH and live.evidence["vix"] == 42.5
    assert live.evidence["vix_now"] == 42.5 and live.evidence["vix_close"] == 22.0


def test_a_live_spy_price_far_below_the_high_admits_a_crash() -> None:
    returns = [*alternating(0.004, DAYS - 3), -0.01, -0.01]
    spy, vix = market(returns, 22.0)
    daily = DETECTOR.detect(spy, vix)
    assert daily.regime is not CRASH
    last = float(spy["close"][-1])
    live = DETECTOR.detect(spy, vix, previous=daily, spy_now=last * 0.915)
    assert live.regime is CRASH, live.evidence["decided_by"]
    dd = live.evidence["drawdown"]
    assert isinstance(dd, float) and dd > 0.08
    assert "short rv" in str(live.evidence["decided_by"])


def test_live_quotes_only_ever_raise_the_danger_measures() -> None:
    spy, vix = market([*alternating(0.02, DAYS - 2), -0.02], 30.0)
    daily = DETECTOR.detect(spy, vix)
    calm_quotes = DETECTOR.detect(spy, vix, vix_now=15.0, spy_now=float(spy["close"][-1]) * 1.01)
    for key in ("vix", "rv_short", "drawdown"):
        assert calm_quotes.evidence[key] == daily.evidence[key]
    assert calm_quotes.regime is daily.regime


def test_bad_live_quotes_are_ignored_not_used() -> None:
    spy, vix = market(alternating(0.006), 22.0)
    daily = DETECTOR.detect(spy, vix)
    for bad in (float("nan"), -1.0, 0.0):
        reading = DETECTOR.detect(spy, vix, vix_now=bad, spy_now=bad)
        assert reading.regime is daily.regime and reading.evidence["vix"] == 22.0
        assert reading.evidence["vix_now"] is None


def test_the_way_down_keeps_its_hysteresis_and_does_not_flap() -> None:
    # VIX swinging 38 / 41 around the crash threshold: in at the first 41, out never.
    returns = alternating(0.02)
    vix = [30.0] * 20 + [41.0 if i % 2 == 0 else 38.0 for i in range(DAYS - 20)]
    spy, vix_bars = market(returns, vix)
    known = [r for r in DETECTOR.detect_series(spy, vix_bars) if r.known]
    regimes = [r.regime for r in known]
    flips = sum(a is not b for a, b in itertools.pairwise(regimes))
    assert regimes[-1] is CRASH and flips == 1
    assert regimes.index(CRASH) == next(i for i, r in enumerate(known) if r.raw is CRASH)


def test_a_calm_stretch_after_a_crash_is_adopted_after_confirmation() -> None:
    returns = [*alternating(0.02, 25), *alternating(0.01, DAYS - 26)]
    vix = [45.0] * 26 + [30.0] * (DAYS - 26)
    spy, vix_bars = market(returns, vix)
    readings = DETECTOR.detect_series(spy, vix_bars)
    first_calm = readings[26]
    assert first_calm.raw is HIGH_VOL and first_calm.regime is CRASH
    assert readings[27].regime is HIGH_VOL


def test_a_later_reading_of_the_same_day_never_steps_down() -> None:
    spy, vix = market(alternating(0.012), 30.0)  # rv ~19%: VIX 30 reads high_vol
    morning = DETECTOR.detect(spy, vix, vix_now=44.0)
    assert morning.regime is CRASH
    afternoon = DETECTOR.detect(spy, vix, previous=morning, vix_now=31.0)
    assert afternoon.as_of == morning.as_of
    assert afternoon.raw is HIGH_VOL and afternoon.regime is CRASH
    assert (afternoon.candidate, afternoon.streak) == (morning.candidate, morning.streak)
