"""The monitoring job reads the regime with the live VIX and SPY: danger is admitted on the
cycle that shows it, and holds for the rest of the day."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path

from tradelib.broker.sim import SimBroker
from tradelib.config import TradingConfig
from tradelib.domain import (
    Contract,
    Leg,
    MarketRegime,
    OrderIntent,
    OrderPurpose,
    OrderType,
    Quote,
    Right,
    SecType,
    make_order_ref,
    utc,
)
from tradelib.jobs.context import JobContext
from tradelib.jobs.monitoring import MonitoringWorkflow
from tradelib.jobs.sync import run_sync
from tradelib.lake import Lake
from tradelib.sim import SimMarketConfig, SimRegime, SimulatedMarket

START = utc(2026, 11, 24, 15)


class SpikingVix(SimBroker):
    """The calm simulated market, but the live VIX quote reads ``vix`` when set."""

    vix: float | None = None

    def snapshot(self, contracts: Sequence[Contract]) -> list[Quote]:
        quotes = super().snapshot(contracts)
        if self.vix is None:
            return quotes
        return [
            replace(q, last=self.vix, bid=self.vix - 0.05, ask=self.vix + 0.05)
            if q.contract.sec_type is SecType.INDEX and q.contract.symbol == "VIX"
            else q
            for q in quotes
        ]


def _broker_with_a_short_put() -> SpikingVix:
    broker = SpikingVix(
        SimulatedMarket(SimMarketConfig(seed=7, start=START, forced_regime=SimRegime.CALM))
    )
    broker.connect()
    spot = broker.snapshot([Contract.stock("SPY")])[0].mid
    chain = broker.option_chain("SPY")
    expiry = next(e for e in chain.expiries if (e - date(2026, 11, 24)).days >= 30)
    strike = min(chain.strikes_for(expiry), key=lambda k: abs(k - spot * 0.95))
    put = broker.resolve(Contract.option("SPY", expiry, strike, Right.PUT))
    bid = broker.snapshot([put])[0].bid
    broker.place_order(
        OrderIntent(
            order_ref=make_order_ref("sp-1", OrderPurpose.OPEN),
            strategy_id="sp-1",
            purpose=OrderPurpose.OPEN,
            legs=(Leg(put, -1),),
            quantity=1,
            limit_price=round(bid - 0.05, 2),
            created_at=broker.now(),
            order_type=OrderType.LIMIT,
        )
    )
    broker.wait(5)
    return broker


def test_a_vix_spike_in_the_session_is_crash_at_once_and_stays_for_the_day(tmp_path: Path) -> None:
    broker = _broker_with_a_short_put()
    lake = Lake(tmp_path / "lake")
    assert run_sync(JobContext.of(broker, lake)).opened == ("sp-1",)
    cfg = TradingConfig().with_overrides({"storage.lake_uri": str(tmp_path / "lake")})
    workflow = MonitoringWorkflow.from_config(cfg, broker, lake)

    calm = workflow.run_cycle(broker.now())
    assert calm.regime is not MarketRegime.CRASH

    broker.wait(1800)
    broker.vix = 45.0  # the crash_vix threshold is 40
    spike = workflow.run_cycle(broker.now())
    assert spike.regime is MarketRegime.CRASH

    broker.wait(1800)
    broker.vix = None  # back to the calm quote later in the session
    later = workflow.run_cycle(broker.now())
    assert later.regime is MarketRegime.CRASH  # danger is not dropped within the day
