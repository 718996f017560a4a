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

__all__ = [
    "FEATURE_COLUMNS",
    "EnhancedMarketRegimeDetector",
    "EvidenceValue",
    "RegimeReading",
    "classify",
    "daily_features",
    "intraday_realized_vol",
    "warmup_rows",
    "with_live_quotes",
]
