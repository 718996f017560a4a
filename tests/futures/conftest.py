"""Futures fixtures: a real SimBroker (with a flaky twin) and real Delta lakes in temp folders."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from tradelib.broker.sim import SimBroker
from tradelib.config import TradingConfig
from tradelib.demo.futures import collect_simulated_days, run_futures_demo
from tradelib.domain import Contract, SecType, utc
from tradelib.errors import BrokerError, ContractError
from tradelib.futures.collector import CollectorSettings
from tradelib.lake import Lake
from tradelib.sim import SimMarketConfig, SimulatedMarket

START = utc(2026, 11, 24, 15)  # Tuesday 10:00 New York: futures and ETFs both trade
END_DAY = START.date()
SEED = 7


def market(start: datetime = START, lead_s: float = 2.0) -> SimulatedMarket:
    return SimulatedMarket(SimMarketConfig(seed=SEED, start=start, futures_lead_s=lead_s))


def fast_settings(**changes: object) -> CollectorSettings:
    """Collector settings for simulated time: long steps, so a simulated hour takes milliseconds."""
    values: dict[str, object] = {"poll_interval_s": 30.0, "flush_interval_s": 60.0, "step_s": 30.0}
    values.update(changes)
    return CollectorSettings(**values)  # type: ignore[arg-type]


class FlakySimBroker(SimBroker):
    """A SimBroker whose connection drops at ``drop_at`` and refuses to come back before ``back_at``.

    The drop happens inside ``wait`` as a real broker's would: the session
    closes, ``ConnectionEvent(False)`` is emitted and later calls raise
    ``NotConnectedError``; ``connect`` fails like an unreachable gateway.
    """

    def __init__(
        self, market: SimulatedMarket, drop_at: datetime, back_at: datetime, **kw: object
    ) -> None:
        super().__init__(market, **kw)  # type: ignore[arg-type]
        self.drop_at, self.back_at = drop_at, back_at
        self.dropped = False
        self.refused = 0

    def wait(self, seconds: float) -> None:
        end = self.now() + timedelta(seconds=seconds)
        if not self.dropped and end >= self.drop_at:
            super().wait(max((self.drop_at - self.now()).total_seconds(), 0.0))
            self.dropped = True
            self.disconnect()  # mid-wait, as a real socket would drop
        super().wait(max((end - self.now()).total_seconds(), 0.0))

    def connect(self) -> None:
        if self.dropped and self.now() < self.back_at:
            self.refused += 1
            raise BrokerError("connection refused (gateway down)", code=502)
        super().connect()


class ListingSimBroker(SimBroker):
    """A SimBroker that, like IB, still serves a futures month after the roll (until expiry).

    The simulated market lists only the front month; this twin lets a test
    check which contract each bar is labelled with around a roll.
    """

    def resolve(self, contract: Contract) -> Contract:
        try:
            return super().resolve(contract)
        except ContractError:
            if contract.sec_type is not SecType.FUTURE or contract.expiry is None:
                raise
            if contract.expiry < self.now().date():
                raise
            month = "HMUZ"[(contract.expiry.month - 1) // 3]
            local = f"{contract.symbol}{month}{contract.expiry.year % 10}"
            return replace(contract, local_symbol=local, con_id=hash(local) % 1_000_000)

    def bars(
        self, contract: Contract, start: datetime, end: datetime, bar_seconds: int
    ) -> pl.DataFrame:
        if contract.sec_type is SecType.FUTURE:
            self.resolve(contract)
            return self.market.bars(contract.symbol, start, end, bar_seconds)
        return super().bars(contract, start, end, bar_seconds)


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


@pytest.fixture(scope="session")
def week_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """Seven simulated trading days (2 s lead) of ES/NQ/RTY and their ETFs, plus an evening."""
    lake = Lake(tmp_path_factory.mktemp("week") / "lake")
    run_futures_demo(TradingConfig(), lake, end_day=END_DAY, progress=lambda _m: None)
    return lake


def short_lake(root: Path, days: int, lead_s: float = 2.0) -> Lake:
    """``days`` simulated trading days of ES and SPY only."""
    lake = Lake(root)
    collect_simulated_days(market(utc(2026, 11, 2, 15), lead_s), lake, days, ["ES"])
    return lake
