"""Typed, frozen, strict configuration: ``load_config()`` returns a ``TradingConfig``."""

from tradelib.config.alerts import AlertsConfig, EmailChannelConfig, WebhookChannelConfig
from tradelib.config.base import (
    REGIME_NAMES,
    RULE_NAMES,
    STRATEGY_NAMES,
    IBMode,
    RegimeName,
    RuleName,
    StrategyName,
)
from tradelib.config.ib import ACCOUNT_ENV, ALLOW_LIVE_ENV, ClientIds, IBConfig
from tradelib.config.loader import (
    CONFIG_ENV,
    load_config,
    read_yaml,
    resolve_config_path,
    workspace_root,
)
from tradelib.config.model import TradingConfig
from tradelib.config.problems import InvalidConfigError
from tradelib.config.sections import (
    CircuitBreakerConfig,
    ExecutionConfig,
    FuturesConfig,
    MarketDataConfig,
    ProfitTargets,
    RefreshIntervals,
    RegimeDetectorConfig,
    RegimeProfitTargets,
    RiskConfig,
    RulesConfig,
    SchedulerConfig,
    SimulationConfig,
    SkewConfig,
    StrategiesConfig,
    TaskSchedule,
    TradingLimits,
    VarianceAnalysisConfig,
)
from tradelib.config.storage import StorageConfig

__all__ = [
    "ACCOUNT_ENV",
    "ALLOW_LIVE_ENV",
    "CONFIG_ENV",
    "REGIME_NAMES",
    "RULE_NAMES",
    "STRATEGY_NAMES",
    "AlertsConfig",
    "CircuitBreakerConfig",
    "ClientIds",
    "EmailChannelConfig",
    "ExecutionConfig",
    "FuturesConfig",
    "IBConfig",
    "IBMode",
    "InvalidConfigError",
    "MarketDataConfig",
    "ProfitTargets",
    "RefreshIntervals",
    "RegimeDetectorConfig",
    "RegimeName",
    "RegimeProfitTargets",
    "RiskConfig",
    "RuleName",
    "RulesConfig",
    "SchedulerConfig",
    "SimulationConfig",
    "SkewConfig",
    "StorageConfig",
    "StrategiesConfig",
    "StrategyName",
    "TaskSchedule",
    "TradingConfig",
    "TradingLimits",
    "VarianceAnalysisConfig",
    "WebhookChannelConfig",
    "load_config",
    "read_yaml",
    "resolve_config_path",
    "workspace_root",
]
