"""How SimBroker fills orders and what it charges: pure functions over prices and quotes.

Price convention (``tradelib.domain.orders``): a net price is what we pay per
unit (positive = debit, negative = credit); ``natural`` is the marketable net
price (ask on bought legs, bid on sold legs) and ``mid`` the midpoint net price.
So for debits and credits alike a higher limit is more aggressive and an order
is marketable when ``limit >= natural``.

Between mid and natural a resting order fills with a hazard (probability per
second) that grows with its *aggressiveness* ``x = (limit - mid) / (natural -
mid)``: ``max_hazard_per_s * x ** exponent``, and never at or below mid. That
is the behaviour an executor walking its price from mid toward natural relies
on. Every draw is a deterministic function of the seed, the order reference and
the simulated second, so a run replays exactly.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from tradelib.domain import SecType


@dataclass(frozen=True, slots=True)
class FillModel:
    """Knobs of the simulated matching engine.

    ``slippage_spread_frac``: a marketable order pays up to this fraction of
    the combo's natural-minus-mid distance beyond natural (never beyond its
    limit). ``check_interval_s``: how often working orders are re-checked while
    time passes; ``idle_interval_s``: the step used when every working order
    rests at or below mid (they cannot fill until the market moves to them).
    """

    max_hazard_per_s: float = 0.2
    exponent: float = 2.0
    slippage_spread_frac: float = 0.1
    check_interval_s: float = 1.0
    idle_interval_s: float = 30.0

    def __post_init__(self) -> None:
        if not (0.0 < self.max_hazard_per_s <= 1.0):
            raise ValueError(f"max_hazard_per_s must be in (0, 1], got {self.max_hazard_per_s}")
        if not (self.exponent > 0):
            raise ValueError(f"exponent must be > 0, got {self.exponent}")
        if not (0.0 <= self.slippage_spread_frac <= 1.0):
            raise ValueError(
                f"slippage_spread_frac must be in [0, 1], got {self.slippage_spread_frac}"
            )
        if not (self.check_interval_s > 0 and self.idle_interval_s >= self.check_interval_s):
            raise ValueError(
                "need 0 < check_interval_s <= idle_interval_s, got "
                f"{self.check_interval_s} and {self.idle_interval_s}"
            )


def uniform(seed: int, *parts: object) -> float:
    """Deterministic uniform draw in [0, 1) from ``seed`` and ``parts``."""
    text = "\x1f".join([str(seed), *(str(p) for p in parts)]).encode()
    digest = hashlib.blake2b(text, digest_size=8).digest()
    n: int = struct.unpack(">Q", digest)[0]
    return (n >> 11) / float(1 << 53)


def aggressiveness(limit: float, mid: float, natural: float) -> float:
    """Where ``limit`` sits between mid (0) and natural (1); ``inf`` for a zero-width market."""
    width = natural - mid
    if width <= 1e-12:
        return math.inf if limit >= natural - 1e-9 else -math.inf
    return (limit - mid) / width


def fill_probability(x: float, dt_s: float, model: FillModel) -> float:
    """Probability that a resting order at aggressiveness ``x`` fills within ``dt_s`` seconds."""
    if x <= 0.0 or dt_s <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    hazard = model.max_hazard_per_s * math.pow(x, model.exponent)
    return 1.0 - math.pow(1.0 - hazard, dt_s)


def marketable_price(
    limit: float | None, mid: float, natural: float, draw: float, model: FillModel
) -> float:
    """Net fill price of a marketable order: natural plus slippage, capped at ``limit``.

    A limit more aggressive than natural is improved down to (natural +
    slippage); a market order (``limit`` None) pays the slippage in full.
    """
    slip = model.slippage_spread_frac * max(natural - mid, 0.0) * draw
    price = natural + slip
    return price if limit is None else min(limit, price)


def leg_prices(
    net: float,
    ratios: Sequence[int],
    mids: Sequence[float],
    naturals: Sequence[float],
) -> list[float]:
    """Split a combo's net fill price into one price per leg (each >= 0).

    Every leg sits at the same fraction of the way from its mid toward its
    natural side as the net price does, so ``sum(ratio * price) == net``
    exactly unless a leg had to be clamped at zero (then the net improves).
    """
    mid_net = sum(r * m for r, m in zip(ratios, mids, strict=True))
    nat_net = sum(r * n for r, n in zip(ratios, naturals, strict=True))
    width = nat_net - mid_net
    if abs(width) <= 1e-12:
        # Zero-width market: every leg trades at its mid, the net is the mid.
        return [max(m, 0.0) for m in mids]
    x = (net - mid_net) / width
    return [max(m + x * (n - m), 0.0) for m, n in zip(mids, naturals, strict=True)]


def on_tick_grid(
    net: float, ratios: Sequence[int], prices: Sequence[float], ticks: Sequence[float]
) -> list[float]:
    """Move per-leg prices onto each leg's tick grid keeping ``sum(ratio * price) == net``.

    Legs are rounded to their nearest tick; the cents left over go to the first leg
    whose ratio and tick can carry them exactly. When none can, legs move one tick
    in the customer's favour until the net is no worse than ``net`` (it improves by
    less than a tick), never below zero.
    """
    out = [max(round(p / t) * t, 0.0) for p, t in zip(prices, ticks, strict=True)]

    def residual() -> float:
        return net - sum(r * p for r, p in zip(ratios, out, strict=True))

    order = sorted(range(len(out)), key=lambda i: (abs(ratios[i]) != 1, -out[i]))
    for i in order:
        left = residual()
        if abs(left) <= 1e-9:
            break
        steps = left / ratios[i] / ticks[i]
        if abs(steps - round(steps)) <= 1e-6 and out[i] + round(steps) * ticks[i] >= -1e-9:
            out[i] += round(steps) * ticks[i]
    for i in order:
        while residual() < -1e-9:
            better = out[i] - ticks[i] if ratios[i] > 0 else out[i] + ticks[i]
            if better < -1e-9:
                break
            out[i] = better
    return [round(max(p, 0.0), 6) for p in out]


@dataclass(frozen=True, slots=True)
class CommissionSchedule:
    """IB-like fixed commissions; the minimums apply per order (over all its fills)."""

    option_per_contract: float = 0.65
    option_min_per_order: float = 1.00
    stock_per_share: float = 0.005
    stock_min_per_order: float = 1.00
    future_per_contract: float = 2.25

    def order_total(self, contracts_by_type: dict[SecType, float]) -> float:
        """Total commission of an order that has filled these absolute quantities so far."""
        total = 0.0
        options = contracts_by_type.get(SecType.OPTION, 0.0)
        if options > 0:
            total += max(options * self.option_per_contract, self.option_min_per_order)
        shares = contracts_by_type.get(SecType.STOCK, 0.0)
        if shares > 0:
            total += max(shares * self.stock_per_share, self.stock_min_per_order)
        futures = contracts_by_type.get(SecType.FUTURE, 0.0)
        if futures > 0:
            total += futures * self.future_per_contract
        return round(total, 10)
