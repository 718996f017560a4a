"""One account, several strategies on one contract: each keeps its own legs through the sync,
on SimBroker and on IBBroker over the simulated gateway (the day-14 IWM rolls of the audit)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from tradelib.broker import Broker
from tradelib.domain import Leg, OrderPurpose, OrderStatus, Right, make_order_ref
from tradelib.jobs.context import JobContext
from tradelib.jobs.sync import run_sync
from tradelib.lake import Lake

from .scenarios import expiry_in, intent, marketable, option, position_qty, spot


def _trade(broker: Broker, sid: str, legs: list[Leg], purpose: OrderPurpose) -> None:
    order = intent(
        broker, legs, marketable(broker, legs), ref=make_order_ref(sid, purpose), purpose=purpose
    )
    broker.place_order(order)
    broker.wait(3)
    state = broker.order(order.order_ref)
    assert state is not None and state.status is OrderStatus.FILLED, state


def _held(lake: Lake) -> dict[str, dict[str, float]]:
    rows = lake.read("strategies", filter=pl.col("status") == "open").collect()
    return {
        r["strategy_id"]: {
            f"{d['strike']:g}{d['right']}": d["quantity"] for d in json.loads(r["legs_json"])
        }
        for r in rows.iter_rows(named=True)
    }


def test_two_call_spreads_sharing_a_strike_keep_their_legs_and_close_alone(
    broker: Broker, tmp_path: Path
) -> None:
    lake = Lake(tmp_path / "lake")
    expiry = expiry_in(broker, "IWM")
    s = spot(broker, "IWM")
    low, mid, high = (option(broker, "IWM", expiry, s * f, Right.CALL) for f in (1.03, 1.05, 1.07))
    assert len({low.strike, mid.strike, high.strike}) == 3
    k = {c.strike: f"{c.strike:g}C" for c in (low, mid, high)}
    # Y sells the middle call, X buys it: the account nets it to zero.
    _trade(broker, "y", [Leg(mid, -1), Leg(high, 1)], OrderPurpose.OPEN)
    _trade(broker, "x", [Leg(low, -1), Leg(mid, 1)], OrderPurpose.OPEN)
    assert position_qty(broker, mid) == 0

    report = run_sync(JobContext.of(broker, lake))

    assert report.ok and report.events == ()
    assert _held(lake) == {
        "x": {k[low.strike]: -1, k[mid.strike]: 1},
        "y": {k[mid.strike]: -1, k[high.strike]: 1},
    }
    types = lake.read("strategies").collect()["strategy_type"].to_list()
    assert types == ["call_credit_spread"] * 2

    # Closing X trades X's own legs only; Y is left whole.
    _trade(broker, "x", [Leg(low, 1), Leg(mid, -1)], OrderPurpose.CLOSE)
    report = run_sync(JobContext.of(broker, lake))

    assert report.ok and report.events == () and report.closed == (("x", "closed"),)
    assert _held(lake) == {"y": {k[mid.strike]: -1, k[high.strike]: 1}}
    assert position_qty(broker, mid) == -1 and position_qty(broker, low) == 0
