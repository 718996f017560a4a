"""Intraday paths bridged through open, high, low and close."""

from __future__ import annotations

import numpy as np
import pytest

from tradelib.backtest.history.bridge import bridge_path


@pytest.mark.parametrize("seed", range(20))
def test_path_reproduces_the_days_ohlc_exactly(seed: int) -> None:
    rng = np.random.default_rng(seed)
    o, h, lo, c = 100.0, 103.0, 98.5, 101.0
    path = bridge_path(o, h, lo, c, 390, rng)
    assert path.size == 391
    assert path[0] == o and path[-1] == c
    assert path.max() == h and path.min() == lo


def test_up_day_dips_first_and_down_day_peaks_first() -> None:
    up = bridge_path(100.0, 103.0, 98.0, 102.0, 390, np.random.default_rng(1))
    down = bridge_path(100.0, 103.0, 98.0, 99.0, 390, np.random.default_rng(1))
    assert np.argmin(up) < np.argmax(up)
    assert np.argmax(down) < np.argmin(down)


def test_same_seed_same_path_other_seed_other_path() -> None:
    a = bridge_path(100.0, 101.0, 99.0, 100.5, 390, np.random.default_rng(7))
    b = bridge_path(100.0, 101.0, 99.0, 100.5, 390, np.random.default_rng(7))
    c = bridge_path(100.0, 101.0, 99.0, 100.5, 390, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_path_moves_between_minutes() -> None:
    path = bridge_path(100.0, 101.0, 99.0, 100.5, 390, np.random.default_rng(3))
    assert np.count_nonzero(np.diff(path)) > 300


def test_flat_day_is_flat() -> None:
    path = bridge_path(50.0, 50.0, 50.0, 50.0, 390, np.random.default_rng(0))
    assert np.all(path == 50.0)
