"""The futures collector's settings and its run report.

``CollectorSettings`` says what is collected and how often (filled from
``cfg.futures`` by ``from_config``); ``CollectorReport`` is what one run did,
with a short human summary for the CLI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tradelib.config import TradingConfig


@dataclass(frozen=True, slots=True)
class CollectorSettings:
    """How the collector runs; ``from_config`` fills it from ``cfg.futures``."""

    roots: tuple[str, ...] = ("ES", "NQ", "RTY")
    spot_pairs: dict[str, str] = field(
        default_factory=lambda: {"ES": "SPY", "NQ": "QQQ", "RTY": "IWM"}
    )
    bar_seconds: int = 1
    flush_interval_s: float = 60.0  # seconds between lake commits
    poll_interval_s: float = 30.0  # seconds between Broker.bars requests (IB pacing)
    roll_days: int = 8  # calendar days before expiry to move to the next quarter
    # IB serves 1-s bars for at most 30 minutes back: resume from the lake
    # within that window, record anything older as a gap.
    resume_window_s: float = 1800.0
    step_s: float = 1.0  # longest single wait, so a stop request is seen within a second
    reconnect_delays_s: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)

    def __post_init__(self) -> None:
        if not self.roots:
            raise ValueError("CollectorSettings.roots is empty")
        for name in ("flush_interval_s", "poll_interval_s", "step_s", "resume_window_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"CollectorSettings.{name} must be > 0, got {value}")
        if self.bar_seconds <= 0:
            raise ValueError(f"CollectorSettings.bar_seconds must be > 0, got {self.bar_seconds}")
        if not self.reconnect_delays_s:
            raise ValueError("CollectorSettings.reconnect_delays_s is empty")

    @classmethod
    def from_config(cls, cfg: TradingConfig, **overrides: Any) -> CollectorSettings:
        """Build from ``cfg.futures``; keyword arguments override single fields."""
        f = cfg.futures
        values: dict[str, Any] = {
            "roots": tuple(f.symbols),
            "spot_pairs": dict(f.spot_pairs),
            "bar_seconds": f.bar_seconds,
            "flush_interval_s": float(f.flush_interval_s),
            "roll_days": f.roll_days_before_expiry,
        }
        values.update(overrides)
        return cls(**values)

    @property
    def spots(self) -> tuple[str, ...]:
        """The ETFs collected next to the roots (those with a spot pair)."""
        return tuple(dict.fromkeys(self.spot_pairs[r] for r in self.roots if r in self.spot_pairs))


@dataclass(slots=True)
class CollectorReport:
    """What one collector run did."""

    started_at: datetime | None = None
    stopped_at: datetime | None = None
    polls: int = 0
    flushes: int = 0
    rows_written: int = 0
    reconnects: int = 0
    gaps: list[dict[str, Any]] = field(default_factory=list)
    contracts: dict[str, str] = field(default_factory=dict)  # root -> local symbol now held
    rolls: list[str] = field(default_factory=list)
    stop_reason: str = ""

    def lines(self) -> list[str]:
        """A short human summary."""
        held = ", ".join(f"{r} {s}" for r, s in sorted(self.contracts.items()))
        return [
            f"futures collector {self.started_at:%Y-%m-%d %H:%M:%S} -> "
            f"{self.stopped_at:%Y-%m-%d %H:%M:%S} UTC ({self.stop_reason or 'done'})",
            f"  contracts: {held}",
            f"  polls {self.polls}, flushes {self.flushes}, rows written {self.rows_written}",
            f"  reconnects {self.reconnects}, gaps recorded {len(self.gaps)}, rolls {len(self.rolls)}",
        ]
