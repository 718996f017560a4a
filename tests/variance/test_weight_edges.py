"""The weight formula where each of its bounds decides: the penalty cap, the floor, the scale.

With the defaults (cap 0.5, floor 0.5) the cap and the floor give the same answer, so
these scenarios use a cap below ``1 - min_weight``: only then can a missing cap show.
"""

from __future__ import annotations

import pytest

from tradelib.config import VarianceAnalysisConfig
from tradelib.variance import analyze_prediction_variance, weight_from_mae

from .rows import NOW, frame, many

# The penalty stops at 0.3, so no strategy falls under 0.7; the 0.5 floor is never reached.
CAPPED = VarianceAnalysisConfig(mae_scale=0.4, min_weight=0.5, max_penalty=0.3)


@pytest.mark.parametrize(
    ("mae", "weight"),
    [
        (0.0, 1.0),
        (0.08, 0.8),  # 1 - 0.2: under the cap, the scale decides
        (0.12, 0.7),  # 0.12 / 0.4 == 0.3: exactly the cap
        (0.2, 0.7),  # 0.5 would be the penalty: the cap decides, not the 0.5 floor
        (2.0, 0.7),  # however large the miss
    ],
)
def test_the_max_penalty_cap_decides_when_it_is_under_one_minus_the_floor(
    mae: float, weight: float
) -> None:
    assert weight_from_mae(mae, CAPPED) == pytest.approx(weight)


def test_a_strategy_that_misses_badly_keeps_the_capped_weight_in_the_report() -> None:
    rows = many(CAPPED.min_predictions, "short_strangle", -0.8)  # mae 0.8: penalty 2.0
    stats = analyze_prediction_variance(frame(rows), NOW, CAPPED).stats("short_strangle")
    assert stats is not None and stats.enough_data
    assert stats.mae == pytest.approx(0.8)
    assert stats.weight == pytest.approx(0.7)


def test_the_floor_decides_when_it_is_above_one_minus_the_cap() -> None:
    floor = VarianceAnalysisConfig(mae_scale=0.4, min_weight=0.8, max_penalty=0.5)
    assert weight_from_mae(0.04, floor) == pytest.approx(0.9)  # 1 - 0.1
    assert weight_from_mae(0.08, floor) == pytest.approx(0.8)  # 1 - 0.2: exactly the floor
    assert weight_from_mae(0.16, floor) == pytest.approx(0.8)  # 1 - 0.4 < floor
