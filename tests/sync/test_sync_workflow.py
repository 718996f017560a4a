"""The sync job on a simulated account: the broker is the truth, every difference is recorded."""

from __future__ import annotations

import pytest

from tradelib.broker.sim import SimBroker
from tradelib.domain import OrderPurpose
from tradelib.jobs.context import JobContext
from tradelib.jobs.sync import SyncStatus, SyncWorkflow, run_sync
from tradelib.lake import Lake

from .helpers import (
    by_hand,
    closing,
    counts,
    event_kinds,
    iron_condor,
    ours,
    put_spread,
    strategy,
    table,
)


def test_our_spread_is_grouped_by_its_order_ref(broker: SimBroker, lake: Lake) -> None:
    legs = put_spread(broker)
    ours(broker, "pcs-1", legs)

    report = run_sync(JobContext.of(broker, lake))

    assert report.ok and report.opened == ("pcs-1",)
    row = strategy(lake, "pcs-1")
    assert row["strategy_type"] == "put_credit_spread" and row["status"] == "open"
    assert row["inferred"] is False and row["quantity"] == 1.0
    fills = table(lake, "executions")
    assert fills.height == 2 and set(fills["order_ref"]) == {"tl:pcs-1:open:1"}
    # Credit per share from our fills: what the short leg sold for minus the long leg.
    prices = dict(zip(fills["side"], fills["price"], strict=True))
    assert row["credit"] == pytest.approx(prices["SLD"] - prices["BOT"])
    assert set(table(lake, "positions")["strategy_id"]) == {"pcs-1"}
    assert table(lake, "orders")["order_ref"].to_list() == ["tl:pcs-1:open:1"]
    assert report.events == () and event_kinds(lake) == []


def test_running_the_same_sync_twice_adds_no_row(broker: SimBroker, lake: Lake) -> None:
    ours(broker, "pcs-1", put_spread(broker))
    by_hand(broker, iron_condor(broker))
    now = broker.now()
    run_sync(JobContext.of(broker, lake), at=now)
    first = counts(lake)

    again = run_sync(JobContext.of(broker, lake), at=now)

    assert counts(lake) == first
    assert sum(again.written.values()) == 0 and again.events == ()


def test_a_later_sync_with_nothing_changed_only_adds_a_positions_snapshot(
    broker: SimBroker, lake: Lake
) -> None:
    ours(broker, "pcs-1", put_spread(broker))
    run_sync(JobContext.of(broker, lake))
    first = counts(lake)
    broker.wait(300)

    run_sync(JobContext.of(broker, lake))

    after = counts(lake)
    assert after["positions"] == first["positions"] + 2
    assert {k: v for k, v in after.items() if k != "positions"} == {
        k: v for k, v in first.items() if k != "positions"
    }


def test_legs_opened_by_hand_are_grouped_by_pattern_and_flagged(
    broker: SimBroker, lake: Lake
) -> None:
    by_hand(broker, iron_condor(broker))

    report = run_sync(JobContext.of(broker, lake))

    (sid,) = report.opened
    row = strategy(lake, sid)
    assert row["strategy_type"] == "iron_condor" and row["inferred"] is True
    assert row["credit"] is not None and row["credit"] > 0  # from the broker's average cost
    assert event_kinds(lake) == ["opened_outside"] * 4


def test_a_position_closed_by_hand_closes_its_strategy_as_closed_outside(
    broker: SimBroker, lake: Lake
) -> None:
    legs = put_spread(broker)
    ours(broker, "pcs-1", legs)
    run_sync(JobContext.of(broker, lake))
    by_hand(broker, closing(legs))

    report = run_sync(JobContext.of(broker, lake))

    assert report.closed == (("pcs-1", "closed_outside"),)
    row = strategy(lake, "pcs-1")
    assert row["status"] == "closed" and row["closed_at"] is not None
    assert event_kinds(lake) == ["closed_outside"] * 2


def test_a_quantity_changed_by_hand_is_a_mismatch_and_the_broker_wins(
    broker: SimBroker, lake: Lake
) -> None:
    legs = put_spread(broker)
    ours(broker, "pcs-1", legs, quantity=2)
    run_sync(JobContext.of(broker, lake))
    short = legs[0]
    by_hand(broker, closing([short]))  # buy back one short put at TWS

    report = run_sync(JobContext.of(broker, lake))

    (event,) = report.events
    assert event.kind == "quantity_mismatch"
    assert (event.lake_quantity, event.broker_quantity) == (-2.0, -1.0)
    row = strategy(lake, "pcs-1")
    assert row["status"] == "open" and row["strategy_type"] == "custom"  # -1 / +2 now


def test_our_partial_close_reduces_the_quantity_without_events(
    broker: SimBroker, lake: Lake
) -> None:
    legs = put_spread(broker)
    ours(broker, "pcs-1", legs, quantity=3)
    run_sync(JobContext.of(broker, lake))
    credit = strategy(lake, "pcs-1")["credit"]
    ours(broker, "pcs-1", closing(legs), OrderPurpose.REDUCE, quantity=1)

    report = run_sync(JobContext.of(broker, lake))

    assert report.events == ()
    row = strategy(lake, "pcs-1")
    assert row["quantity"] == 2.0 and row["credit"] == credit
    assert row["strategy_type"] == "put_credit_spread"


