"""What counts as a scored prediction, and what a regime row carries (issue 20: the variance
gaps left open by the mutation run): the report's own ``min_predictions``, a frame lacking a
column, a max risk under one dollar, and the MAE and bias of a regime's own row."""

from __future__ import annotations

import pytest

from tradelib.config import VarianceAnalysisConfig
from tradelib.variance import (
    ALL_REGIMES,
    WeightSource,
    analyze_prediction_variance,
    resolve_weights,
)
from tradelib.variance.analysis import scored_predictions

from .rows import NOW, closed, frame, many

CFG = VarianceAnalysisConfig()


def test_the_report_keeps_the_minimum_it_was_computed_with() -> None:
    cfg = VarianceAnalysisConfig(min_predictions=7)
    report = analyze_prediction_variance(frame(many(7, "short_put", 0.1)), NOW, cfg)
    assert report.min_predictions == 7
    assert report.stats("short_put").enough_data  # type: ignore[union-attr]


@pytest.mark.parametrize("lazy", [False, True], ids=["frame", "lazy frame"])
def test_a_frame_lacking_columns_is_refused_naming_them(lazy: bool) -> None:
    rows = frame([closed("short_put")]).drop("max_loss", "regime")
    with pytest.raises(
        ValueError, match=r"^prediction frame lacks column\(s\) \['regime', 'max_loss'\]$"
    ):
        scored_predictions(rows.lazy() if lazy else rows, NOW, CFG)


def test_a_lazy_frame_is_scored_like_the_frame_it_comes_from() -> None:
    rows = frame([closed("short_put", miss=0.2), closed("short_put", miss=-0.1)])
    eager = scored_predictions(rows, NOW, CFG)
    assert scored_predictions(rows.lazy(), NOW, CFG).equals(eager)
    assert eager["error"].round(9).to_list() == [0.2, -0.1]


def test_a_max_risk_under_one_dollar_is_still_scored() -> None:
    # A 50-cent max risk is small but real: a 25-cent miss is half of it.
    rows = [closed("short_put", predicted=0.1, actual=0.35, max_loss=0.5)]
    rows.append(closed("short_put", predicted=0.1, actual=0.35, max_loss=0.0))  # no risk: out
    scored = scored_predictions(frame(rows), NOW, CFG)
    assert scored.height == 1
    assert scored.select("max_loss", "error", "win").row(0) == (0.5, pytest.approx(0.5), 1.0)


def test_a_regime_row_carries_that_regime_s_own_mae_and_bias() -> None:
    # Across regimes the misses cancel (bias 0); each regime's own misses do not.
    rows = many(10, "short_put", 0.1, regime="normal") + many(
        10, "short_put", -0.3, regime="high_vol"
    )
    report = analyze_prediction_variance(frame(rows), NOW, CFG, ["short_put"])
    table = resolve_weights(report, CFG, ["short_put"], regimes=("normal", "high_vol", "crash"))

    def numbers(regime: str) -> tuple[object, ...]:
        row = table.row("short_put", regime)
        assert row is not None
        return (row.source, round(row.mae, 9), round(row.bias, 9), row.count)  # type: ignore[arg-type]

    assert numbers(ALL_REGIMES) == (WeightSource.VARIANCE, 0.2, -0.1, 20)
    assert numbers("normal") == (WeightSource.VARIANCE, 0.1, 0.1, 10)
    assert numbers("high_vol") == (WeightSource.VARIANCE, 0.3, -0.3, 10)
    assert numbers("crash") == (WeightSource.INHERITED, 0.2, -0.1, 20)  # no rows: inherited
