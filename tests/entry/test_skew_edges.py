"""Skew exactly on its configured edges: 1.2 and 0.8 are still neutral, a hair past them is not.

Flat IVs on each side make the interpolated IVs exact, so the ratio lands on the
threshold itself (0.30 / 0.25 == 1.2 and 0.20 / 0.25 == 0.8 in binary floating point).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tradelib.config import TradingConfig
from tradelib.entry import SkewInterpretation, SmartStrikeSelector

from .chains import TODAY, flat, make_chain

EXPIRY = TODAY + timedelta(days=35)
CALL_IV = 0.25


def _reading(put_iv: float) -> tuple[float, SkewInterpretation, tuple[float, float]]:
    selector = SmartStrikeSelector.from_config(TradingConfig())
    chain = make_chain(put_vol=flat(put_iv), call_vol=flat(CALL_IV))
    reading = selector.calculate_skew_ratio(chain, EXPIRY)
    return (
        reading.ratio,
        reading.interpretation,
        selector.adjust_target_delta_for_skew(0.16, reading),
    )


def test_a_ratio_of_exactly_1_2_is_not_yet_high_put_skew() -> None:
    ratio, kind, targets = _reading(0.30)
    assert ratio == 1.2  # on the threshold, not near it
    assert kind is SkewInterpretation.NEUTRAL
    assert targets == (0.16, 0.16)


def test_a_ratio_just_over_1_2_is_high_put_skew_and_raises_the_put_target() -> None:
    ratio, kind, (put_target, call_target) = _reading(0.3001)
    assert ratio == pytest.approx(1.2004)
    assert kind is SkewInterpretation.HIGH_PUT_SKEW
    assert put_target == pytest.approx(0.192) and call_target == 0.16


def test_a_ratio_just_under_1_2_stays_neutral() -> None:
    ratio, kind, targets = _reading(0.2999)
    assert ratio == pytest.approx(1.1996)
    assert kind is SkewInterpretation.NEUTRAL and targets == (0.16, 0.16)


def test_a_ratio_of_exactly_0_8_is_not_yet_high_call_skew() -> None:
    ratio, kind, targets = _reading(0.20)
    assert ratio == 0.8
    assert kind is SkewInterpretation.NEUTRAL
    assert targets == (0.16, 0.16)


def test_a_ratio_just_under_0_8_is_high_call_skew_and_raises_the_call_target() -> None:
    ratio, kind, (put_target, call_target) = _reading(0.1999)
    assert ratio == pytest.approx(0.7996)
    assert kind is SkewInterpretation.HIGH_CALL_SKEW
    assert put_target == 0.16 and call_target == pytest.approx(0.192)


def test_a_ratio_just_over_0_8_stays_neutral() -> None:
    ratio, kind, targets = _reading(0.2001)
    assert ratio == pytest.approx(0.8004)
    assert kind is SkewInterpretation.NEUTRAL and targets == (0.16, 0.16)


def test_the_raise_is_capped_exactly_at_max_delta() -> None:
    # 0.25 x 1.2 = 0.30: exactly the cap, kept; 0.26 x 1.2 = 0.312: cut back to 0.30.
    selector = SmartStrikeSelector.from_config(TradingConfig())
    reading = selector.calculate_skew_ratio(
        make_chain(put_vol=flat(0.33), call_vol=flat(CALL_IV)), EXPIRY
    )
    assert reading.interpretation is SkewInterpretation.HIGH_PUT_SKEW
    assert selector.adjust_target_delta_for_skew(0.25, reading) == (pytest.approx(0.30), 0.25)
    assert selector.adjust_target_delta_for_skew(0.26, reading) == (0.30, 0.26)
    assert selector.adjust_target_delta_for_skew(0.30, reading) == (0.30, 0.30)
