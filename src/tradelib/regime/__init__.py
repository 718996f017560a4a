"""Market regime detection: VIX level and term structure, realized vs implied vol,
trend strength and drawdown, with hysteresis."""

from tradelib.regime.detector import (
    EnhancedMarketRegimeDetector,
    EvidenceValue,
    RegimeReading,
    classify,
)
from tradelib.regime.features import (
    FEATURE_COLUMNS,
    daily_features,
    intraday_realized_vol,
    warmup_rows,
    with_live_quotes,
)
from tradelib.regime.simmap import SIM_REGIME_MATCHES, agreement, sim_regime_matches

__all__ = [
    "FEATURE_COLUMNS",
    "SIM_REGIME_MATCHES",
    "EnhancedMarketRegimeDetector",
    "EvidenceValue",
    "RegimeReading",
    "agreement",
    "classify",
    "daily_features",
    "intraday_realized_vol",
    "sim_regime_matches",
    "warmup_rows",
    "with_live_quotes",
]
