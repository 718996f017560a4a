"""`tradelib book check | summary` on a simulated account and its lake."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from tradelib.broker.sim import SimBroker
from tradelib.broker.sim_state import save_sim_broker
from tradelib.cli import app
from tradelib.domain import StrategyType
from tradelib.jobs.context import JobContext
from tradelib.jobs.sync import run_sync
from tradelib.lake import Lake
from tradelib.sim import SimMarketConfig, SimRegime, SimulatedMarket
from tradelib.stores.sync import SyncStore
from tradelib.sync import HeldLeg, StrategyRecord

from .helpers import START, by_hand, ours, put_spread

runner = CliRunner()


def _workspace(tmp_path: Path, *, by_us: bool = False) -> tuple[Path, Lake, SimBroker]:
    market = SimulatedMarket(SimMarketConfig(seed=11, start=START, forced_regime=SimRegime.CALM))
    broker = SimBroker(market, initial_cash=100_000.0)
    broker.connect()
    lake = Lake(tmp_path / "lake")
    if by_us:
        ours(broker, "pcs-1", put_spread(broker))  # our order ref, but no entry job: no prediction
    else:
        by_hand(broker, put_spread(broker))
    run_sync(JobContext.of(broker, lake))
    config = tmp_path / "config.yaml"
    state = tmp_path / "sim.pkl"
    config.write_text(
        yaml.safe_dump(
            {
                "storage": {"lake_uri": str(tmp_path / "lake")},
                "simulation": {"state_path": str(state), "initial_cash": 100_000.0},
            }
        )
    )
    return config, lake, broker


def test_a_whole_book_checks_clean_and_a_broken_one_names_the_strategy(tmp_path: Path) -> None:
    config, lake, broker = _workspace(tmp_path)
    save_sim_broker(broker, tmp_path / "sim.pkl")

    ok = runner.invoke(app, ["book", "check", "--config", str(config)])
    assert ok.exit_code == 0, ok.output
    assert "1 open strategies, 2 broker positions, 0 violation(s)" in ok.output

    # A second strategy claiming a leg the broker holds once: the sum no longer matches.
    (record,) = SyncStore(lake).open_strategies()
    leg = record.legs[0]
    ghost = StrategyRecord(
        "ghost", StrategyType.CUSTOM, "SPY", (HeldLeg(leg.contract, leg.quantity),), START, START
    )
    SyncStore(lake).save_strategies([ghost])
    bad = runner.invoke(app, ["book", "check", "--config", str(config)])
    assert bad.exit_code == 1
    assert "legs_sum" in bad.output and "ghost" in bad.output


def test_an_entry_of_ours_without_its_prediction_is_a_violation(tmp_path: Path) -> None:
    config, _, broker = _workspace(tmp_path, by_us=True)
    save_sim_broker(broker, tmp_path / "sim.pkl")
    out = runner.invoke(app, ["book", "check", "--config", str(config)])
    assert out.exit_code == 1
    assert "prediction [pcs-1]: entered without a stored prediction" in out.output


def test_the_summary_reads_the_run_from_the_lake(tmp_path: Path) -> None:
    config, _, _ = _workspace(tmp_path)
    out = runner.invoke(app, ["book", "summary", "--config", str(config)])
    assert out.exit_code == 0, out.output
    assert "entered 0, open now 0" in out.output  # a hand-opened spread is not one of ours
    assert "negative-edge entries: 0" in out.output
