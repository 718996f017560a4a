"""Weights from the lake drive StrategySelector on simulated chains; the entry stores them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tradelib.config import TradingConfig
from tradelib.domain import MarketRegime, StrategyType, utc
from tradelib.entry import OptionChain, StrategySelector
from tradelib.lake import Lake
from tradelib.sim import SimMarketConfig, SimulatedMarket
from tradelib.stores.predictions import StrategyPredictionsTable
from tradelib.stores.weights import WeightsProvider
from tradelib.variance import Prediction

from .rows import NOW, many

CFG = TradingConfig()
START = utc(2026, 11, 24, 15)


@pytest.fixture(scope="module")
def chains() -> list[OptionChain]:
    market = SimulatedMarket(SimMarketConfig(seed=7, start=START))
    s = CFG.strategies
    out = []
    for u in s.underlyings:
        window = [
            e for e in market.expiries(u) if s.dte_min <= (e - START.date()).days <= s.dte_max
        ][:2]
        out.append(
            OptionChain.from_sim_chains(
                [market.option_chain(u, e) for e in window], s.risk_free_rate
            )
        )
    return out


def _lake_with_misses(tmp_path: Path) -> Lake:
    """short_put missed by 30% of max risk twelve times in the normal regime."""
    lake = Lake(tmp_path / "lake")
    lake.append("predictions", many(12, "short_put", -0.3, regime="normal"))
    return lake


def test_a_fresh_lake_gives_neutral_weights(tmp_path: Path) -> None:
    weights, regime_weights, provenance = WeightsProvider.from_config(
        CFG, Lake(tmp_path / "lake")
    ).weights_for(MarketRegime.NORMAL, NOW)
    assert weights == dict.fromkeys(CFG.strategies.enabled, 1.0)
    assert all(w == 1.0 for per in regime_weights.values() for w in per.values())
    assert provenance.metadata("short_put")["weight_source"] == "inherited"  # from the default
    assert provenance.table.row("short_put") is not None
    assert provenance.table.row("short_put").source.value == "default"  # type: ignore[union-attr]


def test_lake_weights_change_what_the_selector_picks(
    tmp_path: Path, chains: list[OptionChain]
) -> None:
    selector = StrategySelector.from_config(CFG)
    before = selector.select(chains, regime=MarketRegime.NORMAL).best
    assert before is not None and before.strategy is StrategyType.SHORT_PUT

    provider = WeightsProvider.from_config(CFG, _lake_with_misses(tmp_path))
    weights, regime_weights, provenance = provider.weights_for("normal", NOW)
    assert weights["short_put"] == 0.5 and regime_weights["normal"]["short_put"] == 0.5
    after = selector.select(
        chains, regime=MarketRegime.NORMAL, weights=weights, regime_weights=regime_weights
    ).best
    assert after is not None and after.strategy is not StrategyType.SHORT_PUT
    puts = [
        c
        for c in selector.select(
            chains, regime=MarketRegime.NORMAL, weights=weights, regime_weights=regime_weights
        ).ranked
        if c.strategy is StrategyType.SHORT_PUT
    ]
    assert puts and all(c.weight == 0.5 and c.weight_source == "regime" for c in puts)
    assert (
        provenance.describe("short_put")
        == "short_put in normal: 0.500 (variance, mae 0.300 over 12)"
    )


def test_misses_older_than_the_lookback_no_longer_count(tmp_path: Path) -> None:
    provider = WeightsProvider.from_config(CFG, _lake_with_misses(tmp_path))
    later = NOW + timedelta(days=CFG.variance_analysis.lookback_days, hours=12)
    weights, _, _ = provider.weights_for(None, later)
    assert weights["short_put"] == 1.0


def test_config_overrides_reach_the_selector(tmp_path: Path) -> None:
    cfg = TradingConfig.from_mapping(
        {
            "variance_analysis": {
                "strategy_weights": {"short_strangle": 0.0},
                "regime_adjustments": {"crash": {"short_put": 0.25}},
            }
        },
        source="test",
    )
    provider = WeightsProvider.from_config(cfg, _lake_with_misses(tmp_path))
    weights, regime_weights, provenance = provider.weights_for(MarketRegime.CRASH, NOW)
    assert weights["short_strangle"] == 0.0
    assert regime_weights["crash"]["short_put"] == pytest.approx(0.5 * 0.25)
    meta = provenance.metadata("short_put")
    assert meta["weight_regime"] == "crash" and meta["adjustment"] == 0.25
    assert meta["weight"] == pytest.approx(0.125) and meta["count"] == 12


def test_the_entry_stores_the_weight_it_ranked_with(
    tmp_path: Path, chains: list[OptionChain]
) -> None:
    lake = _lake_with_misses(tmp_path)
    weights, regime_weights, _ = WeightsProvider.from_config(CFG, lake).weights_for(
        MarketRegime.NORMAL, NOW
    )
    ranked = (
        StrategySelector.from_config(CFG)
        .select(chains, regime=MarketRegime.NORMAL, weights=weights, regime_weights=regime_weights)
        .ranked
    )
    put = next(c for c in ranked if c.strategy is StrategyType.SHORT_PUT)
    prediction = Prediction.from_candidate(put, strategy_id="e2e-1", entered_at=NOW)
    table = StrategyPredictionsTable(lake)
    assert table.record_entry(prediction)
    row = table.get("pred-e2e-1")
    assert row is not None
    assert row["weight_used"] == 0.5 and row["regime"] == "normal"
    assert row["skew_ratio"] == pytest.approx(put.skew.ratio)
    assert row["predicted_pnl"] == round(put.expected_value * put.multiplier, 2)  # in cents
    assert row["max_loss"] == pytest.approx(put.max_loss * put.multiplier)
    assert row["prob_profit"] == pytest.approx(put.probability_of_profit)
