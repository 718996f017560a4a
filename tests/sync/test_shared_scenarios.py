"""Shared contracts through the whole sync on a simulated account: a roll into a contract
another strategy holds, and a book that holds more than the broker."""

from __future__ import annotations

import json

import polars as pl

from tradelib.broker.sim import SimBroker
from tradelib.domain import Leg, OrderPurpose, Right
from tradelib.jobs.context import JobContext
from tradelib.jobs.sync import run_sync
from tradelib.lake import Lake

from .helpers import by_hand, closing, expiry_between, option, ours, put_spread, spot, table


def _held(lake: Lake) -> dict[str, dict[int, float]]:
    rows = table(lake, "strategies").filter(pl.col("status") == "open").to_dicts()
    return {
        r["strategy_id"]: {int(d["con_id"]): d["quantity"] for d in json.loads(r["legs_json"])}
        for r in rows
    }


def _position(broker: SimBroker, con_id: int | None) -> float:
    return sum(p.quantity for p in broker.positions() if p.contract.con_id == con_id)


def test_a_roll_into_a_contract_another_strategy_holds_leaves_both_whole(
    broker: SimBroker, lake: Lake
) -> None:
    # X is short the 0.96 put of the far expiry. Y rolls from a near spread into a far
    # spread whose *long* leg is X's short put: the account nets that put to zero.
    far = expiry_between(broker, 45, 60)
    s = spot(broker)
    x_short = option(broker, far, s * 0.96, Right.PUT)
    x_long = option(broker, far, s * 0.92, Right.PUT)
    ours(broker, "x", [Leg(x_short, -1), Leg(x_long, 1)])
    near = put_spread(broker, dte=(20, 29))
    ours(broker, "y", near)
    assert run_sync(JobContext.of(broker, lake)).ok
    y_short = option(broker, far, s * 1.0, Right.PUT)
    ours(broker, "y2", [*closing(near), Leg(y_short, -1), Leg(x_short, 1)], OrderPurpose.ROLL)
    assert _position(broker, x_short.con_id) == 0  # X's short and Y2's long net out

    report = run_sync(JobContext.of(broker, lake))

    assert report.ok and report.events == ()
    assert report.closed == (("y", "rolled"),)
    assert _held(lake) == {
        "x": {x_short.con_id: -1, x_long.con_id: 1},
        "y2": {y_short.con_id: -1, x_short.con_id: 1},
    }


def test_a_book_holding_more_than_the_broker_gives_up_the_newest_strategys_leg(
    broker: SimBroker, lake: Lake
) -> None:
    # Two of our spreads share the short put; someone buys one of them back by hand.
    legs = put_spread(broker)
    short, long = legs
    ours(broker, "old", legs)
    broker.wait(60)
    ours(broker, "new", legs)
    assert run_sync(JobContext.of(broker, lake)).ok
    by_hand(broker, [Leg(short.contract, 1)])

    report = run_sync(JobContext.of(broker, lake))

    assert report.ok
    assert [e.kind.value for e in report.events] == ["quantity_mismatch"]
    assert _held(lake) == {
        "old": {short.contract.con_id: -1, long.contract.con_id: 1},
        "new": {long.contract.con_id: 1},
    }
    assert _position(broker, short.contract.con_id) == -1
