"""One "% of max profit": the dashboard shows the number the take-profit rules act on."""

from __future__ import annotations

import json

import polars as pl
import pytest

from tradelib.dashboards.monitoring_queries.book import _own_pnl
from tradelib.domain import Strategy
from tradelib.domain.pnl import profit_fraction, strategy_pnl
from tradelib.rules import build_strategy_state

from ..rules.scenarios import NOW, SPOT, leg_quotes, put_spread


def _con_id(strike: float) -> int:
    return {580: 1, 575: 585, 570: 580}[int(strike)]


def _legs_json(strat: Strategy) -> str:
    return json.dumps(
        [
            {"con_id": _con_id(leg.contract.strike), "quantity": leg.ratio * strat.quantity}
            for leg in strat.legs
        ]
    )


def test_a_contract_shared_by_two_spreads_gives_each_its_own_profit_of_max() -> None:
    # both spreads are short the 580 put: the broker holds -2 of it, one position row
    a = put_spread(580, 575, credit=1.50)
    b = put_spread(580, 570, credit=2.00)
    mids = {580: 3.0, 575: 1.25, 570: 0.5}
    table = pl.DataFrame(
        {
            "strategy_id": ["a", "b"],
            "credit": [1.50, 2.00],
            "units": [1.0, 1.0],
            "legs_json": [_legs_json(a), _legs_json(b)],
            "unrealized_pnl": [-180.0, 40.0],  # the broker's, all of the 580P landed on "a"
            "max_profit": [a.max_profit, b.max_profit],
        }
    )
    legs = pl.DataFrame(
        {
            "con_id": [1, 585, 580],
            "market_price": [mids[580], mids[575], mids[570]],
            "multiplier": [100.0, 100.0, 100.0],
        }
    )
    own = dict(_own_pnl(table, legs).iter_rows())

    for sid, strat in (("a", a), ("b", b)):
        state = build_strategy_state(
            strat,
            leg_quotes(strat, [mids[int(leg.contract.strike)] for leg in strat.legs]),
            SPOT,
            NOW,
        )
        assert own[sid] == pytest.approx(state.pnl)
        assert profit_fraction(own[sid], strat.max_profit) == pytest.approx(state.profit_fraction)
    assert own["a"] == pytest.approx((1.50 - 3.0 + 1.25) * 100)


def test_unknown_marks_or_no_max_profit_give_no_fraction() -> None:
    assert strategy_pnl(1.0, 1, 100, [(-1, 2.0), (1, None)]) is None
    assert profit_fraction(50.0, None) is None
    assert profit_fraction(50.0, float("inf")) is None
    assert profit_fraction(-38.0, 100.0) == pytest.approx(-0.38)
