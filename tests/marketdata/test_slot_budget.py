"""The line budget under load: 300 legs, 100 lines, a simulated hour, no 101 and no stale leg."""

from __future__ import annotations

from datetime import datetime

import pytest

from tradelib.broker import Broker
from tradelib.broker.sim import SimBroker
from tradelib.config import TradingConfig
from tradelib.marketdata import MarketDataSlotManager, SlotTier
from tradelib.sim import SimMarketConfig, SimulatedMarket

from .helpers import START, LineWatch, many_strategies
from .ib_gateway import ib_over_gateway

CYCLE_S = 30.0  # one monitoring cycle of simulated time
HOUR_S = 3600.0


def run_hour(
    broker: Broker, cfg: TradingConfig, *, check_clock: bool = True
) -> tuple[MarketDataSlotManager, LineWatch, list[str]]:
    """Track 100 strategies (300 legs) for a simulated hour of 30-s cycles; return problems.

    Every cycle, before anything is refreshed, each leg must have been quoted within its
    interval, counted in cycles (a quote arrived by snapshot or stream event) and, when
    ``check_clock``, also by quote timestamps against the broker's clock.
    """
    strategies = many_strategies(broker, 100)
    watch = LineWatch(broker)
    slots = MarketDataSlotManager.from_config(cfg, broker)
    slots.track(strategies)
    problems: list[str] = []
    tiers: dict[str, SlotTier] = {}
    owner = {leg.contract.key: s.strategy_id for s in strategies for leg in s.legs}
    seen: dict[str, datetime | None] = dict.fromkeys(owner)
    last_cycle: dict[str, int] = {}

    def note_quotes(cycle: int) -> None:
        for key in owner:
            at = slots.quoted_at(key)
            if at is not None and at != seen[key]:
                seen[key], last_cycle[key] = at, cycle

    for cycle in range(int(HOUR_S / CYCLE_S) + 1):
        now: datetime = broker.now()
        note_quotes(cycle)  # stream events that came while the market moved
        for key, sid in owner.items() if tiers else ():
            seconds = slots.policy.interval(tiers[sid])
            gap = (cycle - last_cycle.get(key, -1_000)) * CYCLE_S
            if gap > seconds:
                problems.append(f"{key}: no quote for {gap:g}s > {seconds:g}s at cycle {cycle}")
            at = slots.quoted_at(key)
            if check_clock and (at is None or (now - at).total_seconds() > seconds + 1e-6):
                problems.append(f"{key}: quote from {at} older than {seconds:g}s at {now}")
        slots.rebalance(now)
        slots.refresh(now, lookahead_s=CYCLE_S)
        note_quotes(cycle)
        tiers = {sid: slots.tier_of(sid) for sid in slots.tracked}
        if len(broker.streaming()) > broker.line_budget:
            problems.append(f"{len(broker.streaming())} lines streaming at {now}")
        broker.wait(CYCLE_S)
    return slots, watch, problems


@pytest.mark.slow  # an hour of 300 legs: ~3-7 s
def test_300_legs_on_a_100_line_budget_stay_within_it_and_fresh_for_an_hour() -> None:
    cfg = TradingConfig()
    market = SimulatedMarket(SimMarketConfig(seed=5, start=START))
    broker = SimBroker(market, initial_cash=1e7, line_budget=cfg.market_data.line_budget)
    broker.connect()

    slots, watch, problems = run_hour(broker, cfg)

    assert problems == []
    assert watch.refusals == 0 and slots.line_errors == 0
    option_lines = cfg.market_data.line_budget - cfg.market_data.reserved_lines
    assert watch.peak <= option_lines
    # Every line in use: 30 strategies of 3 distinct legs stream, the other 70 are snapshotted.
    assert len({leg for s in slots.tracked for leg in slots.legs_of(s)}) == 300
    assert len(slots.streaming_strategies) == option_lines // 3
    assert slots.snapshots_taken > 0


@pytest.mark.parametrize("reserved", [10, 40])
def test_streamed_strategies_are_the_most_urgent(reserved: int) -> None:
    cfg = TradingConfig().with_overrides({"market_data.reserved_lines": reserved})
    broker = SimBroker(SimulatedMarket(SimMarketConfig(seed=5, start=START)), initial_cash=1e7)
    broker.connect()
    slots = MarketDataSlotManager.from_config(cfg, broker)
    slots.track(many_strategies(broker, 60))
    now = broker.now()
    slots.rebalance(now)  # no quotes yet: ranked by DTE alone
    slots.refresh(now)
    result = slots.rebalance(now)  # now with quotes

    ranked = [d.strategy_id for d in slots.priorities(now)]
    assert list(result.streaming) == ranked[: len(result.streaming)]
    assert (
        result.lines_in_use == 3 * len(result.streaming) <= cfg.market_data.line_budget - reserved
    )


@pytest.mark.integration
@pytest.mark.slow  # 300 legs through ib_async and the gateway: ~17 s
@pytest.mark.timeout(120)
def test_300_legs_through_ib_async_and_the_gateway_never_see_error_101() -> None:
    cfg = TradingConfig()
    with ib_over_gateway() as (broker, gateway, errors):
        slots, watch, problems = run_hour(broker, cfg, check_clock=False)
        stats = gateway.gateway.faults.stats

    assert problems == []
    assert watch.refusals == 0 and slots.line_errors == 0
    assert stats.errors_sent.get(101, 0) == 0
    assert errors.messages == []
    assert len(slots.streaming_strategies) == 30
