"""Skew-aware strike selection: the skew ratio, skew-adjusted target deltas, and the
binary search on delta that finds strikes (SPEC part 8).

Skew ratio = put IV / call IV at the same absolute delta (0.25 by default),
each side's IV interpolated linearly in |delta| between the two listed
strikes that bracket it. Above ``high_put`` puts are rich (high put skew),
below ``high_call`` calls are; the rich side's short-leg target delta is
raised by ``adjust_pct`` (capped at ``max_delta``) so that side collects more
of the premium it is overpaying for. No usable IV means a neutral 1.0, and
the reading says why.

|delta| rises with strike for puts and falls for calls, so each side's
deltas are sorted once we read them in strike order (one reversal for
calls); ``np.searchsorted`` then bisects them in O(log n).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

import numpy as np

from tradelib.config import SkewConfig, TradingConfig
from tradelib.domain import Right
from tradelib.entry.chain import ExpiryChain, FloatArray, OptionChain


class SkewInterpretation(StrEnum):
    HIGH_PUT_SKEW = "high_put_skew"
    HIGH_CALL_SKEW = "high_call_skew"
    NEUTRAL = "neutral"


@dataclass(frozen=True, slots=True)
class SkewReading:
    """The skew of one expiry. ``fallback`` True means no usable IV: ratio 1.0, ``reason`` says why."""

    expiry: date
    ratio: float
    interpretation: SkewInterpretation
    put_iv: float  # NaN when unavailable
    call_iv: float
    matching_delta: float
    reason: str
    fallback: bool = False


@dataclass(frozen=True, slots=True)
class StrikePick:
    """The listed strike whose |delta| is nearest ``target_delta`` on one side of an expiry."""

    right: Right
    row: int  # row in the ExpiryChain
    strike: float
    delta: float
    iv: float
    target_delta: float
    model_greeks: bool  # the delta is ours (the source had none)


@dataclass(frozen=True, slots=True)
class SkewAwareStrikes:
    """Short-leg strikes of one expiry after the skew adjustment (None: no delta on that side)."""

    expiry: date
    skew: SkewReading
    put_target: float
    call_target: float
    put: StrikePick | None
    call: StrikePick | None


def _side_by_abs_delta(exp: ExpiryChain, right: Right) -> tuple[FloatArray, np.ndarray]:
    """(|delta| ascending, matching row numbers) of one side; rows without delta dropped."""
    rows = np.arange(exp.side(right).start, exp.side(right).stop)
    abs_delta = np.abs(exp.delta[rows])
    ok = np.isfinite(abs_delta)
    rows, abs_delta = rows[ok], abs_delta[ok]
    if right is Right.CALL:  # call |delta| falls as the strike rises
        rows, abs_delta = rows[::-1], abs_delta[::-1]
    return abs_delta, rows


def nearest_delta_row(abs_delta: FloatArray, target: float) -> int | None:
    """Index in ascending ``abs_delta`` nearest ``target`` by bisection (ties: the lower delta)."""
    n = len(abs_delta)
    if n == 0:
        return None
    i = int(np.searchsorted(abs_delta, target))
    if i == 0:
        return 0
    if i == n:
        return n - 1
    below, above = float(abs_delta[i - 1]), float(abs_delta[i])
    nearest: int = i - 1 if target - below <= above - target else i
    return nearest


class SmartStrikeSelector:
    """Finds short-leg strikes by delta, leaning into whichever side the skew makes rich."""

    def __init__(self, skew: SkewConfig, target_delta: float) -> None:
        self.skew = skew
        self.target_delta = target_delta

    @classmethod
    def from_config(cls, cfg: TradingConfig) -> SmartStrikeSelector:
        return cls(cfg.strategies.skew, cfg.strategies.target_delta)

    # --- skew ----------------------------------------------------------------------------------
    def calculate_skew_ratio(self, chain: OptionChain, expiry: date) -> SkewReading:
        """Put IV / call IV at the matching |delta| for ``expiry`` of ``chain``."""
        return self.skew_of(chain.expiry(expiry))

    def skew_of(self, exp: ExpiryChain) -> SkewReading:
        """``calculate_skew_ratio`` on one expiry's arrays."""
        target = self.skew.matching_delta
        put_iv, put_why = _iv_at_abs_delta(exp, Right.PUT, target)
        call_iv, call_why = _iv_at_abs_delta(exp, Right.CALL, target)
        problems = [why for why in (put_why, call_why) if why]
        if problems:
            return SkewReading(
                exp.expiry,
                1.0,
                SkewInterpretation.NEUTRAL,
                put_iv,
                call_iv,
                target,
                "no usable IV, neutral 1.0: " + "; ".join(problems),
                fallback=True,
            )
        ratio = put_iv / call_iv
        cfg = self.skew
        at = f"put IV {put_iv:.4f} / call IV {call_iv:.4f} at |delta| {target:g} = {ratio:.3f}"
        if ratio > cfg.high_put:
            kind, why = SkewInterpretation.HIGH_PUT_SKEW, f"{at} > {cfg.high_put:g}"
        elif ratio < cfg.high_call:
            kind, why = SkewInterpretation.HIGH_CALL_SKEW, f"{at} < {cfg.high_call:g}"
        else:
            kind, why = (
                SkewInterpretation.NEUTRAL,
                f"{at} within [{cfg.high_call:g}, {cfg.high_put:g}]",
            )
        return SkewReading(exp.expiry, ratio, kind, put_iv, call_iv, target, why)

    def adjust_target_delta_for_skew(
        self, base_delta: float, reading: SkewReading
    ) -> tuple[float, float]:
        """(put target, call target): the rich side raised by ``adjust_pct``, capped at ``max_delta``.

        A base already above the cap is left as it is: the adjustment never
        lowers a target.
        """
        raised = max(
            base_delta, min(base_delta * (1.0 + self.skew.adjust_pct), self.skew.max_delta)
        )
        if reading.interpretation is SkewInterpretation.HIGH_PUT_SKEW:
            return raised, base_delta
        if reading.interpretation is SkewInterpretation.HIGH_CALL_SKEW:
            return base_delta, raised
        return base_delta, base_delta

    # --- strikes ---------------------------------------------------------------------------
    def find_strike(self, exp: ExpiryChain, right: Right, target_delta: float) -> StrikePick | None:
        """The strike of ``right`` whose |delta| is nearest ``target_delta`` (binary search)."""
        abs_delta, rows = _side_by_abs_delta(exp, right)
        i = nearest_delta_row(abs_delta, target_delta)
        if i is None:
            return None
        row = int(rows[i])
        return StrikePick(
            right,
            row,
            float(exp.strike[row]),
            float(exp.delta[row]),
            float(exp.iv[row]),
            target_delta,
            bool(exp.model_greeks[row]),
        )

    def select_strikes(self, exp: ExpiryChain, base_delta: float | None = None) -> SkewAwareStrikes:
        """Skew reading, adjusted targets and the short put and call strikes of one expiry."""
        reading = self.skew_of(exp)
        base = self.target_delta if base_delta is None else base_delta
        put_target, call_target = self.adjust_target_delta_for_skew(base, reading)
        return SkewAwareStrikes(
            exp.expiry,
            reading,
            put_target,
            call_target,
            self.find_strike(exp, Right.PUT, put_target),
            self.find_strike(exp, Right.CALL, call_target),
        )


