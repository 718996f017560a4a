"""mix_hash: a few elements hashed in Python integers give the numpy path's bits."""

from __future__ import annotations

import numpy as np
import pytest

from tradelib.sim import surface


@pytest.mark.parametrize(
    "parts",
    [
        (7, np.array([123456789], dtype=np.int64), 1_790_000_000, np.arange(2)[:, None]),
        (7, np.array([2**62, -5, 0], dtype=np.int64), 740_000),
        (np.array([3, 4], dtype=np.uint64), np.array([True, False])),
        (-1, np.array([[1, 2], [3, 4]], dtype=np.int32), 2**63 - 1),
    ],
)
def test_small_inputs_hash_to_the_same_bits(
    parts: tuple[object, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = surface.mix_hash(*parts)  # type: ignore[arg-type]
    monkeypatch.setattr(surface, "_SMALL", 0)
    slow = surface.mix_hash(*parts)  # type: ignore[arg-type]
    assert fast.dtype == slow.dtype == np.int64
    assert fast.shape == slow.shape
    assert np.array_equal(fast, slow)


def test_random_small_arrays_match(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    cases = [
        (int(rng.integers(0, 2**31)), rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64), t)
        for n, t in ((1, 17), (5, 2**40), (31, 0))
    ]
    fast = [surface.mix_hash(*c) for c in cases]
    monkeypatch.setattr(surface, "_SMALL", 0)
    for c, f in zip(cases, fast, strict=True):
        assert np.array_equal(f, surface.mix_hash(*c))
