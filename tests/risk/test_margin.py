"""Reg-T style margin of the simulated account, one strategy shape at a time."""

from __future__ import annotations

from datetime import date

import pytest

from tradelib.domain import Contract, Position, Right
from tradelib.risk.margin import margin_requirement

EXP = date(2026, 12, 31)
SPOT = {"SPY": 600.0}


def opt(strike: float, right: Right, qty: float, avg_price: float, mark: float) -> Position:
    """An option position: ``avg_price`` and ``mark`` per share, avg_cost IB style."""
    c = Contract.option("SPY", EXP, strike, right)
    return Position(c, qty, avg_price * 100, market_price=mark, market_value=qty * mark * 100)


def test_a_put_credit_spread_needs_its_width_minus_the_credit() -> None:
    # 600/595 sold for 2.00 - 0.80 = 1.20 credit: max loss (5 - 1.20) x 100.
    spread = [opt(600, Right.PUT, -1, 2.00, 1.9), opt(595, Right.PUT, 1, 0.80, 0.7)]
    assert margin_requirement(spread, SPOT).total == pytest.approx(380.0)


def test_margin_scales_with_the_number_of_spreads() -> None:
    spread = [opt(600, Right.PUT, -3, 2.00, 1.9), opt(595, Right.PUT, 3, 0.80, 0.7)]
    assert margin_requirement(spread, SPOT).total == pytest.approx(3 * 380.0)


def test_a_call_credit_spread_is_defined_risk_too() -> None:
    spread = [opt(620, Right.CALL, -1, 1.50, 1.5), opt(625, Right.CALL, 1, 0.50, 0.5)]
    assert margin_requirement(spread, SPOT).total == pytest.approx(400.0)


def test_an_iron_condor_needs_only_the_wider_side_minus_the_whole_credit() -> None:
    condor = [
        opt(580, Right.PUT, -1, 1.50, 1.4),
        opt(575, Right.PUT, 1, 0.50, 0.4),
        opt(620, Right.CALL, -1, 1.20, 1.1),
        opt(630, Right.CALL, 1, 0.40, 0.3),
    ]
    # Wider side: the 10-wide calls (1,000); credit 1.00 + 0.80.
    assert margin_requirement(condor, SPOT).total == pytest.approx(1000.0 - 180.0)


def test_a_naked_short_put_uses_twenty_percent_of_the_underlying_less_otm_plus_premium() -> None:
    # 20% x 600 - 30 OTM = 90 beats 10% x 570 = 57; plus the 2.00 premium.
    naked = [opt(570, Right.PUT, -1, 2.50, 2.00)]
    assert margin_requirement(naked, SPOT).total == pytest.approx(9000.0 + 200.0)


def test_a_far_otm_naked_put_falls_back_to_ten_percent_of_the_strike() -> None:
    naked = [opt(450, Right.PUT, -2, 0.30, 0.10)]
    assert margin_requirement(naked, SPOT).total == pytest.approx(2 * (4500.0 + 10.0))


def test_a_naked_short_call_uses_ten_percent_of_the_underlying_as_its_floor() -> None:
    near = [opt(630, Right.CALL, -1, 1.50, 1.50)]
    assert margin_requirement(near, SPOT).total == pytest.approx(9000.0 + 150.0)
    far = [opt(800, Right.CALL, -1, 0.05, 0.05)]
    assert margin_requirement(far, SPOT).total == pytest.approx(6000.0 + 5.0)


def test_a_short_strangle_charges_the_larger_side_plus_the_other_premium() -> None:
    strangle = [opt(570, Right.PUT, -1, 2.50, 2.00), opt(630, Right.CALL, -1, 1.50, 1.50)]
    assert margin_requirement(strangle, SPOT).total == pytest.approx(9200.0 + 150.0)


def test_long_options_need_no_margin_and_a_debit_spread_needs_none_either() -> None:
    longs = [opt(600, Right.CALL, 2, 5.0, 5.5)]
    assert margin_requirement(longs, SPOT).total == 0.0
    debit = [opt(600, Right.PUT, 1, 8.0, 8.0), opt(590, Right.PUT, -1, 5.0, 5.0)]
    assert margin_requirement(debit, SPOT).total == 0.0


def test_a_short_without_enough_cover_is_partly_naked() -> None:
    # Two short puts, one long: one spread plus one naked put.
    mixed = [opt(600, Right.PUT, -2, 2.00, 2.0), opt(595, Right.PUT, 1, 0.80, 0.8)]
    spread = 500.0 - (200.0 - 80.0)
    naked = 20_000.0 * 0.6 + 200.0  # 20% x 600 = 120 (at the money) x 100 + premium
    assert margin_requirement(mixed, SPOT).total == pytest.approx(spread + naked)


def test_stock_needs_half_its_value_and_totals_are_kept_per_underlying() -> None:
    stock = Position(Contract.stock("SPY"), 100, 60_000.0 / 100, 600.0, 60_000.0)
    naked_qqq = Position(Contract.option("QQQ", EXP, 500, Right.PUT), -1, 300.0, 3.0, -300.0)
    result = margin_requirement([stock, naked_qqq], {"SPY": 600.0, "QQQ": 520.0})
    assert result.by_underlying["SPY"] == pytest.approx(30_000.0)
    # 20% x 520 - 20 OTM = 84 vs 10% x 500 = 50 -> 8,400 + 300 premium.
    assert result.by_underlying["QQQ"] == pytest.approx(8_700.0)
    assert result.total == pytest.approx(38_700.0)


def test_a_naked_short_without_an_underlying_price_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match="SPY"):
        margin_requirement([opt(570, Right.PUT, -1, 2.5, 2.0)], {})