def test_our_close_closes_the_strategy_and_an_empty_book_is_believed(
    broker: SimBroker, lake: Lake
) -> None:
    legs = put_spread(broker)
    ours(broker, "pcs-1", legs)
    run_sync(JobContext.of(broker, lake))
    ours(broker, "pcs-1", closing(legs), OrderPurpose.CLOSE)

    report = run_sync(JobContext.of(broker, lake))  # the broker now reports no position at all

    assert report.ok and report.closed == (("pcs-1", "closed"),)
    assert report.events == ()


def test_a_roll_under_the_same_id_replaces_the_legs(broker: SimBroker, lake: Lake) -> None:
    near = put_spread(broker, dte=(20, 29))
    ours(broker, "pcs-1", near)
    run_sync(JobContext.of(broker, lake))
    credit = strategy(lake, "pcs-1")["credit"]
    far = put_spread(broker, dte=(45, 60))
    ours(broker, "pcs-1", [*closing(near), *far], OrderPurpose.ROLL)

    report = run_sync(JobContext.of(broker, lake))

    assert report.events == () and report.closed == ()
    row = strategy(lake, "pcs-1")
    assert row["status"] == "open" and row["strategy_type"] == "put_credit_spread"
    assert str(far[0].contract.expiry) in row["legs_json"]
    assert str(near[0].contract.expiry) not in row["legs_json"]
    assert row["credit"] != credit  # the roll's net premium is added


def test_a_roll_into_a_new_strategy_links_the_two(broker: SimBroker, lake: Lake) -> None:
    near = put_spread(broker, dte=(20, 29))
    ours(broker, "pcs-1", near)
    run_sync(JobContext.of(broker, lake))
    far = put_spread(broker, dte=(45, 60))
    ours(broker, "pcs-2", [*closing(near), *far], OrderPurpose.ROLL)

    report = run_sync(JobContext.of(broker, lake))

    assert report.closed == (("pcs-1", "rolled"),) and report.events == ()
    assert strategy(lake, "pcs-1")["linked_strategy_id"] == "pcs-2"
    assert strategy(lake, "pcs-2")["linked_strategy_id"] == "pcs-1"


def test_an_option_that_expires_closes_its_strategy_as_expired(
    broker: SimBroker, lake: Lake
) -> None:
    legs = put_spread(broker, otm=0.93, dte=(2, 4))  # well out of the money, expiring soon
    ours(broker, "pcs-1", legs)
    run_sync(JobContext.of(broker, lake))
    expiry = legs[0].contract.expiry
    assert expiry is not None
    broker.wait((expiry - broker.now().date()).days * 86_400 + 12 * 3600)  # past expiry's close

    report = run_sync(JobContext.of(broker, lake))

    assert report.ok and report.closed == (("pcs-1", "expired"),)
    assert event_kinds(lake) == ["expired", "expired"]


def test_an_assigned_put_turns_into_a_stock_strategy(broker: SimBroker, lake: Lake) -> None:
    (short, _) = put_spread(broker, otm=1.05, dte=(2, 4))  # deep in the money
    ours(broker, "sp-1", [short])
    run_sync(JobContext.of(broker, lake))
    expiry = short.contract.expiry
    assert expiry is not None
    broker.wait((expiry - broker.now().date()).days * 86_400 + 12 * 3600)

    report = run_sync(JobContext.of(broker, lake))

    assert report.closed == (("sp-1", "assigned"),)
    stock = strategy(lake, "sp-1-assigned")
    assert stock["strategy_type"] == "stock" and stock["status"] == "open"
    assert stock["linked_strategy_id"] == "sp-1" and stock["inferred"] is True
    assert stock["quantity"] == 100.0
    assert event_kinds(lake) == ["assigned", "expired"]


class Unreachable(SimBroker):
    """A broker whose session dropped: every account call fails."""

    failure: BaseException

    def positions(self):  # type: ignore[no-untyped-def]
        raise self.failure


class EmptyAnswer(SimBroker):
    """A broker (a gateway still loading the account) that reports no positions at all."""

    def positions(self):  # type: ignore[no-untyped-def]
        return []


def _as(broker: SimBroker, cls: type[SimBroker]) -> SimBroker:
    broker.__class__ = cls
    return broker


