"""`--clock wall`: the simulated market follows the wall clock and real exchange hours."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tradelib.gateway import build_gateway


def test_wall_clock_gateway_starts_now_at_real_pace() -> None:
    gw = build_gateway(port=0, wall_clock=True)
    lag = abs((datetime.now(UTC) - gw.broker.now()).total_seconds())
    assert lag < 5
    assert gw.speed == 1.0


def test_wall_clock_refuses_a_day_or_a_speed() -> None:
    with pytest.raises(ValueError, match="wall clock"):
        build_gateway(port=0, wall_clock=True, day=date(2026, 11, 24))
    with pytest.raises(ValueError, match="wall clock"):
        build_gateway(port=0, wall_clock=True, speed=60)
