"""Skew readings, skew-adjusted targets, the delta binary search and IV from snapshots."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tradelib.config import SkewConfig, TradingConfig
from tradelib.domain import Contract, OptionGreeks, Quote, Right
from tradelib.entry import OptionChain, SkewInterpretation, SmartStrikeSelector, nearest_delta_row
from tradelib.lake import Lake
from tradelib.records import option_snapshot_rows
from tradelib.stores.snapshots import get_iv_for_strike

from .chains import RATE, TODAY, TS, columns, flat, make_chain, smile

EXPIRY = TODAY + timedelta(days=35)


@pytest.fixture
def selector() -> SmartStrikeSelector:
    return SmartStrikeSelector.from_config(TradingConfig())


def test_put_iv_30pct_over_calls_reads_high_put_skew_and_raises_the_put_target(
    selector: SmartStrikeSelector,
) -> None:
    chain = make_chain(put_vol=flat(0.26), call_vol=flat(0.20))
    reading = selector.calculate_skew_ratio(chain, EXPIRY)
    assert reading.ratio == pytest.approx(1.3)
    assert reading.interpretation is SkewInterpretation.HIGH_PUT_SKEW
    assert not reading.fallback and "> 1.2" in reading.reason
    put_target, call_target = selector.adjust_target_delta_for_skew(0.16, reading)
    assert put_target == pytest.approx(0.192) and call_target == 0.16


def test_raised_target_is_capped_at_max_delta_and_never_lowered(
    selector: SmartStrikeSelector,
) -> None:
    reading = selector.calculate_skew_ratio(
        make_chain(put_vol=flat(0.26), call_vol=flat(0.20)), EXPIRY
    )
    assert selector.adjust_target_delta_for_skew(0.28, reading) == (0.30, 0.28)
    assert selector.adjust_target_delta_for_skew(0.35, reading) == (0.35, 0.35)


def test_call_iv_30pct_over_puts_reads_high_call_skew_and_raises_the_call_target(
    selector: SmartStrikeSelector,
) -> None:
    reading = selector.calculate_skew_ratio(
        make_chain(put_vol=flat(0.20), call_vol=flat(0.26)), EXPIRY
    )
    assert reading.ratio == pytest.approx(1 / 1.3)
    assert reading.interpretation is SkewInterpretation.HIGH_CALL_SKEW
    assert selector.adjust_target_delta_for_skew(0.16, reading) == (0.16, pytest.approx(0.192))
    assert selector.adjust_target_delta_for_skew(0.27, reading) == (0.27, 0.30)


def test_equal_ivs_read_neutral_and_leave_targets_alone(selector: SmartStrikeSelector) -> None:
    reading = selector.calculate_skew_ratio(make_chain(put_vol=flat(0.2)), EXPIRY)
    assert reading.ratio == pytest.approx(1.0)
    assert reading.interpretation is SkewInterpretation.NEUTRAL
    assert selector.adjust_target_delta_for_skew(0.16, reading) == (0.16, 0.16)


def test_ratio_is_read_at_the_matching_delta_not_at_one_strike(
    selector: SmartStrikeSelector,
) -> None:
    # A smile: IV differs per strike, so the ratio depends on where each side is read.
    chain = make_chain(put_vol=smile(0.20, 0.6))
    reading = selector.calculate_skew_ratio(chain, EXPIRY)
    exp = chain.expiry(EXPIRY)
    put = selector.find_strike(exp, Right.PUT, 0.25)
    call = selector.find_strike(exp, Right.CALL, 0.25)
    assert put is not None and call is not None
    assert reading.put_iv == pytest.approx(put.iv, abs=0.005)
    assert reading.call_iv == pytest.approx(call.iv, abs=0.005)
    assert reading.ratio > 1.0


def test_no_iv_at_all_falls_back_to_a_neutral_one_and_says_why(
    selector: SmartStrikeSelector,
) -> None:
    cols = columns(EXPIRY, greeks=False)
    cols["bid"] = cols["ask"] = np.full(cols["bid"].shape, np.nan)  # nothing to solve IV from
    chain = OptionChain.from_arrays("SPY", 100.0, TS, RATE, {EXPIRY: cols})
    reading = selector.calculate_skew_ratio(chain, EXPIRY)
    assert reading.ratio == 1.0 and reading.fallback
    assert reading.interpretation is SkewInterpretation.NEUTRAL
    assert "no usable IV" in reading.reason and "no put with both IV and delta" in reading.reason
    assert selector.adjust_target_delta_for_skew(0.16, reading) == (0.16, 0.16)
    assert selector.find_strike(chain.expiry(EXPIRY), Right.PUT, 0.16) is None


def test_matching_delta_outside_the_listed_range_falls_back(selector: SmartStrikeSelector) -> None:
    # Only far-OTM calls listed: call |delta| never reaches 0.25.
    chain = make_chain(strikes=np.arange(60.0, 101.0))
    exp = chain.expiry(EXPIRY)
    keep = ~exp.is_call | (exp.strike >= 100)
    cols = {
        name: getattr(exp, name)[keep]
        for name in ("strike", "is_call", "bid", "ask", "iv", "delta", "gamma", "theta", "vega")
    }
    cols["strike"] = np.where(cols["is_call"], cols["strike"] + 15, cols["strike"])
    cols["delta"] = np.where(cols["is_call"], 0.01, cols["delta"])
    thin = OptionChain.from_arrays("SPY", 100.0, TS, RATE, {EXPIRY: cols})
    reading = selector.calculate_skew_ratio(thin, EXPIRY)
    assert reading.fallback and "call |delta| spans" in reading.reason


def test_missing_broker_greeks_are_solved_from_mids_and_find_the_same_strike(
    selector: SmartStrikeSelector,
) -> None:
    with_greeks = make_chain(put_vol=smile(0.2, 0.5), width=0.0)
    without = make_chain(put_vol=smile(0.2, 0.5), width=0.0, greeks=False)
    a, b = with_greeks.expiry(EXPIRY), without.expiry(EXPIRY)
    assert not a.model_greeks.any() and b.model_greeks.sum() > 100
    for right in Right:
        pa = selector.find_strike(a, right, 0.16)
        pb = selector.find_strike(b, right, 0.16)
        assert pa is not None and pb is not None
        assert pb.model_greeks and pa.strike == pb.strike
        assert pb.delta == pytest.approx(pa.delta, abs=1e-3)


@pytest.mark.parametrize("seed", range(40))
def test_binary_search_finds_the_strike_a_brute_force_scan_finds(seed: int) -> None:
    rng = np.random.default_rng(seed)
    spot = float(rng.uniform(50, 500))
    steps = np.sort(rng.uniform(0.3, 0.7 * spot, rng.integers(5, 300)))
    strikes = np.unique(np.round(steps + 0.15 * spot, 1))
    chain = make_chain(
        spot=spot,
        strikes=strikes,
        dtes=(int(rng.integers(1, 120)),),
        put_vol=smile(float(rng.uniform(0.1, 0.6)), float(rng.uniform(0, 0.8)), spot),
    )
    exp = chain.expiries[0]
    sel = SmartStrikeSelector(SkewConfig(), 0.16)
    for right in Right:
        side = exp.side(right)
        abs_delta = np.abs(exp.delta[side])
        for target in rng.uniform(0.01, 0.6, 5):
            pick = sel.find_strike(exp, right, float(target))
            assert pick is not None
            best = np.min(np.abs(abs_delta[np.isfinite(abs_delta)] - target))
            assert abs(abs(pick.delta) - target) == pytest.approx(best, abs=1e-15)
            assert pick.right is right and exp.strike[pick.row] == pick.strike


def test_nearest_delta_row_edges() -> None:
    d = np.array([0.05, 0.10, 0.20, 0.40])
    assert nearest_delta_row(d, 0.0) == 0
    assert nearest_delta_row(d, 0.9) == 3
    assert nearest_delta_row(d, 0.15) == 1  # a tie goes to the lower delta
    assert nearest_delta_row(d, 0.16) == 2
    assert nearest_delta_row(np.array([]), 0.16) is None


def _snapshot_rows() -> pl.DataFrame:
    base = {"underlying": "SPY", "expiry": EXPIRY, "strike": 95.0, "right": "P"}
    rows = [
        {**base, "ts": TS - timedelta(minutes=10), "iv": 0.21},
        {**base, "ts": TS - timedelta(minutes=5), "iv": 0.22},
        {**base, "ts": TS - timedelta(minutes=1), "iv": None},  # no IV: skipped
        {**base, "ts": TS + timedelta(minutes=5), "iv": 0.30},  # after as_of: never seen
        {**base, "right": "C", "ts": TS, "iv": 0.18},
    ]
    return pl.DataFrame(rows, schema_overrides={"ts": pl.Datetime("us", "UTC")})


def test_iv_for_strike_is_the_latest_finite_iv_at_or_before_as_of() -> None:
    frame = _snapshot_rows()
    assert get_iv_for_strike(frame, "SPY", EXPIRY, 95, Right.PUT, TS) == 0.22
    assert get_iv_for_strike(frame.lazy(), "SPY", EXPIRY, 95, "C", TS) == 0.18
    assert get_iv_for_strike(frame, "SPY", EXPIRY, 96, "P", TS) is None
    assert get_iv_for_strike(frame, "SPY", EXPIRY, 95, "P", TS - timedelta(hours=1)) is None


def test_iv_for_strike_reads_the_option_snapshots_table(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    chain_quotes = _quotes_for_lake()
    lake.append("option_snapshots", option_snapshot_rows(chain_quotes, TS))
    iv = get_iv_for_strike(lake, "SPY", EXPIRY, 95.0, Right.PUT, TS)
    assert iv == pytest.approx(0.25)


def _quotes_for_lake() -> list[Quote]:
    c = Contract.option("SPY", EXPIRY, 95.0, Right.PUT)
    return [Quote(c, TS, 1.0, 1.1, greeks=OptionGreeks(-0.3, 0.01, -0.02, 0.1, 0.25))]
