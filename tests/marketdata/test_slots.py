"""The slot manager on SimBroker: rebalancing order, yielding lines, admission with a reason."""

from __future__ import annotations

from tradelib.broker.sim import SimBroker
from tradelib.config import TradingConfig
from tradelib.domain import Contract
from tradelib.marketdata import MarketDataSlotManager, SlotMode
from tradelib.sim import SimMarketConfig, SimulatedMarket
from tradelib.sync import StrategyRegistry

from .helpers import START, LineWatch, many_strategies

# 10 lines, 4 kept for futures and index: 6 option lines, two 3-leg strategies.
SMALL = {"market_data.line_budget": 10, "market_data.reserved_lines": 4}


def broker(line_budget: int = 10) -> SimBroker:
    b = SimBroker(
        SimulatedMarket(SimMarketConfig(seed=5, start=START)),
        initial_cash=1e7,
        line_budget=line_budget,
    )
    b.connect()
    return b


def test_rebalance_releases_demoted_lines_before_streaming_promoted_ones() -> None:
    b = broker()
    a, s1, c = many_strategies(b, 3)
    watch = LineWatch(b)
    slots = MarketDataSlotManager.from_config(TradingConfig().with_overrides(SMALL), b)
    slots.track([a, s1])
    slots.rebalance(b.now())
    assert set(slots.streaming_strategies) == {a.strategy_id, s1.strategy_id}

    slots.track([s1, c])  # a is closed; c is new
    result = slots.rebalance(b.now())

    assert result.demoted == (a.strategy_id,) and result.promoted == (c.strategy_id,)
    assert watch.calls[-2:] == [("unstream", 3), ("stream", 3)]
    assert watch.peak <= 6 and watch.refusals == 0


def test_lines_taken_by_other_streams_are_yielded_not_fought_for() -> None:
    b = broker(line_budget=10)
    mine, other = many_strategies(b, 2), many_strategies(b, 3)[2]
    slots = MarketDataSlotManager.from_config(TradingConfig().with_overrides(SMALL), b)
    slots.track(mine)
    # Something else in the session holds 7 of the 10 lines, 3 more than its reserve.
    b.stream([Contract.stock(s) for s in ("SPY", "QQQ", "IWM")] + [Contract.index("VIX")])
    b.stream([leg.contract for leg in other.legs])
    watch = LineWatch(b)

    result = slots.rebalance(b.now())

    assert len(result.streaming) == 1  # the room left: one 3-leg strategy
    assert result.line_errors == 0 and watch.refusals == 0
    assert len(b.streaming()) == b.line_budget


def test_a_strategy_is_admitted_to_free_lines_then_to_snapshots() -> None:
    b = broker()
    one, two, three = many_strategies(b, 3)
    slots = MarketDataSlotManager.from_config(TradingConfig().with_overrides(SMALL), b)
    slots.track([one])
    slots.rebalance(b.now())

    assert slots.can_admit(two, b.now()).mode is SlotMode.STREAM
    slots.track([one, two])
    slots.rebalance(b.now())
    answer = slots.can_admit(three, b.now())
    assert answer.admitted and answer.mode is SlotMode.SNAPSHOT
    assert answer.lines_free == 0


def test_a_strategy_that_would_overload_snapshots_is_refused_with_the_reason() -> None:
    b = broker()
    one, two, three = many_strategies(b, 3)
    cfg = TradingConfig().with_overrides({**SMALL, "market_data.snapshot_capacity_per_min": 5.0})
    slots = MarketDataSlotManager.from_config(cfg, b)
    slots.track([one, two])
    slots.rebalance(b.now())

    answer = StrategyRegistry.admit(three, slots, b.now())

    assert not answer
    assert "no free streaming line" in answer.reason and "capacity of 5/min" in answer.reason
    assert answer.snapshot_load_per_min > 5.0


def test_a_strategy_with_more_legs_than_option_lines_is_never_admitted() -> None:
    b = broker()
    cfg = TradingConfig().with_overrides(
        {"market_data.line_budget": 5, "market_data.reserved_lines": 3}
    )
    slots = MarketDataSlotManager.from_config(cfg, b)
    (s,) = many_strategies(b, 1)
    answer = slots.can_admit(s, b.now())
    assert not answer.admitted and "only 2 streaming lines" in answer.reason
