"""Trading modes: which broker a process gets, and the guards that keep live trading opt-in.

* ``sim``: the embedded simulated market (``SimBroker``), the default.
* ``paper``: IB over ib_async on a paper port; refused on IB's well-known live ports
  (and ``IBBroker.connect`` refuses a non-paper account).
* ``live``: IB, only with ``ib.allow_live: true`` AND ``TRADELIB_ALLOW_LIVE=1``.
* ``readonly``: IB, reading only: placing, modifying or cancelling raises
  ``ReadOnlyModeError`` and nothing is ever sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from tradelib.domain import TradingMode
from tradelib.errors import ConfigError

if TYPE_CHECKING:
    from tradelib.broker.port import Broker
    from tradelib.config import TradingConfig
    from tradelib.sim import SimulatedMarket

# TWS live and IB Gateway live: a paper session must never point at them.
LIVE_PORTS: frozenset[int] = frozenset({7496, 4001})


def ensure_mode_allowed(cfg: TradingConfig, env: Mapping[str, str] | None = None) -> TradingMode:
    """Return the configured mode; raise if it is not allowed to start.

    Live needs both opt-ins (``LiveTradingNotAllowed`` otherwise); paper is refused
    on a live port (``ConfigError``).
    """
    mode = TradingMode(cfg.ib.mode)
    if mode is TradingMode.LIVE:
        cfg.ensure_live_allowed(env)
    if mode is TradingMode.PAPER and cfg.ib.port in LIVE_PORTS:
        raise ConfigError(
            f"ib.mode is paper but ib.port {cfg.ib.port} is a live trading port; "
            "use the paper port (7497 TWS, 4002 IB Gateway)"
        )
    return mode


def build_broker(
    cfg: TradingConfig,
    *,
    role: str = "jobs",
    env: Mapping[str, str] | None = None,
    market: SimulatedMarket | None = None,
) -> Broker:
    """The broker for ``cfg.ib.mode`` (unconnected): SimBroker for sim, IBBroker otherwise."""
    mode = ensure_mode_allowed(cfg, env)
    if mode is TradingMode.SIM:
        from tradelib.broker.sim import SimBroker

        return SimBroker.from_config(cfg, market)
    from tradelib.broker.ib import IBBroker

    return IBBroker.from_config(cfg, role, env=env)
