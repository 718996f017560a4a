"""Backtest data and statistics: market sources (simulated, historical, recorded chains).

Imports only ``domain``, ``config``, ``pricing`` and ``sim`` of tradelib (plus
``markethours`` and ``errors``): never the lake, the jobs or the brokers.
``tradelib.sim.SimulatedMarket`` is itself a ``MarketSource``.
"""

from tradelib.backtest.chains.importer import ChainStore, load_chains
from tradelib.backtest.chains.schema import CHAIN_COLUMNS
from tradelib.backtest.chains.source import RecordedChainSource
from tradelib.backtest.history.files import DailyBars, load_daily_bars
from tradelib.backtest.history.source import HistoricalSource, HistoryModel
from tradelib.backtest.source import MarketSource
from tradelib.backtest.stats import (
    PerformanceReport,
    ReturnStats,
    TradeStats,
    buy_and_hold,
    performance,
    pnl_breakdown,
    return_stats,
    trade_stats,
)

__all__ = [
    "CHAIN_COLUMNS",
    "ChainStore",
    "DailyBars",
    "HistoricalSource",
    "HistoryModel",
    "MarketSource",
    "PerformanceReport",
    "RecordedChainSource",
    "ReturnStats",
    "TradeStats",
    "buy_and_hold",
    "load_chains",
    "load_daily_bars",
    "performance",
    "pnl_breakdown",
    "return_stats",
    "trade_stats",
]
