"""The regime detector on constructed series: each regime, its evidence, bad input, hysteresis."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import polars as pl
import pytest

from tradelib.config import RegimeDetectorConfig, TradingConfig
from tradelib.domain import MarketRegime
from tradelib.errors import RegimeInputError
from tradelib.regime import (
    EnhancedMarketRegimeDetector,
    RegimeReading,
    daily_features,
    intraday_realized_vol,
)

from .series import DAYS, START, alternating, bars, market, prices

DETECTOR = EnhancedMarketRegimeDetector.from_config(TradingConfig())


def _detect(returns: list[float], vix: float | list[float], **kw: Any) -> RegimeReading:
    spy, vix_bars = market(returns, vix)
    return DETECTOR.detect(spy, vix_bars, **kw)


# --- one constructed series per regime ---------------------------------------------------------
def test_quiet_market_with_low_vix_is_low_vol() -> None:
    reading = _detect(alternating(0.003), 12.0)
    assert reading.regime is MarketRegime.LOW_VOL
    assert reading.evidence["rv"] == pytest.approx(0.003 * 252**0.5, abs=1e-6)
    assert "VIX 12.00 <= 18" in str(reading.evidence["decided_by"])


def test_choppy_market_without_direction_is_range_bound() -> None:
    reading = _detect(alternating(0.006), 20.0)
    assert reading.regime is MarketRegime.RANGE_BOUND
    assert reading.evidence["efficiency"] == pytest.approx(0.0, abs=0.01)


def test_moderate_vix_and_some_drift_is_normal() -> None:
    reading = _detect(([0.008, -0.008, 0.008, 0.008] * 10)[:39], 20.0)
    assert reading.regime is MarketRegime.NORMAL
    er = reading.evidence["efficiency"]
    assert isinstance(er, float) and 0.2 < er < 0.6


def test_steady_climb_is_trending() -> None:
    reading = _detect([0.005, 0.003] * 19 + [0.005], 15.0)
    assert reading.regime is MarketRegime.TRENDING
    assert reading.evidence["efficiency"] == pytest.approx(1.0)
    assert reading.evidence["trend_return"] == pytest.approx(0.04)


def test_violent_swings_under_a_high_vix_are_high_vol() -> None:
    reading = _detect(alternating(0.02), 28.0)
    assert reading.regime is MarketRegime.HIGH_VOL
    assert reading.evidence["raw"] == "high_vol"


def test_realized_vol_alone_makes_high_vol_before_vix_catches_up() -> None:
    reading = _detect(alternating(0.015), 19.0)  # rv ~ 24% >= 20%
    assert reading.regime is MarketRegime.HIGH_VOL
    assert "realized vol" in str(reading.evidence["decided_by"])


def test_a_high_vix_over_a_calm_tape_is_fading_fear_not_high_vol() -> None:
    reading = _detect(alternating(0.003), 26.0)
    assert reading.regime is not MarketRegime.HIGH_VOL
    rv_iv = reading.evidence["rv_iv"]
    assert isinstance(rv_iv, float) and rv_iv < 0.25  # realized far below implied


def test_vix_above_forty_is_a_crash() -> None:
    reading = _detect(alternating(0.01), 45.0)
    assert reading.regime is MarketRegime.CRASH
    assert reading.evidence["decided_by"] == "VIX 45.00 >= crash 40"


def test_a_plunge_is_a_crash_before_vix_reaches_forty() -> None:
    returns = [*alternating(0.004, DAYS - 4), -0.05, -0.05, -0.05]
    reading = _detect(returns, 30.0)
    assert reading.regime is MarketRegime.CRASH
    assert "short rv" in str(reading.evidence["decided_by"])
    dd = reading.evidence["drawdown"]
    assert isinstance(dd, float) and dd > 0.08


def test_vix_backwardation_is_stress() -> None:
    spy, vix = market(alternating(0.004), 22.0)
    vix3m = bars([20.0] * spy.height)
    reading = DETECTOR.detect(spy, vix, vix3m_daily=vix3m)
    assert reading.regime is MarketRegime.HIGH_VOL
    assert reading.evidence["vix_term"] == pytest.approx(1.1)
    steep = DETECTOR.detect(spy, bars([30.0] * spy.height), vix3m_daily=bars([25.0] * spy.height))
    assert steep.regime is MarketRegime.CRASH


def test_evidence_names_the_thresholds_that_decided() -> None:
    reading = _detect(alternating(0.003), 12.0)
    for key in ("low_vol_vix", "high_vol_vix", "crash_vix", "confirm_readings", "vix", "rv"):
        assert key in reading.evidence
    assert 0.5 <= reading.confidence <= 1.0


# --- intraday ------------------------------------------------------------------------------------
def _intraday(size: float, n: int = 78) -> pl.DataFrame:
    day = START + timedelta(days=DAYS - 1)
    closes = prices(alternating(size, n - 1))
    return bars(closes, start=day, step=timedelta(minutes=5))


def test_intraday_realized_vol_annualises_by_the_bar_length() -> None:
    rv = intraday_realized_vol(_intraday(0.001))
    assert rv == pytest.approx(0.001 * (252 * 78) ** 0.5, rel=1e-6)


def test_a_wild_session_raises_short_realized_vol_but_a_calm_one_never_lowers_it() -> None:
    calm = _detect(alternating(0.003), 16.0)
    wild = _detect(alternating(0.003), 16.0, spy_intraday=_intraday(0.01))
    assert wild.evidence["rv_intraday"] is not None
    assert float(wild.evidence["rv_short"] or 0) > float(calm.evidence["rv_short"] or 0)
    quiet = _detect(alternating(0.01), 16.0, spy_intraday=_intraday(0.0001))
    loud = _detect(alternating(0.01), 16.0)
    assert quiet.evidence["rv_short"] == loud.evidence["rv_short"]


# --- not enough or bad data ------------------------------------------------------------------------
def test_too_few_bars_give_an_unknown_regime_with_the_reason() -> None:
    spy, vix = market(alternating(0.003, 5), 14.0)
    reading = DETECTOR.detect(spy, vix)
    assert reading.regime is None and not reading.known and reading.confidence == 0.0
    assert "need 11 daily bars" in str(reading.evidence["decided_by"])


def test_no_common_dates_give_an_unknown_regime() -> None:
    spy, _ = market(alternating(0.003), 14.0)
    vix = bars([14.0] * 5, start=START - timedelta(days=400))
    assert DETECTOR.detect(spy, vix).regime is None


def test_bad_closes_are_dropped_not_used() -> None:
    spy, vix = market(alternating(0.003), 12.0)
    spy = spy.with_columns(
        pl.when(pl.int_range(pl.len()) == 20).then(-1.0).otherwise(pl.col("close")).alias("close")
    )
    features = daily_features(spy, vix, RegimeDetectorConfig())
    assert features.height == spy.height - 1


def test_naive_timestamps_are_refused() -> None:
    spy, vix = market(alternating(0.003), 12.0)
    naive = spy.with_columns(pl.col("ts").dt.replace_time_zone(None))
    with pytest.raises(RegimeInputError, match="tz-aware"):
        DETECTOR.detect(naive, vix)
    with pytest.raises(RegimeInputError, match="no 'close' column"):
        DETECTOR.detect(spy.drop("close"), vix)


# --- hysteresis --------------------------------------------------------------------------------------
def _features(vix: float, rv: float = 0.16, er: float = 0.1, **kw: float) -> dict[str, Any]:
    row: dict[str, Any] = {
        "vix": vix,
        "rv": rv,
        "rv_short": rv,
        "efficiency": er,
        "trend_return": 0.0,
        "drawdown": 0.0,
        "vix_term": None,
    }
    row.update(kw)
    return row


def test_a_single_calmer_reading_does_not_switch() -> None:
    first = DETECTOR.step(_features(24.5), None)
    assert first.regime is MarketRegime.HIGH_VOL
    blip = DETECTOR.step(_features(23.5), first)
    assert blip.regime is MarketRegime.HIGH_VOL and blip.raw is MarketRegime.RANGE_BOUND
    assert (blip.candidate, blip.streak) == (MarketRegime.RANGE_BOUND, 1)
    assert blip.evidence["held_by_hysteresis"] is True and blip.confidence < 0.5
    back = DETECTOR.step(_features(24.5), blip)
    assert back.regime is MarketRegime.HIGH_VOL and back.candidate is None


def test_a_calmer_regime_that_persists_is_adopted_on_the_second_reading() -> None:
    first = DETECTOR.step(_features(24.5), None)
    one = DETECTOR.step(_features(23.5), first)
    two = DETECTOR.step(_features(23.5), one)
    assert two.regime is MarketRegime.RANGE_BOUND and two.candidate is None and two.streak == 0


def test_a_sideways_change_waits_for_confirmation() -> None:
    normal = DETECTOR.step(_features(20.0, er=0.3), None)
    assert normal.regime is MarketRegime.NORMAL
    trend = DETECTOR.step(_features(20.0, er=0.7, trend_return=0.05), normal)
    assert trend.raw is MarketRegime.TRENDING and trend.regime is MarketRegime.NORMAL
    again = DETECTOR.step(_features(20.0, er=0.7, trend_return=0.05), trend)
    assert again.regime is MarketRegime.TRENDING


def test_a_step_up_into_stress_switches_at_once() -> None:
    calm = DETECTOR.step(_features(14.0, rv=0.08, er=0.3), None)
    assert calm.regime is MarketRegime.LOW_VOL
    crash = DETECTOR.step(_features(48.0, rv=0.5), calm)  # 20% past the crash threshold
    assert crash.regime is MarketRegime.CRASH and crash.confidence > 0.5
    # Was: held at low_vol because 2.5% past is inside switch_margin (issue 13, item 9).
    edge = DETECTOR.step(_features(41.0, rv=0.5), calm)
    assert edge.regime is MarketRegime.CRASH and edge.candidate is None
    high = DETECTOR.step(_features(24.5), DETECTOR.step(_features(23.5), None))
    assert high.regime is MarketRegime.HIGH_VOL


def test_a_small_step_up_outside_stress_waits_unless_past_the_switch_margin() -> None:
    low = DETECTOR.step(_features(14.0, rv=0.08, er=0.3), None)
    assert low.regime is MarketRegime.LOW_VOL
    # Normal decided with a small margin below the high_vol thresholds: waits.
    near = DETECTOR.step(_features(22.0, rv=0.19, er=0.3), low)
    assert near.raw is MarketRegime.NORMAL and near.regime is MarketRegime.LOW_VOL
    # Normal far from every threshold beats switch_margin: adopted at once.
    far = DETECTOR.step(_features(19.0, rv=0.15, er=0.3), low)
    assert far.raw is MarketRegime.NORMAL and far.regime is MarketRegime.NORMAL


def test_stepping_down_from_a_crash_always_waits_for_confirmation() -> None:
    crash = DETECTOR.step(_features(50.0, rv=0.8), None)
    calm = DETECTOR.step(_features(12.0, rv=0.05, er=0.3), crash)
    assert calm.regime is MarketRegime.CRASH and calm.raw is MarketRegime.LOW_VOL


def test_noise_around_the_high_vol_threshold_does_not_flap() -> None:
    vix = [23.5 if i % 2 else 24.5 for i in range(DAYS)]
    spy, vix_bars = market(alternating(0.01), vix)
    readings = DETECTOR.detect_series(spy, vix_bars)
    known = [r for r in readings if r.known]
    raw_flips = sum(a.raw is not b.raw for a, b in itertools.pairwise(known))
    flips = sum(a.regime is not b.regime for a, b in itertools.pairwise(known))
    # In at the first high_vol reading (at most one switch), out never: no flapping.
    assert raw_flips >= len(known) - 2 and flips <= 1
    assert known[-1].regime is MarketRegime.HIGH_VOL


def test_one_confirmation_reading_means_no_hysteresis() -> None:
    eager = EnhancedMarketRegimeDetector(RegimeDetectorConfig(confirm_readings=1))
    first = eager.step(_features(24.5), None)
    assert eager.step(_features(23.5), first).regime is MarketRegime.RANGE_BOUND


def test_detect_series_gives_one_reading_per_day_starting_unknown() -> None:
    spy, vix = market(alternating(0.003), 12.0)
    readings = DETECTOR.detect_series(spy, vix)
    assert len(readings) == DAYS
    assert all(r.regime is None for r in readings[: DETECTOR.warmup - 1])
    assert readings[-1].regime is MarketRegime.LOW_VOL
    assert readings[-1].as_of == (START + timedelta(days=DAYS - 1)).date()
