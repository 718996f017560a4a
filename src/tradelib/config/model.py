"""``TradingConfig``: the whole configuration, one section per component."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Self

from pydantic import Field, SecretStr, ValidationError, model_validator

from tradelib.config.alerts import AlertsConfig
from tradelib.config.base import ConfigModel
from tradelib.config.ib import ACCOUNT_ENV, IBConfig
from tradelib.config.problems import InvalidConfigError, dotted, problems_of
from tradelib.config.sections import (
    ExecutionConfig,
    FuturesConfig,
    MarketDataConfig,
    ProfitTargets,
    RefreshIntervals,
    RegimeDetectorConfig,
    RiskConfig,
    RulesConfig,
    SchedulerConfig,
    SimulationConfig,
    StrategiesConfig,
    SweepsConfig,
    TradingLimits,
    VarianceAnalysisConfig,
)
from tradelib.config.storage import StorageConfig

# Keys that may only come from the environment, with the variable to use instead.
ENV_ONLY_KEYS: dict[str, str] = {"ib.account": ACCOUNT_ENV}


def env_only_problems(data: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[str]:
    """Return a problem line for each env-only key present in ``data``."""
    problems = []
    for path, env_var in ENV_ONLY_KEYS.items():
        node: Any = data
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                break
            node = node[part]
        else:
            problems.append(
                f"{path}: must not be set in the config; "
                f"set the {env_var} environment variable instead"
            )
    return problems


class TradingConfig(ConfigModel):
    """The whole tradelib configuration: frozen, strict, every default from SPEC.md."""

    ib: IBConfig = Field(default_factory=IBConfig)
    refresh_intervals: RefreshIntervals = Field(default_factory=RefreshIntervals)
    market_data: MarketDataConfig = Field(default_factory=MarketDataConfig)
    trading_limits: TradingLimits = Field(default_factory=TradingLimits)
    profit_targets: ProfitTargets = Field(default_factory=ProfitTargets)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    regime_detector: RegimeDetectorConfig = Field(default_factory=RegimeDetectorConfig)
    strategies: StrategiesConfig = Field(default_factory=StrategiesConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    variance_analysis: VarianceAnalysisConfig = Field(default_factory=VarianceAnalysisConfig)
    futures: FuturesConfig = Field(default_factory=FuturesConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    simulation: SimulationConfig = Field(default_factory=SimulationConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    sweeps: SweepsConfig = Field(default_factory=SweepsConfig)

    @model_validator(mode="after")
    def _across_sections(self) -> Self:
        quantity = self.strategies.entry_quantity
        cap = self.trading_limits.max_contracts_per_order
        if quantity > cap:
            raise ValueError(
                f"strategies.entry_quantity ({quantity}) must be <= "
                f"trading_limits.max_contracts_per_order ({cap})"
            )
        return self

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str | None = None) -> TradingConfig:
        """Validate ``data``; raise ``InvalidConfigError`` listing every bad key."""
        problems = env_only_problems(data)
        try:
            config = cls.model_validate(dict(data))
        except ValidationError as exc:
            problems += problems_of(exc, cls)
        except RecursionError:
            problems.append("<top level>: nested too deeply to be a config")
        if problems:
            raise InvalidConfigError(problems, source=source)
        return config

    def ensure_live_allowed(self, env: Mapping[str, str] | None = None) -> None:
        """Raise ``LiveTradingNotAllowed`` unless live mode has both opt-ins."""
        self.ib.ensure_live_allowed(env)

    def with_overrides(self, overrides: Mapping[str, Any]) -> TradingConfig:
        """Return a new config with dotted keys replaced (``{"risk.max_portfolio_delta": 300}``).

        The result is validated as a whole; errors name each bad key.
        """
        # The account is env-only: keep it out of the data and carry it across as is.
        data: dict[str, Any] = copy.deepcopy(self.model_dump(exclude={"ib": {"account"}}))
        problems = []
        for key, value in overrides.items():
            problem = _set_dotted(data, key, value)
            if problem:
                problems.append(problem)
        problems += env_only_problems(data)
        if problems:
            raise InvalidConfigError(problems, source="overrides")
        updated = type(self).from_mapping(data, source="overrides")
        return updated.with_account(self.ib.account)

    def with_account(self, account: SecretStr | str | None) -> TradingConfig:
        """Return a copy whose ``ib.account`` is ``account`` (the loader reads it from env)."""
        if isinstance(account, str):
            account = SecretStr(account) if account else None
        ib = self.ib.model_copy(update={"account": account})
        return self.model_copy(update={"ib": ib})


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> str | None:
    """Set ``data[a][b][c] = value`` for ``key='a.b.c'``; return a problem or None."""
    parts = key.split(".")
    if not key or any(not p for p in parts):
        return f"{key!r}: not a valid dotted key"
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part) if isinstance(node, dict) else None
        if child is None and isinstance(node, dict):
            child = node[part] = {}  # unknown keys are reported by validation
        if not isinstance(child, dict):
            return f"{dotted(parts[: i + 1])}: is a value, not a section; cannot set {key!r}"
        node = child
    node[parts[-1]] = value
    return None
