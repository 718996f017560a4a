"""The circuit breaker trips on each trigger, blocks only entries, and closes by rule or by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tradelib.config import CircuitBreakerConfig, TradingConfig
from tradelib.domain import OrderPurpose, new_york
from tradelib.lake import Lake
from tradelib.risk import BreakerState, BreakerTrigger, CircuitBreaker
from tradelib.stores.risk import LakeBreakerStore, lake_breaker

from .conftest import T0, account

CFG = CircuitBreakerConfig(
    daily_loss_limit=2000.0, max_consecutive_failures=3, max_orders_per_minute=10,
    cooldown_minutes=60,
)  # fmt: skip


@pytest.fixture
def breaker() -> CircuitBreaker:
    return CircuitBreaker(CFG)


def _seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


def test_a_fresh_breaker_is_closed_and_allows_everything(breaker: CircuitBreaker) -> None:
    status = breaker.status(T0)
    assert status.state is BreakerState.CLOSED and status.reason == "never tripped"
    for purpose in OrderPurpose:
        assert breaker.allows(purpose, T0).allowed


def test_daily_loss_at_the_limit_trips_and_blocks_entries_but_not_exits(
    breaker: CircuitBreaker,
) -> None:
    assert not breaker.check_account(account(day_pnl=-1999.99), T0).is_open
    status = breaker.check_account(account(day_pnl=-2000.0), T0)
    assert status.is_open and status.trigger is BreakerTrigger.DAILY_LOSS
    assert status.reason == "daily loss limit: lost $2,000.00 today >= $2,000.00"
    assert (status.value, status.limit) == (2000.0, 2000.0)

    entry = breaker.allows(OrderPurpose.OPEN, T0)
    assert not entry and "circuit breaker open" in entry.reason and "daily_loss" in entry.reason
    assert not breaker.allows(OrderPurpose.ROLL, T0)
    assert breaker.allows(OrderPurpose.CLOSE, T0).allowed
    assert breaker.allows(OrderPurpose.REDUCE, T0).allowed


def test_daily_loss_can_be_measured_against_the_start_of_day_net_liquidation(
    breaker: CircuitBreaker,
) -> None:
    status = breaker.check_account(
        account(net_liquidation=97_500.0), T0, start_of_day_net_liq=100_000.0
    )
    assert status.is_open and status.value == pytest.approx(2500.0)


def test_consecutive_failures_trip_and_a_success_restarts_the_count(
    breaker: CircuitBreaker,
) -> None:
    breaker.record_failure(T0, "rejected")
    breaker.record_failure(T0, "rejected")
    breaker.record_success(T0)
    breaker.record_failure(T0, "rejected")
    assert not breaker.record_failure(T0, "rejected").is_open  # 2 in a row
    status = breaker.record_failure(T0 + _seconds(1), "insufficient equity")
    assert status.is_open and status.trigger is BreakerTrigger.CONSECUTIVE_FAILURES
    assert status.reason == "3 consecutive order failures >= 3 (last: insufficient equity)"


def test_more_orders_in_a_minute_than_allowed_trips_the_rate_trigger(
    breaker: CircuitBreaker,
) -> None:
    # 10 orders spread over a minute are fine, and old ones fall out of the window
    for i in range(10):
        assert not breaker.record_order(T0 + _seconds(6 * i)).is_open
    assert not breaker.record_order(T0 + _seconds(61)).is_open
    for i in range(8):
        breaker.record_order(T0 + _seconds(62 + i))
    status = breaker.status(T0 + _seconds(70))
    assert status.is_open and status.trigger is BreakerTrigger.ORDER_RATE
    assert status.reason == "order rate: 11 orders in the last minute > 10"


def test_an_open_breaker_closes_by_rule_after_the_cooldown(breaker: CircuitBreaker) -> None:
    for _ in range(3):
        breaker.record_failure(T0)
    assert breaker.status(T0 + timedelta(minutes=59)).is_open
    assert breaker.status(T0 + timedelta(minutes=59)).closes_at == T0 + timedelta(minutes=60)
    later = breaker.status(T0 + timedelta(minutes=61))
    assert not later.is_open and later.trigger is BreakerTrigger.COOLDOWN
    assert breaker.allows(OrderPurpose.OPEN, T0 + timedelta(minutes=61))
    # the rule's reset is an event like any other, stamped when it came due
    states = [(e.state, e.trigger) for e in breaker.history()]
    assert states == [
        (BreakerState.OPEN, BreakerTrigger.CONSECUTIVE_FAILURES),
        (BreakerState.CLOSED, BreakerTrigger.COOLDOWN),
    ]
    assert breaker.history()[-1].ts == T0 + timedelta(minutes=60)


def test_a_daily_loss_trip_holds_for_the_rest_of_the_new_york_day(
    breaker: CircuitBreaker,
) -> None:
    tripped_at = new_york(2026, 11, 24, 10, 0)
    breaker.check_account(account(day_pnl=-2500.0), tripped_at)
    assert breaker.status(new_york(2026, 11, 24, 15, 59)).is_open  # cooldown over, same day
    next_day = breaker.status(new_york(2026, 11, 25, 0, 0))
    assert not next_day.is_open and next_day.since == new_york(2026, 11, 25, 0, 0)


def test_a_late_daily_loss_trip_still_waits_out_its_cooldown_past_midnight(
    breaker: CircuitBreaker,
) -> None:
    tripped_at = new_york(2026, 11, 24, 23, 30)
    breaker.check_account(account(day_pnl=-2500.0), tripped_at)
    assert breaker.status(new_york(2026, 11, 25, 0, 10)).is_open
    assert not breaker.status(new_york(2026, 11, 25, 0, 31)).is_open


def test_a_manual_reset_closes_at_once_and_is_recorded_with_the_name(
    breaker: CircuitBreaker,
) -> None:
    for _ in range(3):
        breaker.record_failure(T0)
    event = breaker.reset(T0 + _seconds(30), by="alice")
    assert event.reset_by == "alice" and event.trigger is BreakerTrigger.MANUAL
    assert "was open (consecutive_failures" in event.reason
    status = breaker.status(T0 + _seconds(31))
    assert not status.is_open and status.reset_by == "alice"
    # the counters start over: one more failure does not re-trip
    assert not breaker.record_failure(T0 + _seconds(32)).is_open
    with pytest.raises(ValueError, match="name"):
        breaker.reset(T0, by="  ")


def test_a_manual_reset_does_not_excuse_a_loss_still_over_the_limit(
    breaker: CircuitBreaker,
) -> None:
    breaker.check_account(account(day_pnl=-2500.0), T0)
    breaker.reset(T0 + _seconds(60), by="bob")
    assert breaker.check_account(account(day_pnl=-2400.0), T0 + _seconds(120)).is_open


def test_the_state_is_shared_by_every_process_through_the_lake(lake: Lake) -> None:
    """Two breakers on two Lake instances stand for two processes."""
    jobs = lake_breaker(TradingConfig(), Lake(lake.root))
    monitor = lake_breaker(TradingConfig(), Lake(lake.root))
    jobs.check_account(account(day_pnl=-5000.0), T0)
    seen = monitor.status(T0 + _seconds(1))
    assert seen.is_open and seen.trigger is BreakerTrigger.DAILY_LOSS
    assert not monitor.allows(OrderPurpose.OPEN, T0 + _seconds(1))
    assert monitor.allows(OrderPurpose.CLOSE, T0 + _seconds(1))

    monitor.reset(T0 + _seconds(5), by="carol")
    assert not jobs.status(T0 + _seconds(6)).is_open
    rows = lake.read("circuit_breaker_events").collect()
    assert rows.height == 2
    assert sorted(rows["state"].to_list()) == ["closed", "open"]


def test_events_stay_ordered_when_a_reset_comes_from_an_earlier_clock(lake: Lake) -> None:
    """A CLI reset on the wall clock must still win over a trip stamped in simulated time."""
    sim_process = CircuitBreaker(CFG, LakeBreakerStore(lake))
    sim_process.check_account(account(day_pnl=-3000.0), T0)
    person = CircuitBreaker(CFG, LakeBreakerStore(Lake(lake.root)))
    event = person.reset(T0 - timedelta(days=400), by="dave")
    assert event.ts > T0
    assert not sim_process.status(T0 + _seconds(1)).is_open


def test_writing_the_same_event_twice_stores_it_once(lake: Lake) -> None:
    store = LakeBreakerStore(lake)
    breaker = CircuitBreaker(CFG, store)
    breaker.check_account(account(day_pnl=-3000.0), T0)
    event = store.latest()
    assert event is not None
    store.append(event)
    assert len(store.history()) == 1
