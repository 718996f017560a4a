"""Simulated market prices: determinism, regimes, lead/lag, correlations, history and VIX."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from tradelib.errors import ContractError
from tradelib.markethours import NEW_YORK
from tradelib.sim import SimMarketConfig, SimRegime, SimulatedMarket

START = datetime(2026, 11, 20, 9, 45, tzinfo=NEW_YORK).astimezone(UTC)  # a Friday
SYMBOLS = ("SPY", "QQQ", "IWM", "VIX", "ES", "NQ", "RTY")


def market(**overrides: object) -> SimulatedMarket:
    return SimulatedMarket(SimMarketConfig(start=START, **overrides))  # type: ignore[arg-type]


def snapshot(m: SimulatedMarket, when: list[datetime]) -> list[tuple[object, ...]]:
    return [(*(m.spot(s, ts) for s in SYMBOLS), m.regime(ts)) for ts in when]


def test_same_seed_gives_identical_prices_whether_advanced_in_one_step_or_many() -> None:
    horizon = timedelta(days=3, hours=5)
    probes = [START + timedelta(minutes=m) for m in (0, 17, 400, 1500, 2900, 4000, 4610)]
    one = market()
    one.advance(horizon.total_seconds())
    many = market()
    rng = np.random.default_rng(0)
    while many.now() < START + horizon:
        step = min(float(rng.uniform(1, 20_000)), (START + horizon - many.now()).total_seconds())
        many.advance(step)
        many.spot("SPY")  # touch the market along the way
    # Query in opposite orders: the answer must not depend on the path taken.
    assert snapshot(one, probes) == snapshot(many, probes[::-1])[::-1]
    expiry = one.expiries("SPY")[5]
    assert np.array_equal(one.option_chain("SPY", expiry).mid, many.option_chain("SPY", expiry).mid)


def test_different_seeds_give_different_paths() -> None:
    a, b = market(seed=1), market(seed=2)
    a.advance(3600)
    b.advance(3600)
    assert a.spot("SPY") != b.spot("SPY")
    assert a.spot("ES") != b.spot("ES")


def test_initial_prices_are_realistic_late_2026_levels() -> None:
    m = market()
    assert m.spot("SPY") == pytest.approx(600, rel=0.05)
    assert m.spot("QQQ") == pytest.approx(520, rel=0.06)
    assert m.spot("IWM") == pytest.approx(225, rel=0.07)
    assert m.spot("ES") / m.spot("SPY") == pytest.approx(10.0, rel=0.01)
    assert m.spot("NQ") / m.spot("QQQ") == pytest.approx(41.0, rel=0.01)
    assert 9 < m.spot("VIX") < 40


def test_futures_lead_spot_by_the_configured_seconds() -> None:
    for lead in (2.0, 5.0):
        m = market(futures_lead_s=lead, forced_regime=SimRegime.HIGH_VOL)
        m.advance(6 * 3600)
        start, end = START, m.now()
        fut = m.bars("ES", start, end, 1).select("ts", pl.col("close").alias("f"))
        spot = m.bars("SPY", start, end, 1).select("ts", pl.col("close").alias("s"))
        both = fut.join(spot, on="ts").sort("ts")
        rf = np.diff(np.log(both["f"].to_numpy()))
        rs = np.diff(np.log(both["s"].to_numpy()))
        lags = range(-8, 9)
        xcorr = [np.corrcoef(rf[8 - k : len(rf) - 8 - k], rs[8 : len(rs) - 8])[0, 1] for k in lags]
        assert list(lags)[int(np.argmax(xcorr))] == round(lead)
        assert max(xcorr) > 0.2


def test_overnight_futures_move_and_spot_opens_near_the_futures_implied_level() -> None:
    m = market()
    close = datetime(2026, 11, 20, 16, 0, tzinfo=NEW_YORK).astimezone(UTC)
    sunday_night = datetime(2026, 11, 23, 2, 0, tzinfo=NEW_YORK).astimezone(UTC)
    monday_open = datetime(2026, 11, 23, 9, 30, 5, tzinfo=NEW_YORK).astimezone(UTC)
    m.advance_to(monday_open)
    assert m.spot("ES", sunday_night) != m.spot("ES", close - timedelta(seconds=1))
    # Outside the session an ETF shows its last close.
    assert m.spot("SPY", sunday_night) == m.spot("SPY", close - timedelta(seconds=1))
    basis = m.spot("ES", close - timedelta(seconds=1)) / m.spot("SPY", close - timedelta(seconds=1))
    implied_open = m.spot("ES", monday_open - timedelta(seconds=3)) / basis
    assert m.spot("SPY", monday_open) == pytest.approx(implied_open, rel=5e-4)


def test_daily_return_correlations_over_history_match_the_targets() -> None:
    m = market(history_days=750)
    closes = {
        s: m.bars(s, START - timedelta(days=1200), START, 86_400)["close"].to_numpy()
        for s in ("SPY", "QQQ", "IWM")
    }
    r = {s: np.diff(np.log(c)) for s, c in closes.items()}
    assert len(r["SPY"]) >= 740
    assert np.corrcoef(r["SPY"], r["QQQ"])[0, 1] == pytest.approx(0.90, abs=0.05)
    assert np.corrcoef(r["SPY"], r["IWM"])[0, 1] == pytest.approx(0.80, abs=0.06)
    # QQQ and IWM carry higher beta.
    assert np.std(r["QQQ"]) > np.std(r["SPY"]) and np.std(r["IWM"]) > np.std(r["SPY"])


def test_regimes_switch_at_most_a_few_times_a_day() -> None:
    m = market(history_days=500)
    m.advance(5 * 86_400)
    hourly = [m.regime(START + timedelta(hours=h)) for h in range(5 * 24)]
    switches = sum(a != b for a, b in itertools.pairwise(hourly))
    assert switches <= 10
    history = m.bars("SPY", START - timedelta(days=800), START, 86_400)
    assert history.height >= 490
    seen = {m.regime(ts) for ts in history["ts"].to_list()}
    assert len(seen) >= 3  # the chain visits several regimes over two years


def test_vix_sits_in_each_regimes_band() -> None:
    bands = {
        SimRegime.CALM: (11, 17),
        SimRegime.HIGH_VOL: (19, 32),
        SimRegime.CRASH: (33, 62),
    }
    for regime, (lo, hi) in bands.items():
        m = market(forced_regime=regime)
        m.advance(3 * 86_400)
        assert lo < m.spot("VIX") < hi, regime
        assert m.regime() is regime


def test_crash_realises_far_more_vol_than_calm() -> None:
    def realised(regime: SimRegime) -> float:
        m = market(forced_regime=regime, history_days=120)
        closes = m.bars("SPY", START - timedelta(days=200), START, 86_400)["close"].to_numpy()
        return float(np.std(np.diff(np.log(closes))) * np.sqrt(252))

    calm, crash = realised(SimRegime.CALM), realised(SimRegime.CRASH)
    assert 0.07 < calm < 0.16
    assert crash > 0.45


def test_bars_exist_before_start_daily_in_history_and_intraday_for_the_start_session() -> None:
    m = market()
    daily = m.bars("SPY", START - timedelta(days=200), START, 86_400)
    assert daily.height == 91  # 90 days of history + the start session so far
    assert daily["ts"].dtype == pl.Datetime("us", "UTC")
    assert (daily["high"] >= daily["low"]).all() and (daily["volume"] > 0).all()
    session_open = datetime(2026, 11, 20, 9, 30, tzinfo=NEW_YORK).astimezone(UTC)
    minutes = m.bars("SPY", START - timedelta(days=3), START + timedelta(hours=1), 60)
    assert minutes["ts"][0] == session_open
    assert minutes["ts"][-1] == START  # capped at now: no look-ahead
    assert m.bars("SPY", START - timedelta(days=30), START - timedelta(days=29), 60).is_empty()
    vix = m.bars("VIX", START - timedelta(days=30), START, 86_400)
    assert vix.height > 15 and (vix["volume"] == 0).all()
    es = m.bars("ES", START - timedelta(days=10), START, 86_400)
    assert es["close"][-2] == pytest.approx(10 * daily["close"][-2], rel=0.01)


def test_intraday_bars_aggregate_the_one_second_path() -> None:
    m = market()
    m.advance(3600)
    secs = m.bars("QQQ", START, m.now(), 1)
    fives = m.bars("QQQ", START, m.now(), 300)
    first = secs.filter(pl.col("ts") < START + timedelta(minutes=5))
    assert fives["open"][0] == first["open"][0]
    assert fives["close"][0] == first["close"][-1]
    assert fives["high"][0] == first["high"].max()
    assert fives["volume"][0] == first["volume"].sum()


def test_the_market_never_goes_backwards_or_looks_ahead() -> None:
    m = market()
    m.advance(60)
    with pytest.raises(ValueError, match="never goes backwards"):
        m.advance_to(START)
    with pytest.raises(ValueError, match="seconds must be >= 0"):
        m.advance(-1)
    with pytest.raises(ValueError, match="no look-ahead"):
        m.spot("SPY", m.now() + timedelta(seconds=1))
    with pytest.raises(ValueError, match="ts must be timezone-aware"):
        m.spot("SPY", datetime(2026, 11, 20, 15))


def test_unknown_symbols_are_contract_errors_naming_them() -> None:
    m = market(underlyings=("SPY",), futures=("ES",))
    with pytest.raises(ContractError, match="unknown symbol 'AAPL'"):
        m.spot("AAPL")
    with pytest.raises(ContractError, match="unknown symbol 'QQQ'"):
        m.quote("QQQ")
    with pytest.raises(ContractError, match="not a futures root"):
        m.futures_contract("SPY")


def test_bad_config_is_refused_by_field_name() -> None:
    with pytest.raises(ValueError, match="underlyings"):
        SimMarketConfig(underlyings=("SPY", "TSLA"))
    with pytest.raises(ValueError, match="start must be timezone-aware"):
        SimMarketConfig(start=datetime(2026, 11, 20, 14, 45))
    with pytest.raises(ValueError, match="regime_transitions_per_hour"):
        SimMarketConfig(regime_transitions_per_hour=((1.0,),))
