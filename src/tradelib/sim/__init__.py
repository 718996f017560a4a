"""The embedded simulated market: seeded prices, regimes, option chains, futures and bars.

``SimulatedMarket`` is the engine that ``SimBroker`` and the simulated TWS
gateway sit on; see ``tradelib.sim.market`` for units and conventions.
"""

from tradelib.sim.config import SimMarketConfig, default_start
from tradelib.sim.market import SimulatedMarket
from tradelib.sim.types import (
    SimChain,
    SimFuture,
    SimInstrument,
    SimOptionQuote,
    SimQuote,
    SimRegime,
)

__all__ = [
    "SimChain",
    "SimFuture",
    "SimInstrument",
    "SimMarketConfig",
    "SimOptionQuote",
    "SimQuote",
    "SimRegime",
    "SimulatedMarket",
    "default_start",
]
