"""tradelib: research and operations engine for autonomous options trading on IBKR."""

__version__ = "0.1.0"
