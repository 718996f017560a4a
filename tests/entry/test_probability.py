"""Probability of profit and expected value under the lognormal model: provable properties."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from tradelib.domain import Contract, Leg, Right, payoff_profile
from tradelib.entry import (
    expected_payoff,
    expected_value,
    expiry_pnl,
    prob_above,
    probability_of_profit,
)

F, VOL, T = 100.0, 0.25, 0.1


def _density_grid() -> tuple[np.ndarray, np.ndarray]:
    """Lognormal density of S_T on a fine grid (for numerical integration)."""
    s = np.linspace(1e-3, 400.0, 400_001)
    sd = VOL * np.sqrt(T)
    z = (np.log(s / F) + 0.5 * sd**2) / sd
    return s, np.exp(-0.5 * z**2) / (s * sd * np.sqrt(2 * np.pi))


def _legs(*legs: tuple[float, bool, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k, c, r = zip(*legs, strict=True)
    return np.array([k], float), np.array([c], bool), np.array([r], float)


CONDOR = _legs((85.0, False, 1), (90.0, False, -1), (110.0, True, -1), (115.0, True, 1))
PUT_SPREAD = _legs((85.0, False, 1), (90.0, False, -1))
STRANGLE = _legs((90.0, False, -1), (110.0, True, -1))


@pytest.mark.parametrize(
    "legs", [CONDOR, PUT_SPREAD, STRANGLE], ids=["condor", "spread", "strangle"]
)
def test_expected_value_equals_the_integral_of_pnl_over_the_density(legs: tuple) -> None:
    k, c, r = legs
    credit = 1.7
    s, dens = _density_grid()
    pnl = expiry_pnl(k, c, r, [credit], s)[0]
    numeric = np.trapezoid(pnl * dens, s)
    closed = expected_value(k, c, r, [credit], [F], [VOL], [T])[0]
    assert closed == pytest.approx(numeric, abs=1e-4)
    pop_numeric = np.trapezoid((pnl > 0) * dens, s)
    be = _breakevens(k, c, r, credit)
    pop = probability_of_profit(k, c, r, [credit], be, [F], [VOL], [T])[0]
    assert pop == pytest.approx(pop_numeric, abs=1e-4)


def _breakevens(k: np.ndarray, c: np.ndarray, r: np.ndarray, credit: float) -> np.ndarray:
    legs = [
        Leg(
            Contract.option("X", date(2027, 1, 1), float(kk), Right.CALL if cc else Right.PUT),
            int(rr),
        )
        for kk, cc, rr in zip(k[0], c[0], r[0], strict=True)
    ]
    be = payoff_profile(legs, credit).breakevens
    out = np.full((1, 2), np.nan)
    out[0, : len(be)] = be
    return out


def test_put_spread_pop_is_the_probability_of_finishing_above_its_breakeven() -> None:
    k, c, r = PUT_SPREAD
    credit = 1.2
    be = _breakevens(k, c, r, credit)
    assert be[0, 0] == pytest.approx(88.8)
    pop = probability_of_profit(k, c, r, [credit], be, [F], [VOL], [T])[0]
    assert pop == pytest.approx(prob_above(88.8, F, VOL, T))


def test_expected_value_flips_sign_where_the_credit_equals_the_expected_payout() -> None:
    k, c, r = CONDOR
    fair = float(-(r * expected_payoff(k, c, F, VOL, T)).sum())  # what the condor is worth
    credits = np.array([fair - 0.5, fair - 0.01, fair + 0.01, fair + 0.5])
    n = credits.size
    ev = expected_value(
        np.repeat(k, n, 0),
        np.repeat(c, n, 0),
        np.repeat(r, n, 0),
        credits,
        np.full(n, F),
        np.full(n, VOL),
        np.full(n, T),
    )
    assert list(np.sign(ev)) == [-1, -1, 1, 1]
    assert np.allclose(np.diff(ev), np.diff(credits))  # one dollar more credit, one dollar more EV


def test_pop_is_a_probability_and_grows_with_the_credit() -> None:
    rng = np.random.default_rng(1)
    n = 200
    k_put = rng.uniform(60, 99, n)
    k = np.stack([k_put - 5, k_put, k_put + rng.uniform(2, 40, n), k_put + 45], axis=1)
    c = np.tile([False, False, True, True], (n, 1))
    r = np.tile([1.0, -1.0, -1.0, 1.0], (n, 1))
    last = None
    for credit in (0.5, 1.0, 2.0, 4.0):
        be = np.stack([k[:, 1] - credit, k[:, 2] + credit], axis=1)
        pop = probability_of_profit(
            k, c, r, np.full(n, credit), be, np.full(n, F), np.full(n, VOL), np.full(n, T)
        )
        assert np.all((pop >= 0) & (pop <= 1))
        if last is not None:
            assert np.all(pop >= last - 1e-12)
        last = pop


def test_prob_above_is_a_survival_function() -> None:
    levels = np.array([0.0, 50.0, 100.0, 150.0, np.inf])
    p = prob_above(levels, F, VOL, T)
    assert p[0] == 1.0 and p[-1] == 0.0 and np.all(np.diff(p) <= 0) and p[1] > p[2] > p[3]
    # The median of a lognormal with forward F sits below F.
    assert prob_above(F, F, VOL, T) < 0.5
