"""The book's portfolio as the jobs measure it: positions, spots, daily closes and greeks from
the broker, turned into the risk calculator, the measured portfolio and the returns the
correlated groups come from. Entry checks candidates against it; monitoring checks the
existing book against the same limits."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from tradelib.broker import Broker
from tradelib.config import TradingConfig
from tradelib.domain import AccountSnapshot, Contract, OptionGreeks, Position, SecType
from tradelib.risk import PortfolioRisk, PortfolioRiskCalculator, daily_returns, greeks_from_quotes

BENCHMARK = "SPY"
DAY_BAR_S = 86_400
# Calendar days per trading day, with slack, to ask enough daily bars of the broker.
CALENDAR_PER_TRADING_DAY = 1.6
BAR_SLACK_DAYS = 10


def bar_start(now: datetime, trading_days: int) -> datetime:
    """How far back to ask for ``trading_days`` daily bars."""
    return now - timedelta(days=math.ceil(trading_days * CALENDAR_PER_TRADING_DAY) + BAR_SLACK_DAYS)


@dataclass(slots=True)
class MeasuredPortfolio:
    """The account's options and stock, measured at one moment."""

    account: AccountSnapshot
    positions: list[Position]
    calculator: PortfolioRiskCalculator
    portfolio: PortfolioRisk
    returns: pl.DataFrame  # daily returns per symbol (for correlated groups)
    greeks: dict[str, OptionGreeks]


def measure_portfolio(
    cfg: TradingConfig,
    broker: Broker,
    now: datetime,
    *,
    underlyings: tuple[str, ...] = (),
    warmup_days: int = 0,
) -> MeasuredPortfolio:
    """Measure the account's equity options and stock with ``cfg``'s lookback.

    A futures position (opened by hand) has no ETF spot or daily stock bars to be measured
    by and is left out. ``underlyings`` are measured too even when nothing is held in them
    (entry's candidates); ``warmup_days`` asks for more bars when a caller needs them.
    """
    positions = [
        p for p in broker.positions() if p.contract.sec_type in (SecType.STOCK, SecType.OPTION)
    ]
    symbols = sorted({BENCHMARK, *underlyings, *(p.contract.symbol for p in positions)})
    # A quote with no sound mark (NaN) leaves its symbol out: the calculator then refuses
    # to measure a position in it, rather than valuing it at a made-up spot.
    spot_quotes = broker.snapshot([Contract.stock(s) for s in symbols])
    spots = {q.contract.symbol: q.mark for q in spot_quotes if math.isfinite(q.mark)}
    lookback = cfg.risk.correlation_lookback_days
    start = bar_start(now, max(warmup_days, lookback + 1))
    closes = {s: broker.bars(Contract.stock(s), start, now, DAY_BAR_S) for s in symbols}
    calculator = PortfolioRiskCalculator.from_bars(
        closes, spots, benchmark=BENCHMARK, lookback_days=lookback
    )
    held_options = [p.contract for p in positions if p.contract.is_option]
    greeks: dict[str, OptionGreeks] = (
        greeks_from_quotes(broker.snapshot(held_options)) if held_options else {}
    )
    return MeasuredPortfolio(
        account=broker.account(),
        positions=positions,
        calculator=calculator,
        portfolio=calculator.calculate(positions, greeks),
        returns=daily_returns(closes, lookback),
        greeks=greeks,
    )
