"""Option pricing: Black-Scholes-Merton prices, greeks, implied vol and tick rules.

All functions take scalars or arrays that broadcast together and return float64
arrays. Units: ``t`` in years (ACT/365), vol/rate/div_yield as decimals,
continuously compounded; theta per calendar day, vega per vol point, rho per 1%.
"""

from tradelib.pricing.black_scholes import Greeks, PriceCode, bs_greeks, bs_price, price_codes
from tradelib.pricing.implied_vol import (
    T_FLOOR_YEARS,
    IVCode,
    IVResult,
    implied_vol,
    iv_and_greeks,
    solver_iterations,
)
from tradelib.pricing.ticks import (
    TickRule,
    aggressive_direction,
    passive_direction,
    round_to_tick,
    tick_rule_for,
    tick_size,
)

__all__ = [
    "T_FLOOR_YEARS",
    "Greeks",
    "IVCode",
    "IVResult",
    "PriceCode",
    "TickRule",
    "aggressive_direction",
    "bs_greeks",
    "bs_price",
    "implied_vol",
    "iv_and_greeks",
    "passive_direction",
    "price_codes",
    "round_to_tick",
    "solver_iterations",
    "tick_rule_for",
    "tick_size",
]
