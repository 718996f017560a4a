"""Risk fixtures: hand-built positions, greeks and accounts with round numbers."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tradelib.domain import AccountSnapshot, Contract, Leg, OptionGreeks, Position, Right, utc
from tradelib.lake import Lake
from tradelib.risk import PortfolioRiskCalculator

T0 = utc(2026, 11, 24, 15)  # Tuesday 10:00 New York
EXPIRY = date(2026, 12, 24)
SPOTS = {"SPY": 600.0, "QQQ": 500.0, "IWM": 220.0}
BETAS = {"SPY": 1.0, "QQQ": 1.2, "IWM": 1.1}


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


@pytest.fixture
def calc() -> PortfolioRiskCalculator:
    return PortfolioRiskCalculator(BETAS, SPOTS)


def option(symbol: str, strike: float, right: Right = Right.PUT) -> Contract:
    return Contract.option(symbol, EXPIRY, strike, right)


def greeks(delta: float, gamma: float = 0.0, theta: float = 0.0, vega: float = 0.0) -> OptionGreeks:
    return OptionGreeks(delta, gamma, theta, vega, iv=0.2)


def held(contract: Contract, quantity: float, price: float) -> Position:
    """A position opened at ``price`` per share and still marked there."""
    mult = contract.multiplier
    return Position(contract, quantity, price * mult, price, quantity * price * mult)


def account(
    net_liquidation: float = 100_000.0, init_margin: float = 0.0, day_pnl: float = 0.0
) -> AccountSnapshot:
    return AccountSnapshot(
        ts=T0,
        account="DU***01",
        net_liquidation=net_liquidation,
        cash=net_liquidation,
        buying_power=net_liquidation - init_margin,
        excess_liquidity=net_liquidation - init_margin,
        init_margin=init_margin,
        maint_margin=init_margin,
        day_pnl=day_pnl,
    )


def put_spread(symbol: str, short_strike: float, width: float = 5.0) -> tuple[Leg, Leg]:
    """A put credit spread per unit: short the higher strike, long ``width`` below."""
    return Leg(option(symbol, short_strike), -1), Leg(option(symbol, short_strike - width), +1)


def spread_marks(legs: tuple[Leg, Leg], credit: float = 1.0) -> dict[str, float]:
    """Marks that make the spread worth ``credit`` (short leg 2 + credit, long leg 2)."""
    short, long = legs
    return {short.contract.key: 2.0 + credit, long.contract.key: 2.0}


def spread_greeks(legs: tuple[Leg, Leg]) -> dict[str, OptionGreeks]:
    short, long = legs
    return {short.contract.key: greeks(-0.20, 0.01), long.contract.key: greeks(-0.12, 0.008)}
