"""What an acting decision asks of the executor, recorded with it and read back."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date

from tradelib.domain import Decision, DecisionAction, Urgency, utc
from tradelib.rules.exits import ExitOrder

D = Decision(
    decision_id="s1:t:stop_loss",
    strategy_id="s1",
    ts=utc(2026, 11, 24, 15),
    rule="stop_loss",
    priority=1.0,
    action=DecisionAction.ROLL,
    urgency=Urgency.HIGH,
    reason="loss",
    inputs={"loss": 2.1},
)


def test_a_bound_and_a_roll_expiry_survive_the_round_trip() -> None:
    order = ExitOrder(bound=1.2345, roll_expiry=date(2027, 1, 8))
    back = ExitOrder.of(replace(D, inputs={**D.inputs, **order.inputs()}))
    assert back == order
    assert order.inputs() == {"order_bound": 1.2345, "roll_expiry": "2027-01-08"}


def test_a_skip_reason_wins_and_carries_no_bound() -> None:
    order = ExitOrder(skip_reason="invalid quote: SPY crossed")
    assert order.inputs() == {"skip_reason": "invalid quote: SPY crossed"}
    assert ExitOrder.of(replace(D, inputs={"skip_reason": "x", "order_bound": 1.0})).bound is None


def test_a_bound_that_is_not_a_finite_number_is_no_bound() -> None:
    for bad in (None, "1.2", True, math.nan, math.inf):
        assert ExitOrder.of(replace(D, inputs={"order_bound": bad})).bound is None
    assert ExitOrder.of(replace(D, inputs={"order_bound": 2})).bound == 2.0
