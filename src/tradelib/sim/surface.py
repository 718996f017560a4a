"""Implied-vol surface and option bid/ask of the simulated market (pure functions)."""

from __future__ import annotations

import math

import numpy as np

from tradelib.sim.types import FloatArray, IntArray

LONG_RUN_ATM_VOL = 0.18  # long-run 30-day ATM vol for a VIX ratio of 1
TERM_KAPPA = 4.0  # per year: how fast the term structure reaches its long-run level
VIX_TENOR = 30.0 / 365.0
# Smile in z = ln(K/F) / sqrt(t), in vol (decimal) per unit of z.
CALL_SLOPE = 0.12  # IV falls this fast above the forward before the call wing turns up
CALL_CURVE = 0.12
PUT_CURVE = 0.10
MAX_Z = 4.0
MAX_WING_PREMIUM = 1.5  # IV never exceeds ATM + 150 vol points
MAX_MONEYNESS_SD = 6.0


def _term_weight(t: FloatArray | float) -> FloatArray:
    kt = np.maximum(TERM_KAPPA * np.asarray(t, dtype=np.float64), 1e-12)
    return np.asarray(-np.expm1(-kt) / kt, dtype=np.float64)


def atm_vol(vix: float, atm_ratio: float, t: float) -> float:
    """Return the ATM implied vol at ``t`` years, anchored to ``vix`` x ``atm_ratio`` at 30 days.

    Mean-reverting variance term structure: upward when short-dated vol is
    below its long-run level (calm), inverted when above (stress).
    """
    v30 = vix / 100.0 * atm_ratio
    v_inf = LONG_RUN_ATM_VOL * atm_ratio
    w30 = float(_term_weight(VIX_TENOR))
    v0_sq = max(v_inf**2 + (v30**2 - v_inf**2) / w30, (0.5 * v30) ** 2)
    var = v_inf**2 + (v0_sq - v_inf**2) * float(_term_weight(t))
    return float(np.sqrt(var))


def surface_iv(
    forward: float, strikes: FloatArray, t: float, atm: float, put_skew: float
) -> tuple[FloatArray, FloatArray]:
    """Return ``(iv, moneyness_sd)`` for ``strikes``: put skew plus a smaller call-wing smile.

    With ``z = ln(K/F) / sqrt(t)``: IV = atm + put_skew |z| + 0.10 z^2 below the
    forward, atm - 0.12 z + 0.12 z^2 above it. ``moneyness_sd`` is
    ``z / atm`` (standard deviations), which widens the bid/ask in the wings.
    Calls and puts of one strike share one IV, so put-call parity holds.
    """
    z = np.log(strikes / forward) / np.sqrt(t)
    zc = np.clip(z, -MAX_Z, MAX_Z)
    down = atm - put_skew * zc + PUT_CURVE * zc**2
    up = atm - CALL_SLOPE * zc + CALL_CURVE * zc**2
    iv = np.clip(np.where(zc < 0.0, down, up), 0.5 * atm, atm + MAX_WING_PREMIUM)
    return iv, z / atm


def option_book(
    theo: FloatArray, moneyness: FloatArray, width_mult: float
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Return ``(bid, ask, mid, last)`` on $0.01 ticks around theoretical prices.

    Width grows with price and with distance from the money (wings are wider
    relative to their mid); ``width_mult`` carries the underlying and regime.
    Bid is rounded down and ask up, never crossed, bid >= 0; an option worth
    less than half a cent bids 0.00.
    """
    width = width_mult * (0.01 + 0.003 * theo) * (1.0 + 0.4 * np.minimum(np.abs(moneyness), 5.0))
    cents_bid = np.floor((theo - width / 2.0) * 100.0 + 1e-9)
    cents_ask = np.ceil((theo + width / 2.0) * 100.0 - 1e-9)
    cents_bid = np.maximum(cents_bid, 0.0)
    cents_ask = np.maximum(cents_ask, np.maximum(cents_bid + 1.0, 1.0))
    bid = cents_bid / 100.0
    ask = cents_ask / 100.0
    mid = (cents_bid + cents_ask) / 200.0
    last = np.clip(np.round(theo, 2), bid, ask)
    return bid, ask, mid, last


_U64 = (1 << 64) - 1
_GOLDEN, _MIX1, _MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _mix_int(h: int, part: int) -> int:
    """One splitmix64 round in exact integer arithmetic (mod 2**64), as ``mix_hash`` does."""
    h = ((h ^ (part & _U64)) + _GOLDEN) & _U64
    h = ((h ^ (h >> 30)) * _MIX1) & _U64
    h = ((h ^ (h >> 27)) * _MIX2) & _U64
    return h ^ (h >> 31)


def mix_hash(*parts: IntArray | int) -> IntArray:
    """Return a deterministic 63-bit hash of integer arrays (splitmix64), elementwise."""
    arrays = [np.asarray(p) for p in parts]
    shape = np.broadcast(*arrays).shape
    # Leading plain ints (the seed, a timestamp) mix the same into every element:
    # hash them once in Python integers and start the arrays from that state.
    head, start = 0, 0
    if shape:
        while start < len(parts) and _is_int64(parts[start]):
            head = _mix_int(head, int(parts[start]))
            start += 1
        if math.prod(shape) <= _SMALL and all(a.dtype.kind in "biu" for a in arrays[start:]):
            return _mix_small(head, arrays[start:], shape)
    h = np.full(shape, head, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for part in parts[start:]:
            h ^= np.asarray(part).astype(np.uint64)
            h += np.uint64(0x9E3779B97F4A7C15)
            h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            h ^= h >> np.uint64(31)
    return (h >> np.uint64(1)).astype(np.int64)


# Up to this many elements, Python integers beat numpy's fixed cost per operation.
_SMALL = 32


def _mix_small(head: int, arrays: list[np.ndarray], shape: tuple[int, ...]) -> IntArray:
    """``mix_hash`` of a few elements in exact integer arithmetic (the same bits)."""
    n = math.prod(shape)
    columns = [
        [a.item()] * n
        if a.size == 1
        else (a.ravel() if a.shape == shape else np.broadcast_to(a, shape).ravel()).tolist()
        for a in arrays
    ]
    out = []
    for values in zip(*columns, strict=True):
        h = head
        for v in values:
            h = _mix_int(h, int(v))
        out.append(h >> 1)
    return np.array(out, dtype=np.int64).reshape(shape)


def _is_int64(part: object) -> bool:
    return isinstance(part, int | np.integer) and -(1 << 63) <= int(part) < (1 << 63)
