"""A job in simulation records what its market answered (market_tape), unless told not to;
a tape that cannot be written never fails the job."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from tradelib.broker.sim import SimBroker
from tradelib.broker.sim_state import load_sim_broker, save_sim_broker
from tradelib.config import TradingConfig
from tradelib.domain import utc
from tradelib.errors import LakeError
from tradelib.jobs.context import run_once
from tradelib.jobs.entry import run_entry
from tradelib.lake import Lake
from tradelib.sim import SimMarketConfig, SimulatedMarket

START = utc(2026, 11, 24, 15)
DAY = date(2026, 11, 24)


def _cfg(root: Path, **overrides: object) -> TradingConfig:
    save_sim_broker(
        SimBroker(SimulatedMarket(SimMarketConfig(seed=7, start=START))), root / "sim.pkl"
    )
    return TradingConfig().with_overrides(
        {
            "storage.lake_uri": str(root / "lake"),
            "simulation.state_path": str(root / "sim.pkl"),
            "strategies.underlyings": ["SPY"],
            "strategies.dte_max": 35,
            **overrides,
        }
    )


class _NoTapeLake(Lake):
    """A lake that refuses the tape (a full disk, a revoked bucket policy...)."""

    def append(self, table: str, data: object, *, txn_id: str | None = None) -> int:
        if table == "market_tape":
            raise LakeError(table=table, problem="no space left on device")
        return super().append(table, data, txn_id=txn_id)  # type: ignore[arg-type]


def test_an_entry_job_records_every_answer_it_was_given_for_its_day(tmp_path: Path) -> None:
    report = run_once(run_entry, _cfg(tmp_path))
    assert report.entered
    tape = Lake(tmp_path / "lake").read("market_tape").collect()
    assert set(tape["day"]) == {DAY}
    assert {"option_chain", "expiries", "header"} <= set(tape["method"])
    assert tape["key"].is_unique().all()
    assert (tape["value"].bin.size() > 0).all()


def test_no_tape_when_recording_is_off(tmp_path: Path) -> None:
    run_once(run_entry, _cfg(tmp_path, **{"simulation.record_tape": False}))
    assert not Lake(tmp_path / "lake").exists("market_tape")
    assert Lake(tmp_path / "lake").exists("strategies")


def test_a_tape_that_cannot_be_written_is_logged_and_the_job_stands(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = _cfg(tmp_path)
    with caplog.at_level(logging.WARNING, logger="tradelib.jobs.context"):
        report = run_once(run_entry, cfg, lake=_NoTapeLake(tmp_path / "lake"))
    assert report.entered
    assert "market tape of 2026-11-24 not recorded" in caplog.text
    assert "no space left" in caplog.text
    # the job's orders are in the saved account and its rows in the lake
    broker = load_sim_broker(tmp_path / "sim.pkl")
    broker.connect()
    assert broker.positions() or broker.open_orders()
    assert not Lake(tmp_path / "lake").exists("market_tape")
    strategies = Lake(tmp_path / "lake").read("strategies").collect()
    assert strategies.filter(pl.col("status") == "open").height == len(report.entered)
