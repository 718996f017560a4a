"""Backtest data and statistics: market sources (simulated, historical, recorded chains).

Imports only ``domain``, ``config``, ``pricing`` and ``sim`` of tradelib (plus
``markethours`` and ``errors``): never the lake, the jobs or the brokers.
"""

from tradelib.backtest.history.files import DailyBars, load_daily_bars
from tradelib.backtest.history.source import HistoricalSource, HistoryModel
from tradelib.backtest.source import MarketSource

__all__ = [
    "DailyBars",
    "HistoricalSource",
    "HistoryModel",
    "MarketSource",
    "load_daily_bars",
]