def _iv_at_abs_delta(exp: ExpiryChain, right: Right, target: float) -> tuple[float, str]:
    """IV interpolated at |delta| = ``target`` on one side: (iv, "") or (NaN, why not)."""
    abs_delta, rows = _side_by_abs_delta(exp, right)
    iv = exp.iv[rows]
    ok = np.isfinite(iv) & (iv > 0)
    abs_delta, iv = abs_delta[ok], iv[ok]
    side = "put" if right is Right.PUT else "call"
    if abs_delta.shape[0] == 0:
        return math.nan, f"no {side} with both IV and delta"
    i = int(np.searchsorted(abs_delta, target))
    if i < abs_delta.shape[0] and abs_delta[i] == target:
        return float(iv[i]), ""
    if i == 0 or i == abs_delta.shape[0]:
        return math.nan, (
            f"{side} |delta| spans {abs_delta[0]:.3f}-{abs_delta[-1]:.3f}, not {target:g}"
        )
    d0, d1, v0, v1 = abs_delta[i - 1], abs_delta[i], iv[i - 1], iv[i]
    w = (target - d0) / (d1 - d0)
    return float(v0 + w * (v1 - v0)), ""


__all__ = [
    "SkewAwareStrikes",
    "SkewInterpretation",
    "SkewReading",
    "SmartStrikeSelector",
    "StrikePick",
    "nearest_delta_row",
]
