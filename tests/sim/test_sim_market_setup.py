"""Building a simulated market: default start, from_config, hours per instrument."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from tradelib.markethours import NEW_YORK, MarketHours
from tradelib.sim import SimMarketConfig, SimulatedMarket, default_start


@dataclass(frozen=True)
class _Simulation:
    seed: int
    start_date: date | None


@dataclass(frozen=True)
class _TradingConfig:
    simulation: _Simulation


def test_default_start_is_0945_new_york_on_the_latest_trading_day() -> None:
    hours = MarketHours()
    assert default_start(date(2026, 11, 24), hours) == datetime(
        2026, 11, 24, 9, 45, tzinfo=NEW_YORK
    )
    # Thanksgiving falls back to Wednesday; a Sunday to Friday.
    assert default_start(date(2026, 11, 26), hours) == datetime(
        2026, 11, 25, 9, 45, tzinfo=NEW_YORK
    )
    assert default_start(date(2026, 11, 29), hours) == datetime(
        2026, 11, 27, 9, 45, tzinfo=NEW_YORK
    )
    assert default_start(date(2026, 11, 24), hours).tzinfo == UTC


def test_from_config_reads_only_seed_and_start_date() -> None:
    cfg = _TradingConfig(_Simulation(seed=11, start_date=date(2026, 11, 26)))
    m = SimulatedMarket.from_config(cfg)
    assert m.config.seed == 11
    assert m.now() == datetime(2026, 11, 25, 9, 45, tzinfo=NEW_YORK)
    same = SimulatedMarket(SimMarketConfig(seed=11, start=m.now()))
    assert same.spot("SPY") == m.spot("SPY")


def test_a_market_without_a_start_resolves_one_at_construction() -> None:
    m = SimulatedMarket()
    assert m.config.start == m.now()
    assert m.hours.is_open(m.now())


def test_etfs_follow_the_early_close_while_futures_keep_trading() -> None:
    m = SimulatedMarket(SimMarketConfig(start=datetime(2026, 11, 27, 9, 45, tzinfo=NEW_YORK)))
    m.advance_to(datetime(2026, 11, 27, 13, 30, tzinfo=NEW_YORK))
    assert not m.is_open("SPY") and not m.is_open("VIX")
    assert m.is_open("ES")
    early_close = datetime(2026, 11, 27, 13, 0, tzinfo=NEW_YORK).astimezone(UTC)
    assert m.quote("SPY").ts < early_close
    before = m.spot("ES")
    m.advance(1800)
    assert m.spot("ES") != before  # futures still moving after the stock close
