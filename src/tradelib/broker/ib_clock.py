"""The broker's clock as IBBroker estimates it from the server's whole-second answers."""

from __future__ import annotations

import math
from collections import deque

# A measured server rate this close to 1 is a real-time server (TWS): take it as exactly 1.
REAL_TIME_RATE_TOLERANCE = 0.05


class ServerClock:
    """The broker's clock, estimated from its whole-second currentTime answers.

    Samples are (server epoch seconds, local monotonic seconds). The rate
    (server seconds per local second) is measured over the newest samples
    spanning at least ``min_span`` server seconds within ``window`` local
    seconds, so whole-second truncation costs little; it is 1.0 until measured.
    """

    def __init__(
        self, *, window: float = 10.0, min_span: float = 10.0, snap_to_real_time: bool = False
    ) -> None:
        self._samples: deque[tuple[float, float]] = deque(maxlen=256)
        self._window = window
        self._min_span = min_span
        self._snap = snap_to_real_time
        self._declared = False
        self.rate = 1.0
        self._floor = -math.inf  # never go back in time

    def observe(self, server_s: float, mono: float) -> None:
        """Record that the server said ``server_s`` (truncated to the second) at ``mono``."""
        s = float(server_s) + 0.5  # centre the truncation error
        self._samples.append((s, mono))
        while self._samples and mono - self._samples[0][1] > self._window:
            self._samples.popleft()
        if self._declared:
            return
        for s0, m0 in self._samples:
            if s - s0 >= self._min_span and mono - m0 > 0:
                rate = max((s - s0) / (mono - m0), 0.0)
                if self._snap and abs(rate - 1.0) < REAL_TIME_RATE_TOLERANCE:
                    rate = 1.0  # whole-second truncation, not a server running off real time
                self.rate = rate
                break

    def declare_rate(self, rate: float, mono: float) -> None:
        """Take ``rate`` as known from ``mono`` on (a simulated server whose speed we set).

        The estimate at ``mono`` becomes the anchor, so time never jumps.
        """
        est = self.estimate(mono)
        if est is not None:
            self._samples.append((est, mono))
        self.rate = max(float(rate), 0.0)
        self._declared = True

    @property
    def declared(self) -> bool:
        """True once the rate was declared (a simulated server whose speed we set)."""
        return self._declared

    def estimate(self, mono: float, max_age: float = math.inf) -> float | None:
        """Server epoch seconds now (``mono``), never less than an earlier estimate.

        None when the newest sample is older than ``max_age``.
        """
        if not self._samples:
            return None
        s, m0 = self._samples[-1]
        if mono - m0 > max_age:
            return None
        value = max(s + (mono - m0) * self.rate, self._floor)
        self._floor = value
        return value

    def at(self, mono: float) -> float | None:
        """Server epoch seconds at a past or present ``mono`` (not clamped; None before any sample)."""
        if not self._samples:
            return None
        s, m0 = self._samples[-1]
        return s + (mono - m0) * self.rate

    def reset(self) -> None:
        """Forget every sample (the server may have changed); a declared rate is kept."""
        self._samples.clear()
        if not self._declared:
            self.rate = 1.0
        self._floor = -math.inf
