"""The skew ratio read between listed strikes: IVs interpolated linearly in |delta|, by hand.

The chains here are written row by row (deltas and IVs chosen, not priced), so every
expected number below is arithmetic on the table in the test.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest

from tradelib.config import TradingConfig
from tradelib.domain import Right
from tradelib.entry import OptionChain, SkewInterpretation, SmartStrikeSelector, nearest_delta_row

from .chains import RATE, TODAY, TS

EXPIRY = TODAY + timedelta(days=35)
STRIKES = [90.0, 95.0, 100.0, 105.0, 110.0]


def _chain(
    put_delta: list[float], put_iv: list[float], call_delta: list[float], call_iv: list[float]
) -> OptionChain:
    n = len(STRIKES)
    iv = np.array(put_iv + call_iv)
    # A row without an IV also gets no quote, so the chain cannot solve one from its mid.
    quoted = np.where(np.isfinite(iv) & (iv > 0), 1.0, math.nan)
    cols = {
        "strike": np.array(STRIKES * 2),
        "is_call": np.array([False] * n + [True] * n),
        "bid": quoted,
        "ask": quoted + 0.1,
        "iv": iv,
        "delta": np.array(put_delta + call_delta),
        "gamma": np.full(2 * n, 0.01),
        "theta": np.full(2 * n, -0.01),
        "vega": np.full(2 * n, 0.1),
        "open_interest": np.full(2 * n, 1000.0),
    }
    return OptionChain.from_arrays("SPY", 100.0, TS, RATE, {EXPIRY: cols})


PUT_DELTA = [-0.05, -0.15, -0.35, -0.60, -0.85]  # |delta| rises with the strike
CALL_DELTA = [0.85, 0.60, 0.35, 0.15, 0.05]  # falls with the strike


def _selector() -> SmartStrikeSelector:
    return SmartStrikeSelector.from_config(TradingConfig())  # matching |delta| 0.25


def test_ivs_are_interpolated_between_the_strikes_that_bracket_the_matching_delta() -> None:
    # puts: |delta| 0.15 (IV 0.30) .. 0.35 (IV 0.20): at 0.25 halfway, 0.25
    # calls: |delta| 0.15 (IV 0.24) .. 0.35 (IV 0.16): at 0.25 halfway, 0.20
    chain = _chain(
        PUT_DELTA, [0.40, 0.30, 0.20, 0.18, 0.17], CALL_DELTA, [0.15, 0.15, 0.16, 0.24, 0.30]
    )
    reading = _selector().calculate_skew_ratio(chain, EXPIRY)
    assert (reading.put_iv, reading.call_iv) == (pytest.approx(0.25), pytest.approx(0.20))
    assert reading.ratio == pytest.approx(1.25)
    assert reading.interpretation is SkewInterpretation.HIGH_PUT_SKEW and not reading.fallback


def test_a_quarter_of_the_way_weights_the_nearer_strike_three_to_one() -> None:
    # puts: 0.20 .. 0.40 around 0.25: a quarter of the way, 0.30 + 0.25 x (0.22 - 0.30)
    chain = _chain(
        [-0.05, -0.20, -0.40, -0.60, -0.85],
        [0.40, 0.30, 0.22, 0.18, 0.17],
        [0.85, 0.60, 0.40, 0.20, 0.05],
        [0.15, 0.15, 0.20, 0.20, 0.30],
    )
    reading = _selector().calculate_skew_ratio(chain, EXPIRY)
    assert reading.put_iv == pytest.approx(0.28)
    assert reading.call_iv == pytest.approx(0.20)
    assert reading.ratio == pytest.approx(1.4)


def test_a_listed_strike_exactly_at_the_matching_delta_gives_its_own_iv() -> None:
    chain = _chain(
        [-0.05, -0.15, -0.25, -0.60, -0.85],
        [0.40, 0.33, 0.30, 0.18, 0.17],
        [0.85, 0.60, 0.25, 0.15, 0.05],
        [0.15, 0.15, 0.25, 0.24, 0.30],
    )
    reading = _selector().calculate_skew_ratio(chain, EXPIRY)
    assert (reading.put_iv, reading.call_iv, reading.ratio) == (0.30, 0.25, 1.2)
    assert not reading.fallback and reading.interpretation is SkewInterpretation.NEUTRAL
    assert reading.reason == (
        "put IV 0.3000 / call IV 0.2500 at |delta| 0.25 = 1.200 within [0.8, 1.2]"
    )
    assert (reading.expiry, reading.matching_delta) == (EXPIRY, 0.25)


def test_rows_without_a_usable_iv_are_skipped_not_interpolated_through() -> None:
    # The put at |delta| 0.35 has no IV and the one at 0.60 a zero IV: the bracket is
    # 0.15 (0.30) .. 0.85 (0.16), 1/7 of the way: 0.30 - 0.02 = 0.28.
    chain = _chain(
        PUT_DELTA,
        [0.40, 0.30, math.nan, 0.0, 0.16],
        CALL_DELTA,
        [0.20, 0.20, 0.20, 0.20, 0.20],
    )
    reading = _selector().calculate_skew_ratio(chain, EXPIRY)
    assert reading.put_iv == pytest.approx(0.28)
    assert reading.ratio == pytest.approx(1.4)


def test_a_side_whose_deltas_do_not_reach_the_matching_delta_falls_back_to_neutral() -> None:
    # Calls only from |delta| 0.30 up: 0.25 is outside what is listed.
    chain = _chain(
        PUT_DELTA,
        [0.40, 0.30, 0.20, 0.18, 0.17],
        [0.90, 0.80, 0.60, 0.45, 0.30],
        [0.15, 0.15, 0.16, 0.24, 0.30],
    )
    reading = _selector().calculate_skew_ratio(chain, EXPIRY)
    assert reading.fallback and reading.ratio == 1.0
    assert reading.interpretation is SkewInterpretation.NEUTRAL
    assert reading.reason == "no usable IV, neutral 1.0: call |delta| spans 0.300-0.900, not 0.25"
    assert reading.put_iv == pytest.approx(0.25) and math.isnan(reading.call_iv)


def test_a_side_with_no_iv_at_all_says_which_side() -> None:
    nan5 = [math.nan] * 5
    chain = _chain(PUT_DELTA, nan5, CALL_DELTA, [0.2] * 5)
    reading = _selector().calculate_skew_ratio(chain, EXPIRY)
    assert reading.fallback and reading.reason.endswith("no put with both IV and delta")


def test_both_sides_without_iv_name_both_problems() -> None:
    nan5 = [math.nan] * 5
    reading = _selector().calculate_skew_ratio(_chain(PUT_DELTA, nan5, CALL_DELTA, nan5), EXPIRY)
    assert reading.reason == (
        "no usable IV, neutral 1.0: no put with both IV and delta; no call with both IV and delta"
    )
    assert (reading.expiry, reading.matching_delta, reading.ratio) == (EXPIRY, 0.25, 1.0)


def test_select_strikes_uses_the_configured_target_unless_given_one() -> None:
    chain = _chain(PUT_DELTA, [0.2] * 5, CALL_DELTA, [0.2] * 5)  # neutral
    selector = _selector()
    assert selector.target_delta == TradingConfig().strategies.target_delta == 0.16
    picked = selector.select_strikes(chain.expiry(EXPIRY))
    assert (picked.expiry, picked.put_target, picked.call_target) == (EXPIRY, 0.16, 0.16)
    assert picked.put is not None and picked.call is not None
    assert (picked.put.right, picked.put.strike, picked.put.target_delta) == (Right.PUT, 95.0, 0.16)
    assert (picked.call.right, picked.call.strike) == (Right.CALL, 105.0)
    wider = selector.select_strikes(chain.expiry(EXPIRY), base_delta=0.35)
    assert (wider.put_target, wider.call_target) == (0.35, 0.35)
    assert wider.put is not None and wider.put.strike == 100.0


def test_a_target_exactly_between_two_deltas_takes_the_lower_delta() -> None:
    deltas = np.array([0.125, 0.375])
    assert nearest_delta_row(deltas, 0.25) == 0
    assert nearest_delta_row(deltas, 0.25 + 1e-9) == 1
