"""How the detector's regimes line up with the simulated market's true (hidden) regimes.

The simulation has four regimes, the detector six: a calm simulated market is
read correctly as low_vol or normal. ``calm_range_bound=True`` also accepts
range_bound for calm (a quiet, trendless market is what the simulation's calm
regime produces), which is reported beside the strict rate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tradelib.domain import MarketRegime
from tradelib.sim import SimRegime

SIM_REGIME_MATCHES: Mapping[SimRegime, frozenset[MarketRegime]] = {
    SimRegime.CALM: frozenset({MarketRegime.LOW_VOL, MarketRegime.NORMAL}),
    SimRegime.TRENDING: frozenset({MarketRegime.TRENDING}),
    SimRegime.HIGH_VOL: frozenset({MarketRegime.HIGH_VOL}),
    SimRegime.CRASH: frozenset({MarketRegime.CRASH}),
}


def sim_regime_matches(
    truth: SimRegime, detected: MarketRegime | None, *, calm_range_bound: bool = False
) -> bool:
    """Return True when ``detected`` is a right reading of the simulated ``truth``."""
    if detected is None:
        return False
    if calm_range_bound and truth is SimRegime.CALM and detected is MarketRegime.RANGE_BOUND:
        return True
    return detected in SIM_REGIME_MATCHES[truth]


def agreement(
    truths: Sequence[SimRegime],
    detected: Sequence[MarketRegime | None],
    *,
    calm_range_bound: bool = False,
) -> float:
    """Return the share of known readings that match the true regime (NaN if none known)."""
    if len(truths) != len(detected):
        raise ValueError(f"{len(truths)} truths vs {len(detected)} readings")
    pairs = [(t, d) for t, d in zip(truths, detected, strict=True) if d is not None]
    if not pairs:
        return float("nan")
    hits = sum(sim_regime_matches(t, d, calm_range_bound=calm_range_bound) for t, d in pairs)
    return hits / len(pairs)
