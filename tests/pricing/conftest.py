"""QuantLib reference values for a random sweep of European options."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

ql = pytest.importorskip("QuantLib")


@dataclass(frozen=True)
class Sweep:
    """Inputs and QuantLib outputs; greeks in QuantLib units (per year / per 1.0)."""

    spot: np.ndarray
    strike: np.ndarray
    t: np.ndarray
    vol: np.ndarray
    rate: np.ndarray
    div_yield: np.ndarray
    is_call: np.ndarray
    price: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    theta_per_year: np.ndarray
    vega_per_unit: np.ndarray
    rho_per_unit: np.ndarray


def quantlib_sweep(n: int, seed: int) -> Sweep:
    """Price ``n`` random options with ql.AnalyticEuropeanEngine on flat ACT/365 curves."""
    rng = np.random.default_rng(seed)
    spot = rng.uniform(20.0, 500.0, n)
    strike = spot * rng.uniform(0.5, 1.5, n)
    # Whole days, so QuantLib's Actual365Fixed year fraction equals days / 365 exactly.
    days = np.unique(np.geomspace(1, 730, 60).round()).astype(int)
    day_count = rng.choice(days, n)
    t = day_count / 365.0
    vol = np.exp(rng.uniform(np.log(0.05), np.log(1.5), n))
    rate = rng.uniform(0.0, 0.08, n)
    div_yield = rng.uniform(0.0, 0.04, n)
    is_call = rng.random(n) < 0.5

    today = ql.Date(15, 1, 2025)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    spot_q, rate_q, div_q, vol_q = (ql.SimpleQuote(0.0) for _ in range(4))
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(spot_q),
        ql.YieldTermStructureHandle(ql.FlatForward(today, ql.QuoteHandle(div_q), dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, ql.QuoteHandle(rate_q), dc)),
        ql.BlackVolTermStructureHandle(
            ql.BlackConstantVol(today, ql.NullCalendar(), ql.QuoteHandle(vol_q), dc)
        ),
    )
    engine = ql.AnalyticEuropeanEngine(process)
    out = np.empty((6, n))
    for i in range(n):
        spot_q.setValue(float(spot[i]))
        rate_q.setValue(float(rate[i]))
        div_q.setValue(float(div_yield[i]))
        vol_q.setValue(float(vol[i]))
        right = ql.Option.Call if is_call[i] else ql.Option.Put
        option = ql.VanillaOption(
            ql.PlainVanillaPayoff(right, float(strike[i])),
            ql.EuropeanExercise(today + int(day_count[i])),
        )
        option.setPricingEngine(engine)
        out[:, i] = (
            option.NPV(),
            option.delta(),
            option.gamma(),
            option.theta(),
            option.vega(),
            option.rho(),
        )
    return Sweep(spot, strike, t, vol, rate, div_yield, is_call, *out)


@pytest.fixture(scope="session")
def sweep() -> Sweep:
    return quantlib_sweep(400, seed=20250115)
