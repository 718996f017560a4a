"""Backfilling simulated days straight from the market, in the collector's row shape."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tradelib.demo.futures import collect_simulated_days
from tradelib.domain import utc
from tradelib.lake import Lake
from tradelib.stores.futures import BARS_TABLE, LOCAL_SYMBOL, SYMBOL

from .conftest import market


def test_two_simulated_days_hold_every_second_of_futures_and_regular_hours_of_spot(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path / "lake")
    sim = market(utc(2026, 11, 24, 15))
    result = collect_simulated_days(sim, lake, 2, ["ES"])
    assert [str(d) for d in result.days] == ["2026-11-24", "2026-11-25"]
    stored = lake.read(BARS_TABLE).collect()
    counts = dict(stored.group_by(SYMBOL).len().iter_rows())
    # futures: previous close to close, less the daily 17:00-18:00 halt (23 h); SPY: 6.5 h
    assert counts == {"ES": 2 * 23 * 3600, "SPY": 2 * 23_400}
    assert stored.filter(pl.col(SYMBOL) == "ES").get_column(LOCAL_SYMBOL).unique().to_list() == [
        "ESZ6"
    ]
    assert sim.now() == utc(2026, 11, 25, 21)  # the market was advanced to the last close


def test_running_the_backfill_again_writes_nothing(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    collect_simulated_days(market(utc(2026, 11, 24, 15)), lake, 1, ["ES"])
    version = lake.version(BARS_TABLE)
    collect_simulated_days(market(utc(2026, 11, 24, 15)), lake, 1, ["ES"])
    assert lake.version(BARS_TABLE) == version
