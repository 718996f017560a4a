"""Returns, betas and correlated groups from constructed price series."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from tradelib.errors import RiskInputError
from tradelib.risk import correlated_groups, correlations, daily_returns, estimate_betas

from .conftest import T0


def _returns(**series: list[float]) -> pl.DataFrame:
    n = len(next(iter(series.values())))
    dates = [(T0 + timedelta(days=i)).date() for i in range(n)]
    return pl.DataFrame({"date": dates, **series})


def test_underlyings_that_move_together_form_one_group() -> None:
    rng = np.random.default_rng(3)
    market = rng.normal(0, 0.01, 60)
    returns = _returns(
        SPY=list(market),
        QQQ=list(1.2 * market + rng.normal(0, 0.002, 60)),  # corr ~0.99 with SPY
        IWM=list(0.9 * market + rng.normal(0, 0.004, 60)),  # corr ~0.9
        GLD=list(rng.normal(0, 0.01, 60)),  # unrelated
    )
    corr = correlations(returns)
    assert corr[("SPY", "QQQ")] > 0.95 and abs(corr[("SPY", "GLD")]) < 0.3
    groups = correlated_groups(corr, threshold=0.7)
    assert frozenset({"SPY", "QQQ", "IWM"}) in groups
    assert frozenset({"GLD"}) in groups


def test_groups_chain_through_a_shared_member() -> None:
    corr = {("A", "B"): 0.8, ("B", "A"): 0.8, ("B", "C"): 0.75, ("C", "B"): 0.75,
            ("A", "C"): 0.5, ("C", "A"): 0.5}  # fmt: skip
    assert correlated_groups(corr, 0.7) == (frozenset({"A", "B", "C"}),)
    assert correlated_groups(corr, 0.78) == (frozenset({"A", "B"}), frozenset({"C"}))


def test_beta_is_covariance_over_benchmark_variance() -> None:
    spy = [0.01, -0.02, 0.015, 0.0, -0.005, 0.02]
    returns = _returns(SPY=spy, QQQ=[1.3 * r for r in spy], TLT=[-0.5 * r for r in spy])
    betas = estimate_betas(returns, "SPY")
    assert betas == pytest.approx({"SPY": 1.0, "QQQ": 1.3, "TLT": -0.5})


def test_daily_returns_use_the_last_close_of_each_new_york_day_on_common_days() -> None:
    ts = [T0, T0 + timedelta(hours=3), T0 + timedelta(days=1), T0 + timedelta(days=2)]
    spy = pl.DataFrame({"ts": ts, "close": [100.0, 101.0, 103.02, 101.9898]})
    qqq = pl.DataFrame({"ts": ts[1:], "close": [50.0, 51.0, 52.02]})
    frame = daily_returns({"SPY": spy, "QQQ": qqq})
    assert frame.columns == ["date", "SPY", "QQQ"]
    assert frame["SPY"].to_list() == pytest.approx([0.02, -0.01])
    assert frame["QQQ"].to_list() == pytest.approx([0.02, 0.02])


def test_too_little_history_is_an_error() -> None:
    with pytest.raises(RiskInputError, match="at least 2"):
        estimate_betas(_returns(SPY=[0.01], QQQ=[0.02]))
