"""Fixtures: a simulated account and a fresh lake per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tradelib.broker.sim import SimBroker
from tradelib.lake import Lake

from .helpers import sim_broker


@pytest.fixture
def broker() -> Iterator[SimBroker]:
    b = sim_broker()
    yield b
    b.disconnect()


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")