@pytest.mark.parametrize(
    "failure",
    [ConnectionError("socket closed"), TimeoutError("no answer")],
    ids=["dropped", "timeout"],
)
def test_an_unreachable_broker_records_an_anomaly_and_changes_nothing(
    broker: SimBroker, lake: Lake, failure: BaseException
) -> None:
    ours(broker, "pcs-1", put_spread(broker))
    run_sync(JobContext.of(broker, lake))
    before = counts(lake)
    bad = _as(broker, Unreachable)
    bad.failure = failure  # type: ignore[attr-defined]

    report = run_sync(JobContext.of(bad, lake))

    assert report.status is SyncStatus.ANOMALY and "broker unreachable" in report.reason
    assert event_kinds(lake) == ["anomaly"]
    assert counts(lake) == {**before, "reconciliation_events": 1}
    assert strategy(lake, "pcs-1")["status"] == "open"


def test_an_empty_answer_while_the_lake_holds_positions_stops_the_sync(
    broker: SimBroker, lake: Lake
) -> None:
    ours(broker, "pcs-1", put_spread(broker))
    run_sync(JobContext.of(broker, lake))
    empty = _as(broker, EmptyAnswer)

    report = run_sync(JobContext.of(empty, lake))
    again = run_sync(JobContext.of(empty, lake))  # the same anomaly is recorded once

    assert report.status is SyncStatus.ANOMALY and "no positions" in report.reason
    assert again.status is SyncStatus.ANOMALY
    assert event_kinds(lake) == ["anomaly"]
    assert strategy(lake, "pcs-1")["status"] == "open"


def test_an_empty_answer_can_be_accepted_by_hand(broker: SimBroker, lake: Lake) -> None:
    ours(broker, "pcs-1", put_spread(broker))
    run_sync(JobContext.of(broker, lake))

    report = SyncWorkflow().run(_as(broker, EmptyAnswer), lake, accept_empty=True)

    assert report.ok and report.closed == (("pcs-1", "closed_outside"),)


def test_a_working_order_placed_by_hand_is_an_unknown_order(broker: SimBroker, lake: Lake) -> None:
    from .helpers import trade

    legs = put_spread(broker)
    trade(broker, legs, ref="manual-resting", limit=-50.0)  # asks far too much credit: rests

    report = run_sync(JobContext.of(broker, lake))

    assert [e.kind for e in report.events] == ["unknown_order"]
    (row,) = table(lake, "orders").to_dicts()
    assert row["order_ref"] == "manual-resting" and row["status"] == "submitted"
    assert row["action"] == "SELL" and row["intent"] == "unknown"


def test_fills_the_executor_already_stored_still_explain_what_changed(
    broker: SimBroker, lake: Lake
) -> None:
    from tradelib.stores.orders import fill_row

    legs = put_spread(broker)
    ours(broker, "pcs-1", legs)
    # The executor journals fills as they come, before any sync sees them.
    lake.upsert("executions", [fill_row(f) for f in broker.executions()])

    report = run_sync(JobContext.of(broker, lake))

    assert report.opened == ("pcs-1",) and report.events == ()
    fills = table(lake, "executions")
    assert fills.height == 2 and fills["synced_at"].null_count() == 0


def test_a_close_the_monitoring_job_already_booked_is_not_an_event(
    broker: SimBroker, lake: Lake
) -> None:
    from tradelib.stores.orders import fill_row
    from tradelib.stores.sync import SyncStore
    from tradelib.sync import CloseReason

    legs = put_spread(broker)
    ours(broker, "pcs-1", legs)
    run_sync(JobContext.of(broker, lake))
    ours(broker, "pcs-1", closing(legs), OrderPurpose.CLOSE)
    # Monitoring journals the closing fills and books the strategy closed itself.
    lake.upsert("executions", [fill_row(f) for f in broker.executions()[-2:]])
    store = SyncStore(lake)
    (record,) = store.open_strategies()
    store.save_strategies([record.closed(CloseReason.CLOSED, broker.now())])

    report = run_sync(JobContext.of(broker, lake))

    assert report.ok and report.events == () and report.open_strategies == ()
    assert strategy(lake, "pcs-1")["close_reason"] == "closed"


def test_a_snapshot_at_the_sync_time_does_not_double_the_positions(
    broker: SimBroker, lake: Lake
) -> None:
    from tradelib.jobs.snapshot import record_positions

    ours(broker, "pcs-1", put_spread(broker))
    at = broker.now()
    run_sync(JobContext.of(broker, lake), at=at)
    record_positions(broker, lake, at)  # the demo's snapshot after every job

    rows = table(lake, "positions")
    assert rows.height == 2 and rows["strategy_id"].to_list() == ["pcs-1", "pcs-1"]


def test_stored_money_is_in_cents(broker: SimBroker, lake: Lake) -> None:
    ours(broker, "ic-1", iron_condor(broker))
    run_sync(JobContext.of(broker, lake))

    row = strategy(lake, "ic-1")
    for column in ("credit", "max_profit", "max_loss"):
        value = row[column]
        assert isinstance(value, float), column
        assert abs(value * 100 - round(value * 100)) < 1e-9, (column, value)
    fills = table(lake, "executions")
    assert ((fills["price"] * 100 - (fills["price"] * 100).round(0)).abs() < 1e-9).all()
    assert ((fills["commission"] * 100 - (fills["commission"] * 100).round(0)).abs() < 1e-9).all()
