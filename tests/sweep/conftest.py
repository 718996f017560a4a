"""Tiny sweeps for the runner and report tests: short simulated runs, few cycles a day."""

from __future__ import annotations

from typing import Any

from tradelib.config import TradingConfig

BASE = TradingConfig()
END = "2026-11-25"


def tiny_grid(values: list[float] | None = None, *, days: int = 2, **extra: Any) -> dict[str, Any]:
    """``len(values)`` points of ``days`` simulated days, 2 monitoring cycles a day."""
    return {
        "grid": {"profit_targets.fixed": values or [0.4, 0.6]},
        "seeds": [5],
        "markets": [{"source": "sim", "days": days, "end": END}],
        "cycles_per_day": 2,
        **extra,
    }
