"""Cash and position accounting of the simulated account."""

from __future__ import annotations

from datetime import date

import pytest

from tradelib.broker.sim_ledger import Ledger
from tradelib.domain import Contract, Right

PUT = Contract.option("SPY", date(2026, 12, 31), 580, Right.PUT)
SPY = Contract.stock("SPY")


def test_selling_an_option_credits_premium_times_multiplier_less_commission() -> None:
    ledger = Ledger(cash=10_000.0)
    realized = ledger.apply_trade(PUT, -2, 1.25, commission=1.30)
    assert realized == 0.0
    assert ledger.cash == pytest.approx(10_000.0 + 250.0 - 1.30)
    (h,) = ledger.open_holdings()
    assert h.quantity == -2 and h.avg_cost == pytest.approx(125.0)


def test_buying_back_a_short_realizes_the_difference() -> None:
    ledger = Ledger(cash=10_000.0)
    ledger.apply_trade(PUT, -2, 1.25, commission=1.30)
    realized = ledger.apply_trade(PUT, 1, 0.40, commission=1.00)
    assert realized == pytest.approx(85.0)
    (h,) = ledger.open_holdings()
    assert h.quantity == -1 and h.avg_cost == pytest.approx(125.0)
    ledger.apply_trade(PUT, 1, 0.50, commission=1.00)
    assert ledger.open_holdings() == []
    assert ledger.realized_trading == pytest.approx(85.0 + 75.0)
    assert ledger.realized_pnl == pytest.approx(160.0 - 3.30)
    assert ledger.cash == pytest.approx(10_000.0 + 160.0 - 3.30)


def test_adding_to_a_position_averages_its_cost() -> None:
    ledger = Ledger(cash=100_000.0)
    ledger.apply_trade(SPY, 100, 600.0)
    ledger.apply_trade(SPY, 100, 610.0)
    (h,) = ledger.open_holdings()
    assert h.quantity == 200 and h.avg_cost == pytest.approx(605.0)


def test_a_trade_through_zero_flips_the_position_at_the_new_price() -> None:
    ledger = Ledger(cash=100_000.0)
    ledger.apply_trade(SPY, 100, 600.0)
    realized = ledger.apply_trade(SPY, -150, 590.0)
    assert realized == pytest.approx(-1_000.0)
    (h,) = ledger.open_holdings()
    assert h.quantity == -50 and h.avg_cost == pytest.approx(590.0)
